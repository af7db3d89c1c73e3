// Package store keeps crier's items, the documents they came from and the
// state of sources in SQLite (modernc.org/sqlite, no cgo).
//
// SQLite allows one writer at a time, so the store holds two pools: a single
// writer connection, which serializes every write inside crier instead of
// failing with SQLITE_BUSY, and a pool of readers that WAL lets run beside it.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// ErrNotFound is returned when a requested row does not exist.
var ErrNotFound = errors.New("store: not found")

//go:embed migrations/*.sql
var migrations embed.FS

// timeLayout is fixed-width so that stored times sort as text.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func parseTime(s string) time.Time {
	t, _ := time.Parse(timeLayout, s)
	return t
}

// Store is crier's database.
type Store struct {
	w *sql.DB // the one writer connection
	r *sql.DB // readers

	// Now is the clock; tests replace it.
	Now func() time.Time

	gen atomic.Uint64 // the items counter as last seen

	stmts sync.Map // SQL text -> *sql.Stmt, prepared once per pool

	pendingMu sync.Mutex
	pending   map[string]bool // writer statements to prepare when the writer is free
}

// Generation is a number that moves whenever items change, in this process
// or (seen by Watch) in another one: caches of rendered feeds compare it
// instead of asking the database. Writes that change no item (a source's
// health, a delivery) leave it alone.
func (s *Store) Generation() uint64 { return s.gen.Load() }

// Watch notices items stored by other processes (a `crier fetch` beside a
// `crier serve`) and moves the generation, until ctx ends.
func (s *Store) Watch(ctx context.Context, every time.Duration) {
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
func (s *Store) bumpItems(ctx context.Context, tx *sql.Tx) (uint64, error) {
	var v uint64
	err := s.wstmt(ctx, tx, `UPDATE counters SET value = value + 1 WHERE name = 'items' RETURNING value`).QueryRowContext(ctx).Scan(&v)
	return v, err
}

type stmtKey struct {
	db *sql.DB
	q  string
}

// prepared returns the statement for query on db, prepared once.
func (s *Store) prepared(ctx context.Context, db *sql.DB, query string) (*sql.Stmt, error) {
	key := stmtKey{db, query}
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

// traceSQL, when set (by tests), sees the text of every query the store
// runs, so that a test can check each one's plan.
var traceSQL func(query string)

func traced(query string) string {
	if traceSQL != nil {
		traceSQL(query)
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
func (s *Store) wstmt(ctx context.Context, tx *sql.Tx, query string) stmt {
	traced(query)
	if st, ok := s.stmts.Load(stmtKey{s.w, query}); ok {
		return stmt{tx.StmtContext(ctx, st.(*sql.Stmt)), nil}
	}
	s.pendingMu.Lock()
	if s.pending == nil {
		s.pending = map[string]bool{}
	}
	s.pending[query] = true
	s.pendingMu.Unlock()
	st, err := tx.PrepareContext(ctx, query)
	return stmt{st, err}
}

// begin starts a write transaction, first preparing the statements that
// earlier transactions met for the first time.
func (s *Store) begin(ctx context.Context) (*sql.Tx, error) {
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

// dsn sets the pragmas in the DSN so that every pooled connection has them.
func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	// A page cache and memory map sized for a store of millions of items:
	// index pages stay in memory instead of being read again and again.
	q.Add("_pragma", "cache_size(-65536)") // 64 MiB per connection
	q.Add("_pragma", "mmap_size(1073741824)")
	q.Add("_pragma", "temp_store(MEMORY)")
	q.Set("_txlock", "immediate")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	}
	return "file:" + path + "?" + q.Encode()
}

// Open opens (creating if needed) the SQLite database at path and applies
// any migrations it lacks.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file::memory:") {
		return nil, fmt.Errorf("open database: %q is not a file; crier keeps its store in a file (its pools of connections could not share a memory database)", path)
	}
	// The store holds secrets (WebSub subscribers' hub.secret): readable by
	// its owner alone. SQLite gives its -wal and -shm files the same mode.
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	} else {
		f.Close()
	}
	w, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	s := &Store{w: w, Now: time.Now}
	if err := s.migrate(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	s.r = r
	// Fresh statistics let the planner pick the rare filter over the
	// common one; optimize only analyzes what changed much.
	if _, err := w.ExecContext(ctx, "PRAGMA optimize=0x10002"); err != nil {
		s.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	s.refreshGeneration(ctx)
	return s, nil
}

// Optimize refreshes the planner's statistics where they have drifted;
// crier calls it after large ingests.
func (s *Store) Optimize(ctx context.Context) error {
	_, err := s.w.ExecContext(ctx, "PRAGMA optimize")
	return err
}

// Close closes the database.
func (s *Store) Close() error {
	s.stmts.Range(func(_, v any) bool {
		v.(*sql.Stmt).Close()
		return true
	})
	return errors.Join(s.r.Close(), s.w.Close())
}

// migrate applies, in order and each in its own transaction, the embedded
// migrations whose number is above the database's user_version.
func (s *Store) migrate(ctx context.Context) error {
	var current int
	if err := s.w.QueryRowContext(ctx, "PRAGMA user_version").Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		n, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: name must start with its number", base)
		}
		if n <= current {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		if err := s.apply(ctx, n, string(body)); err != nil {
			return fmt.Errorf("migration %s: %w", base, err)
		}
		current = n
	}
	return nil
}

func (s *Store) apply(ctx context.Context, n int, body string) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, body); err != nil {
		return err
	}
	// PRAGMA takes no parameters; n is our own integer.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", n)); err != nil {
		return err
	}
	return tx.Commit()
}

// SchemaVersion returns the number of the last migration applied.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.r.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v)
	return v, err
}
