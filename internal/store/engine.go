package store

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/crier-hub/crier/internal/minhash"
	"github.com/crier-hub/crier/internal/store/postgres"
	"github.com/crier-hub/crier/internal/store/sqlite"
)

// This file joins the store's shared queries to the engine packages, which
// hold what SQLite and PostgreSQL do differently.

// openSQLite opens (creating if needed) the SQLite database at path.
func openSQLite(ctx context.Context, path string) (*Store, error) {
	w, r, search, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	s := &Store{w: pool{DB: w}, r: pool{DB: r}, search: search, searchWake: make(chan struct{}, 1), searchSettle: make(chan chan struct{}), Now: time.Now, claimer: newClaimer(), checkpointNow: make(chan chan struct{}), path: path}
	s.closing, s.stop = context.WithCancel(context.Background())
	s.background.Add(2)
	go func() {
		defer s.background.Done()
		sqlite.Checkpoints(s.closing, path, w, time.Second, s.checkpointNow, s.idle)
	}()
	// A search index to make again starts over now, in one transaction
	// (a new store's is then whole: it has no items to index); the
	// indexer goes on with the items of a store that has some.
	s.searchMu.Lock()
	s.applySearch(ctx, math.MaxInt32)
	s.searchMu.Unlock()
	go s.searchLoop()
	s.refreshGeneration(ctx)
	return s, nil
}

// WALSize is the size in bytes of SQLite's write-ahead log, and false on
// PostgreSQL, whose own log is the server's.
func (s *Store) WALSize() (int64, bool) {
	if s.path == "" { // PostgreSQL
		return 0, false
	}
	return sqlite.WALSize(s.path), true
}

