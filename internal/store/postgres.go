package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// migrationLock is the advisory lock under which migrations run, so that
// replicas starting at once apply each migration once.
const migrationLock = 7_265_817_001

// itemsLock serializes the transactions that store items: item ids are
// then committed in the order they are given, which the outbox's cursors
// and the feeds' archive pages rely on (an id committed after a larger
// one would be skipped).
const itemsLock = 7_265_817_002

// openPostgres opens the PostgreSQL database at dsn (a postgres:// URL).
func openPostgres(ctx context.Context, dsn string) (*Store, error) {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, fmt.Errorf("open database: storage.dsn must be a postgres:// URL")
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", redact(u), err)
	}
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	p := pool{DB: db, pg: true}
	s := &Store{w: p, r: p, pg: true, Now: time.Now, dsn: dsn}
	all, err := migrationsOf("postgres")
	if err != nil {
		db.Close()
		return nil, err
	}
	if err := s.migratePostgres(ctx, all); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", redact(u), err)
	}
	s.refreshGeneration(ctx)
	return s, nil
}

// redact drops the password from a URL, for messages.
func redact(u *url.URL) string {
	c := *u
	if c.User != nil {
		c.User = url.User(c.User.Username())
	}
	return c.String()
}

// migratePostgres applies the embedded migrations the database lacks, each
// in its own transaction, holding an advisory lock throughout.
func (s *Store) migratePostgres(ctx context.Context, all []migration) error {
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrationLock); err != nil {
		return fmt.Errorf("take the migration lock: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLock)
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied TEXT NOT NULL)`); err != nil {
		return err
	}
	var current int
	if err := conn.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	for _, m := range all {
		if m.n <= current {
			continue
		}
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, m.body); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, applied) VALUES ($1, $2)", m.n, formatTime(time.Now())); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	return nil
}

// lockItems, in a transaction that will store items, waits for the other
// processes' such transactions (PostgreSQL); SQLite's single writer
// serializes them already.
func (s *Store) lockItems(ctx context.Context, tx *txn) error {
	if !s.pg {
		return nil
	}
	_, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?)", int64(itemsLock))
	return err
}

// skipLocked is the locking clause of a claim: on PostgreSQL, rows another
// process is claiming are passed over rather than waited for; SQLite's
// single writer needs none.
func (s *Store) skipLocked(table string) string {
	if !s.pg {
		return ""
	}
	return "FOR UPDATE OF " + table + " SKIP LOCKED"
}

// itemsChannel is where a process that stores items tells the others.
const itemsChannel = "crier_items"

// notifyItems, in a transaction that changed items, tells the other
// processes at commit (PostgreSQL); SQLite's other processes see the
// counter at their next check.
func (s *Store) notifyItems(ctx context.Context, tx *txn, gen uint64) error {
	if !s.pg {
		return nil
	}
	_, err := tx.ExecContext(ctx, "SELECT pg_notify(?, ?)", itemsChannel, strconv.FormatUint(gen, 10))
	return err
}

// listen reads the item counter whenever another process says it stored
// items, until ctx ends or the connection fails (Watch's periodic check
// goes on regardless).
func (s *Store) listen(ctx context.Context) {
	for ctx.Err() == nil {
		conn, err := pgx.Connect(ctx, s.dsn)
		if err != nil {
			sleep(ctx, 5*time.Second)
			continue
		}
		if _, err := conn.Exec(ctx, "LISTEN "+itemsChannel); err == nil {
			for {
				if _, err := conn.WaitForNotification(ctx); err != nil {
					break
				}
				s.refreshGeneration(ctx)
			}
		}
		conn.Close(context.WithoutCancel(ctx))
		sleep(ctx, time.Second)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
