package websub

import (
	"context"
	"time"

	"github.com/crier-hub/crier/internal/store"
)

// Store is the store as the WebSub hub and subscriber uses it; *store.Store is one, on either engine.
type Store interface {
	Clock() time.Time
	Fire(ctx context.Context, id string, q store.Query, build func([]store.Item) ([]store.Batch, error)) (int, error)
	Generation() uint64
	PushSubscription(ctx context.Context, sourceID string) (p store.Push, ok bool, err error)
	SavePush(ctx context.Context, p store.Push) error
	SubscribeWebSub(ctx context.Context, w store.WebSub) error
	UnsubscribeWebSub(ctx context.Context, id string) error
	WebSubByID(ctx context.Context, id string) (store.WebSub, error)
	WebSubs(ctx context.Context) ([]store.WebSub, error)
}
