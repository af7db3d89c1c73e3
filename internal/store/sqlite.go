package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// sqliteDSN sets the pragmas in the DSN so that every pooled connection
// has them.
func sqliteDSN(path string, readOnly bool) string {
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
	// ANALYZE (through PRAGMA optimize) samples each index instead of
	// reading it whole: opening a store of millions of items stays quick.
	q.Add("_pragma", "analysis_limit(1000)")
	q.Set("_txlock", "immediate")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	}
	return "file:" + path + "?" + q.Encode()
}

// openSQLite opens (creating if needed) the SQLite database at path.
func openSQLite(ctx context.Context, path string) (*Store, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("open database: %q is not a file; crier keeps its store in a file (its pools of connections could not share a memory database)", path)
	}
	// The store holds secrets (WebSub subscribers' hub.secret): readable by
	// its owner alone. SQLite gives its -wal and -shm files the same mode.
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	} else {
		f.Close()
	}
	w, err := sql.Open("sqlite", sqliteDSN(path, false))
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	s := &Store{w: pool{DB: w}, Now: time.Now}
	all, err := migrationsOf("sqlite")
	if err != nil {
		w.Close()
		return nil, err
	}
	if err := s.migrateSQLite(ctx, all); err != nil {
		w.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", sqliteDSN(path, true))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	s.r = pool{DB: r}
	// Fresh statistics let the planner pick the rare filter over the
	// common one; optimize only analyzes what changed much.
	if _, err := w.ExecContext(ctx, "PRAGMA optimize=0x10002"); err != nil {
		s.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	s.refreshGeneration(ctx)
	return s, nil
}

// migrate applies migrations the store lacks, with the engine's own
// bookkeeping.
func (s *Store) migrate(ctx context.Context, all []migration) error {
	if s.pg {
		return s.migratePostgres(ctx, all)
	}
	return s.migrateSQLite(ctx, all)
}

// migrateSQLite applies, in order and each in its own transaction, the
// embedded migrations whose number is above the database's user_version.
// The writer is one connection and takes its lock at begin, so two
// processes starting at once apply each migration once.
func (s *Store) migrateSQLite(ctx context.Context, all []migration) error {
	for _, m := range all {
		tx, err := s.begin(ctx)
		if err != nil {
			return err
		}
		var current int
		if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&current); err != nil {
			tx.Rollback()
			return fmt.Errorf("read schema version: %w", err)
		}
		if m.n <= current {
			tx.Rollback()
			continue
		}
		if _, err := tx.ExecContext(ctx, m.body); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		// PRAGMA takes no parameters; n is our own integer.
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.n)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	return nil
}

// Optimize refreshes the planner's statistics where they have drifted;
// crier calls it after large ingests. PostgreSQL's autovacuum does this
// by itself.
func (s *Store) Optimize(ctx context.Context) error {
	if s.pg {
		return nil
	}
	_, err := s.w.ExecContext(ctx, "PRAGMA optimize")
	return err
}

// SchemaVersion returns the number of the last migration applied.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	q := "PRAGMA user_version"
	if s.pg {
		q = "SELECT coalesce(max(version), 0) FROM schema_migrations"
	}
	err := s.r.QueryRowContext(ctx, q).Scan(&v)
	return v, err
}
