package publish

import (
	"context"
	"time"

	"github.com/crier-hub/crier/internal/store"
)

// Store is the store as the feed server uses it; *store.Store is one, on either engine.
type Store interface {
	Clock() time.Time
	Generation() uint64
	Item(ctx context.Context, uid string) (store.Item, error)
	ItemFacets(ctx context.Context) (store.Facets, error)
	Items(ctx context.Context, q store.Query) ([]store.Item, error)
	Ping(ctx context.Context) error
	RetractedSince(ctx context.Context, since time.Time) (string, error)
	Tombstones(ctx context.Context, q store.Query, since time.Time) ([]store.Item, error)
	Version(ctx context.Context, q store.Query) (string, error)
}
