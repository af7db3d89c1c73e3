// Package store keeps crier's items, the documents they came from, the
// state of sources and the webhook outbox, in one of two engines: SQLite
// (modernc.org/sqlite, no cgo; the embedded default) or PostgreSQL
// (github.com/jackc/pgx/v5), which any number of crier processes may share.
//
// The rules (what is a duplicate, what is owed, in what order) are written
// once, in SQL both engines run; what differs between them (schema and
// migrations, connection pools, the claim of a delivery across processes,
// how ids stay in commit order) lives in sqlite.go and postgres.go. The
// whole test suite runs against both (see engines_test.go).
//
// With SQLite the store holds two pools: a single writer connection, which
// serializes every write inside crier instead of failing with SQLITE_BUSY,
// and a pool of readers that WAL lets run beside it. With PostgreSQL both
// are one pool.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// ErrNotFound is returned when a requested row does not exist.
var ErrNotFound = errors.New("store: not found")

// timeLayout is fixed-width so that stored times sort as text.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func parseTime(s string) time.Time {
	if t, ok := parseLayout(s); ok {
		return t
	}
	t, _ := time.Parse(timeLayout, s)
	return t
}

// parseLayout reads a time in timeLayout by hand, as the outbox reads
// several for every delivery it claims; ok is false for anything else
// (left to time.Parse), a date out of range included.
func parseLayout(s string) (time.Time, bool) {
	if len(s) != len(timeLayout) || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != '.' || s[29] != 'Z' {
		return time.Time{}, false
	}
	num := func(from, to int) (int, bool) {
		n := 0
		for i := from; i < to; i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	var v [7]int
	for i, f := range [7][2]int{{0, 4}, {5, 7}, {8, 10}, {11, 13}, {14, 16}, {17, 19}, {20, 29}} {
		n, ok := num(f[0], f[1])
		if !ok {
			return time.Time{}, false
		}
		v[i] = n
	}
	t := time.Date(v[0], time.Month(v[1]), v[2], v[3], v[4], v[5], v[6], time.UTC)
	// time.Date normalizes (February 30 becomes March 2); time.Parse
	// refuses such a date, and so does this.
	if t.Month() != time.Month(v[1]) || t.Day() != v[2] || v[3] > 23 || v[4] > 59 || v[5] > 59 {
		return time.Time{}, false
	}
	return t, true
}

// Store is crier's database.
type Store struct {
	w   pool   // writes (SQLite: the one writer connection)
	r   pool   // reads
	pg  bool   // the engine is PostgreSQL
	dsn string // PostgreSQL: for the LISTEN connection

	// Now is the clock; tests replace it.
	Now func() time.Time

	gen atomic.Uint64 // the items counter as last seen

	stmts sync.Map // SQL text -> *sql.Stmt, prepared once per pool

	// Work the store does in the background (SQLite's checkpoints, merges
	// of near-duplicate keys) ends with closing, which Close cancels, and
	// is waited for.
	closing     context.Context
	stop        context.CancelFunc
	background  sync.WaitGroup
	mergeMu     sync.Mutex  // one merger at a time in a process (startMerges)
	bandsWanted atomic.Bool // the near-duplicate keys' merge is due
	merges      mergeStats
	mergeSize   int // the size of a merge's next chunk, kept for the next merge (under mergeMu)
	// The search index (SQLite: a file of its own, searchindex.go): its
	// writer, one indexer at a time in a process, the indexer's wake-up,
	// and the last log entry it applied.
	search        *sql.DB
	searchMu      sync.Mutex
	searchWake    chan struct{}
	searchSettle  chan chan struct{} // searchSettled's requests
	searchLoopMu  sync.Mutex         // held by a pass of the indexer (the tests hold it to hold it off)
	searchApplied atomic.Int64
	searchWaiters atomic.Int32 // searches waiting for the indexer: it does not yield then
	makeMu        sync.Mutex   // Making's count of runs making releases,
	makers        int          // and a channel closed when it falls to 0
	made          chan struct{}
	searchSize    int          // the pages of a search merge's next chunk (under searchMu)
	fresh         freshTexts   // the text of items this process just inserted, for the indexer
	indexed       mergeStats   // the index's transactions that applied the log or rebuilt it
	searched      mergeStats   // the merges of the search index
	waiting       waitingKeys  // the near-duplicate keys not yet merged
	writing       atomic.Int32 // write transactions open or waiting, a merge's aside
	lastWrite     atomic.Int64 // when the last of them ended (Unix ns)
	// checkpointNow asks SQLite's checkpointer for a checkpoint at once
	// (nil on PostgreSQL).
	checkpointNow chan chan struct{}
	path          string // SQLite's database file; "" on PostgreSQL

	bandFilter  atomic.Pointer[bandFilter] // nil until Warm builds it
	wantsFilter atomic.Bool                // Warm built one: merges keep it sized
	docFilter   atomic.Pointer[docFilter]  // nil until Warm builds it
	docRebuild  atomic.Int64               // when startDocFilter last started a build (Unix ns)
	docBuilding atomic.Bool                // startDocFilter's build is running

	pendingMu sync.Mutex
	pending   map[string]bool // writer statements to prepare when the writer is free

	shared sharedParts // shared parts of bodies stored or read, by hash
	// claimer names this process's claims on subscribers: a sender ends,
	// renews and gives back only its own.
	claimer string
}

// Generation is a number that moves whenever items change, in this process
// or (seen by Watch) in another one: caches of rendered feeds compare it
// instead of asking the database. Writes that change no item (a source's
// health, a delivery) leave it alone.
func (s *Store) Generation() uint64 { return s.gen.Load() }

// Watch notices items stored by other processes (a `crier fetch` beside a
// `crier serve`, other replicas) and moves the generation, until ctx ends:
// at once on PostgreSQL (LISTEN/NOTIFY), and every few seconds on both
// engines, the fallback.
func (s *Store) Watch(ctx context.Context, every time.Duration) {
	if s.pg {
		go s.listen(ctx)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		s.refreshGeneration(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// refreshGeneration reads the items counter.
func (s *Store) refreshGeneration(ctx context.Context) {
	var v uint64
	if err := s.rstmt(ctx, `SELECT value FROM counters WHERE name = 'items'`).QueryRowContext(ctx).Scan(&v); err == nil {
		s.setGeneration(v)
	}
}

// setGeneration moves the generation forward to v; it never goes back.
func (s *Store) setGeneration(v uint64) {
	for {
		old := s.gen.Load()
		if v <= old || s.gen.CompareAndSwap(old, v) {
			return
		}
	}
}

// bumpItems moves the items counter inside a write transaction and
// returns its new value, for setGeneration once the transaction commits.
func (s *Store) bumpItems(ctx context.Context, tx *txn) (uint64, error) {
	var v uint64
	err := s.wstmt(ctx, tx, `UPDATE counters SET value = value + 1 WHERE name = 'items' RETURNING value`).QueryRowContext(ctx).Scan(&v)
	return v, err
}

type stmtKey struct {
	db *sql.DB
	q  string
}

// prepared returns the statement for query on db, prepared once.
func (s *Store) prepared(ctx context.Context, db pool, query string) (*sql.Stmt, error) {
	key := stmtKey{db.DB, query}
	if st, ok := s.stmts.Load(key); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if old, loaded := s.stmts.LoadOrStore(key, st); loaded {
		st.Close()
		return old.(*sql.Stmt), nil
	}
	return st, nil
}

// stmt is a prepared statement, or the error preparing it, ready to run.
type stmt struct {
	st  *sql.Stmt
	err error
}

func (p stmt) ExecContext(ctx context.Context, args ...any) (sql.Result, error) {
	if p.err != nil {
		return nil, p.err
	}
	return p.st.ExecContext(ctx, args...)
}

func (p stmt) QueryContext(ctx context.Context, args ...any) (*sql.Rows, error) {
	if p.err != nil {
		return nil, p.err
	}
	return p.st.QueryContext(ctx, args...)
}

// row is a *sql.Row-like result that carries a preparation error.
type row struct {
	r   *sql.Row
	err error
}

func (r row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	return r.r.Scan(dest...)
}

func (p stmt) QueryRowContext(ctx context.Context, args ...any) row {
	if p.err != nil {
		return row{err: p.err}
	}
	return row{r: p.st.QueryRowContext(ctx, args...)}
}

// traceHook, when set (by tests, setTraceSQL), sees the text of every
// query the store runs, so that a test can check each one's plan. It is
// read by the store's background merger too, hence atomic.
var traceHook atomic.Pointer[func(query string)]

// setTraceSQL sets the hook that sees every query, or clears it (nil).
func setTraceSQL(f func(query string)) {
	if f == nil {
		traceHook.Store(nil)
		return
	}
	traceHook.Store(&f)
}

func traced(query string) string {
	if f := traceHook.Load(); f != nil {
		(*f)(query)
	}
	return query
}

// rstmt is query prepared on the readers.
func (s *Store) rstmt(ctx context.Context, query string) stmt {
	traced(query)
	st, err := s.prepared(ctx, s.r, query)
	return stmt{st, err}
}

// wstmt is query prepared on the writer, bound to tx. The writer has one
// connection, which tx holds, so a statement seen for the first time is
// prepared on tx alone and then, at the next begin, once for good.
func (s *Store) wstmt(ctx context.Context, tx *txn, query string) stmt {
	traced(query)
	if st, ok := tx.stmts[query]; ok {
		return stmt{st, nil}
	}
	if tx.stmts == nil {
		tx.stmts = map[string]*sql.Stmt{}
	}
	if st, ok := s.stmts.Load(stmtKey{s.w.DB, query}); ok {
		// Bound to tx once, however often tx runs it: each binding is a
		// statement database/sql makes and closes (a release stored ran
		// five, 1.1 µs each).
		bound := tx.StmtContext(ctx, st.(*sql.Stmt))
		tx.stmts[query] = bound
		return stmt{bound, nil}
	}
	s.pendingMu.Lock()
	if s.pending == nil {
		s.pending = map[string]bool{}
	}
	s.pending[query] = true
	s.pendingMu.Unlock()
	st, err := tx.PrepareContext(ctx, query)
	if err == nil {
		tx.stmts[query] = st // prepared once however often tx runs it
	}
	return stmt{st, err}
}

// begin starts a write transaction, first preparing the statements that
// earlier transactions met for the first time.
func (s *Store) begin(ctx context.Context) (*txn, error) {
	// Writers that hold the writer or wait for it, and when the last one
	// let it go: a merge of near-duplicate keys gives way to them.
	s.writing.Add(1)
	tx, err := s.beginMerge(ctx)
	if err != nil {
		s.writerDone()
		return nil, err
	}
	tx.onEnd = s.writerDone
	return tx, nil
}

// WillWrite says that a source's run has documents to store and will
// take the writer as soon as they are made: until done is called, the
// merges give way to it (giveWay) as to a writer that holds or waits for
// the writer, so that a chunk begun while the run parses its documents
// is not in front of the run's transaction. A merge still waits
// mergeYield at most before each chunk.
func (s *Store) WillWrite() (done func()) {
	s.writing.Add(1)
	var once sync.Once
	return func() { once.Do(s.writerDone) }
}

// Making says that a source's run is making releases on every core
// (parsing and normalizing them) until done is called: the search
// indexer pauses between its statements meanwhile (yieldToRuns), so that
// it takes the cores a run leaves idle (its fetch, the end of its store,
// its record) rather than the run's.
func (s *Store) Making() (done func()) {
	s.makeMu.Lock()
	if s.makers++; s.makers == 1 {
		s.made = make(chan struct{})
	}
	s.makeMu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.makeMu.Lock()
			if s.makers--; s.makers == 0 {
				close(s.made)
			}
			s.makeMu.Unlock()
		})
	}
}

// idleFor is how long after the last write the store counts as idle for
// SQLite's checkpointer, which may then empty a WAL grown large.
var idleFor = time.Second

// idle says that no write transaction is open, waiting or announced, and
// none ended in the last idleFor.
func (s *Store) idle() bool {
	return s.writing.Load() == 0 && time.Since(time.Unix(0, s.lastWrite.Load())) >= idleFor
}

// writerDone counts a writer's transaction over.
func (s *Store) writerDone() {
	s.lastWrite.Store(time.Now().UnixNano())
	s.writing.Add(-1)
}

// beginMerge is begin without counting the transaction among the
// writers a merge gives way to: the merge's own.
func (s *Store) beginMerge(ctx context.Context) (*txn, error) {
	s.pendingMu.Lock()
	queries := s.pending
	s.pending = nil
	s.pendingMu.Unlock()
	for q := range queries {
		if _, err := s.prepared(ctx, s.w, q); err != nil {
			return nil, err
		}
	}
	return s.w.BeginTx(ctx, nil)
}

// Open opens (creating if needed) the store of the given driver ("sqlite",
// with dsn a file path; "postgres", with dsn a postgres:// URL) and applies
// any migrations it lacks.
func Open(ctx context.Context, driver, dsn string) (*Store, error) {
	switch driver {
	case "", "sqlite":
		return openSQLite(ctx, dsn)
	case "postgres":
		return openPostgres(ctx, dsn)
	}
	return nil, fmt.Errorf("unknown storage driver %q: use sqlite or postgres", driver)
}

// Engine names the store's engine: "sqlite" or "postgres".
func (s *Store) Engine() string {
	if s.pg {
		return "postgres"
	}
	return "sqlite"
}

// Ping reports whether the database answers: /readyz.
func (s *Store) Ping(ctx context.Context) error { return s.r.PingContext(ctx) }

// Close closes the database.
func (s *Store) Close() error {
	s.stopWork()
	if s.pg {
		return s.w.Close()
	}
	return errors.Join(s.r.Close(), s.search.Close(), s.w.Close())
}

// CloseForExit is Close for a process that exits as soon as it returns
// (crier fetch and push). On SQLite it copies the WAL into the database
// file and empties it, as the last connection's close would, and closes
// the readers, but leaves the writer's connection to the exit: closing
// it gives its page cache back to the system a block at a time (60 of
// the 140 ms that closing took after a push of 40,000 deliveries),
// which the exit does at once. When another process has the database
// open (the WAL cannot be emptied at once), or on PostgreSQL, it is
// Close.
func (s *Store) CloseForExit() error {
	if s.pg {
		return s.Close()
	}
	s.stopWork()
	if err := errors.Join(s.r.Close(), s.search.Close()); err != nil {
		return errors.Join(err, s.w.Close())
	}
	// No waiting on another process's readers: it keeps the WAL then.
	var busy, frames, copied int
	if _, err := s.w.Exec("PRAGMA busy_timeout = 0"); err != nil {
		return errors.Join(err, s.w.Close())
	}
	err := s.w.QueryRow("PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &frames, &copied)
	if err != nil || busy != 0 {
		return errors.Join(err, s.w.Close())
	}
	return nil
}

// stopWork ends the store's background work and closes its prepared
// statements: what both closes do before their connections.
func (s *Store) stopWork() {
	s.stop()
	s.background.Wait()
	s.stmts.Range(func(_, v any) bool {
		v.(*sql.Stmt).Close()
		return true
	})
}

// Clock is the store's clock (Now), for the packages that use the store
// through an interface.
func (s *Store) Clock() time.Time { return s.Now() }
