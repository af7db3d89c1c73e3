package metrics

import (
	"context"
	"time"

	"github.com/crier-hub/crier/internal/store"
)

// Store is the store as the metrics uses it; *store.Store is one, on either engine.
type Store interface {
	ItemCount(ctx context.Context) (int, error)
	OutboxDepth(ctx context.Context) (int, time.Time, error)
	Unsettled(ctx context.Context) (int, error)
	OwedBySubscriber(ctx context.Context) (map[string]store.Owed, error)
	SourceStates(ctx context.Context) (map[string]store.SourceState, error)
	Subscribers(ctx context.Context) (map[string]store.Subscriber, error)
	WALSize() (int64, bool)
	SearchBacklog(ctx context.Context) (int64, bool, error)
}
