package admin

import (
	"context"

	"github.com/crier-hub/crier/internal/store"
)

// Store is the store as the admin API and dashboard uses it; *store.Store is one, on either engine.
type Store interface {
	Attempts(ctx context.Context, deliveryID int64) ([]store.Attempt, error)
	DeleteManaged(ctx context.Context, kind, id string) error
	Deliveries(ctx context.Context, subscriberID string, limit int) ([]store.Delivery, error)
	Items(ctx context.Context, q store.Query) ([]store.Item, error)
	ItemsPerDay(ctx context.Context, sourceID string, days int) ([]store.DayCount, error)
	OwedBySubscriber(ctx context.Context) (map[string]store.Owed, error)
	PushSubscription(ctx context.Context, sourceID string) (p store.Push, ok bool, err error)
	PutManaged(ctx context.Context, m store.Managed, create bool) error
	Replay(ctx context.Context, webhookID string) error
	Retract(ctx context.Context, uid string) (store.Item, error)
	RetryNow(ctx context.Context, subscriberID string) (int, error)
	SetPaused(ctx context.Context, id string, paused bool) error
	SourceStates(ctx context.Context) (map[string]store.SourceState, error)
	Subscribers(ctx context.Context) (map[string]store.Subscriber, error)
	UIDOf(ctx context.Context, id string) (string, error)
	WebSubs(ctx context.Context) ([]store.WebSub, error)
}
