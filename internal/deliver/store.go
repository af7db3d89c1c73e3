package deliver

import (
	"context"
	"time"

	"github.com/crier-hub/crier/internal/store"
)

// Store is the store as the webhook sender uses it; *store.Store is one, on either engine.
type Store interface {
	AddSubscribers(ctx context.Context, subs []store.NewSubscriber) error
	Record(ctx context.Context, r store.Record) (store.Recorded, error)
	Settle(ctx context.Context) (int, error)
	FireMany(ctx context.Context, ids []string, q store.Query, build func(id string) store.Builder, fired func(id string, n int)) (map[string]int, error)
	NextDue(ctx context.Context, subscribers []string) (time.Time, bool, error)
	WebSubByID(ctx context.Context, id string) (store.WebSub, error)
	UnsubscribeWebSub(ctx context.Context, id string) error
}
