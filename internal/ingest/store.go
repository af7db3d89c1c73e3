package ingest

import (
	"context"
	"time"

	"github.com/crier-hub/crier/internal/store"
)

// Store is the store as the pipeline from sources uses it; *store.Store is one, on either engine.
type Store interface {
	BeginSave(ctx context.Context) (*store.SaveBatch, error)
	ClaimRun(ctx context.Context, id, holder string, lease, gap time.Duration) (bool, error)
	DocumentHashes(ctx context.Context, sourceID string, keys []string) (map[string]string, error)
	DocumentKeys(ctx context.Context, sourceID string) ([]string, error)
	Optimize(ctx context.Context) error
	PushSubscription(ctx context.Context, sourceID string) (p store.Push, ok bool, err error)
	RecentDocuments(ctx context.Context, sourceID string, limit int) ([]store.StoredDocument, error)
	RecordRun(ctx context.Context, id string, r store.Run) error
	RenewRun(ctx context.Context, id, holder string, lease time.Duration) (bool, error)
	RemoveDocuments(ctx context.Context, sourceID string, keys []string) (int, error)
	SourceState(ctx context.Context, id string) (store.SourceState, error)
	WillWrite() (done func())
	Making() (done func())
}