// checkpoint copies the WAL back into the database file now, on the
// checkpointer's connection (SQLite; nothing on PostgreSQL), and returns
// when it is done, ctx ends or the store closes. Writers go on meanwhile.
func (s *Store) checkpoint(ctx context.Context) {
	if s.checkpointNow == nil {
		return
	}
	done := make(chan struct{})
	select {
	case s.checkpointNow <- done:
	case <-ctx.Done():
		return
	case <-s.closing.Done(): // the checkpointer is gone
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// openPostgres opens the PostgreSQL database at dsn (a postgres:// URL).
func openPostgres(ctx context.Context, dsn string) (*Store, error) {
	db, err := postgres.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	p := pool{DB: db, pg: true}
	s := &Store{w: p, r: p, pg: true, Now: time.Now, dsn: dsn, claimer: newClaimer()}
	s.closing, s.stop = context.WithCancel(context.Background())
	s.refreshGeneration(ctx)
	return s, nil
}

// Optimize refreshes the planner's statistics where they have drifted;
// crier calls it after large ingests. PostgreSQL's autovacuum does this
// by itself.
func (s *Store) Optimize(ctx context.Context) error {
	if s.pg {
		return nil
	}
	return sqlite.Optimize(ctx, s.w.DB)
}

// SchemaVersion returns the number of the last migration applied.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	q := sqlite.SchemaVersion
	if s.pg {
		q = postgres.SchemaVersion
	}
	var v int
	err := s.r.QueryRowContext(ctx, q).Scan(&v)
	return v, err
}

// lockItems, in a transaction that will store items, waits for the other
// processes' such transactions (PostgreSQL); SQLite's single writer
// serializes them already.
func (s *Store) lockItems(ctx context.Context, tx *txn) error {
	if !s.pg {
		return nil
	}
	return postgres.LockItems(ctx, tx.Tx)
}

// skipLocked is the locking clause of a claim: on PostgreSQL, rows another
// process is claiming are passed over rather than waited for; SQLite's
// single writer needs none.
func (s *Store) skipLocked(tables ...string) string {
	if !s.pg {
		return ""
	}
	return postgres.SkipLocked(tables...)
}

// notifyItems, in a transaction that changed items, tells the other
// processes at commit (PostgreSQL); SQLite's other processes see the
// counter at their next check.
func (s *Store) notifyItems(ctx context.Context, tx *txn, gen uint64) error {
	if !s.pg {
		return nil
	}
	return postgres.NotifyItems(ctx, tx.Tx, gen)
}

// listen reads the item counter whenever another process says it stored
// items, until ctx ends (Watch's periodic check goes on regardless).
func (s *Store) listen(ctx context.Context) {
	postgres.Listen(ctx, s.dsn, func() { s.refreshGeneration(ctx) })
}

// Warm sizes the writer's page cache for the store (SQLite) and reads
// into it the indexes that storing a release looks up and inserts into
// at random places (near-duplicate bands, uids, fingerprints, document
// keys), so that storing releases into a large store finds them in
// memory instead of reading them from disk one page at a time. It reads
// one part at a time, so writes wait for one part at most; crier serve
// calls it once at start, in the background. PostgreSQL's buffers are
// the server's affair.
//
// With SQLite the near-duplicate filter is built first: the connections'
// page caches share one least-recently-used list, so the reader that
// scans every band key to build it takes its pages from the writer's
// cache, and its PRAGMA shrink_memory empties what is left of it. Warmed
// before the filter, the writer found every index cold again at its first
// run (a million items: 1,711 reads to count the waiting keys' table,
// since gone, again after the filter, 2 before). The waiting keys are
// read from their items' signatures before either.
func (s *Store) Warm(ctx context.Context) error {
	s.wakeSearch() // the search index may need making again
	s.wantsFilter.Store(true)
	if _, err := s.catchUpWaiting(ctx); err != nil {
		return fmt.Errorf("warm the near-duplicate keys: %w", err)
	}
	if err := s.buildDocFilter(ctx); err != nil {
		return err
	}
	if err := s.buildBandFilter(ctx); err != nil || s.pg {
		return err
	}
	if err := s.sizeWriterCache(ctx); err != nil {
		return fmt.Errorf("warm the store's lookup indexes: %w", err)
	}
	var parts []string
	for b := 0; b < minhash.Bands; b++ {
		parts = append(parts, fmt.Sprintf(`SELECT count(*) FROM item_bands WHERE band = %d`, b))
	}
	parts = append(parts,
		`SELECT count(*) FROM items INDEXED BY sqlite_autoindex_items_1 WHERE uid >= ''`,
		`SELECT count(*) FROM items INDEXED BY items_fingerprint WHERE fingerprint >= ''`,
		`SELECT count(*) FROM documents INDEXED BY sqlite_autoindex_documents_1 WHERE source_id >= ''`)
	for _, q := range parts {
		var n int64
		if err := s.w.QueryRowContext(ctx, q).Scan(&n); err != nil {
			return fmt.Errorf("warm the store's lookup indexes: %w", err)
		}
	}
	return nil
}

// DeliverOnly readies the store for a process that only fires and sends
// deliveries (crier push). SQLite's writer keeps a page cache sized for
// storing releases, whose lookups land all over large indexes; the
// outbox's writes go at the end of its tables, and a sender reads back
// rows just written, which a cache of deliverCache holds. Every page a
// cache takes is memory the process touches for the first time: a push
// of 40,000 deliveries faulted in 8,700 pages fewer (29,000 against
// 20,300) and took 3% less CPU.
func (s *Store) DeliverOnly(ctx context.Context) error {
	if s.pg {
		return nil
	}
	return sqlite.SetWriterCache(ctx, s.w.DB, deliverCache)
}

// deliverCache is the writer's page cache in KiB under DeliverOnly.
const deliverCache = 4 << 10

// sizeWriterCache sizes SQLite's writer page cache for the items stored
// now: at Warm, and after each merge of near-duplicate keys, as the store
// grows.
func (s *Store) sizeWriterCache(ctx context.Context) error {
	if s.pg {
		return nil
	}
	items, err := s.ItemCount(ctx)
	if err != nil {
		return err
	}
	return sqlite.SizeWriterCache(ctx, s.w.DB, int64(items))
}
