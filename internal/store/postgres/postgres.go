// Package postgres is what the store needs of PostgreSQL (pgx through
// database/sql) that SQLite does differently: the pool, migrations under
// an advisory lock, the lock that keeps item ids in commit order, claims
// that pass over rows another process holds, and LISTEN/NOTIFY between
// replicas. The store's queries are shared by both engines and live in
// package store.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/crier-hub/crier/internal/store/schema"
	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations lists PostgreSQL's embedded migrations in order.
func Migrations() ([]schema.Migration, error) { return schema.Load(migrationFiles, "migrations") }

// SchemaVersion is the query that reads the number of the last migration.
const SchemaVersion = "SELECT coalesce(max(version), 0) FROM schema_migrations"

// migrationLock is the advisory lock under which migrations run, so that
// replicas starting at once apply each migration once.
const migrationLock = 7_265_817_001

// itemsLock serializes the transactions that store items: item ids are
// then committed in the order they are given, which the outbox's cursors
// and the feeds' archive pages rely on (an id committed after a larger
// one would be skipped).
const itemsLock = 7_265_817_002

// itemsChannel is where a process that stores items tells the others.
const itemsChannel = "crier_items"

// Open opens the database at dsn (a postgres:// URL) and applies the
// migrations it lacks.
func Open(ctx context.Context, dsn string) (*sql.DB, error) {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, fmt.Errorf("open database: storage.dsn must be a postgres:// URL")
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", Redact(u), err)
	}
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	all, err := Migrations()
	if err == nil {
		err = Migrate(ctx, db, all)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", Redact(u), err)
	}
	return db, nil
}

// Redact drops the password from a URL, for messages.
func Redact(u *url.URL) string {
	c := *u
	if c.User != nil {
		c.User = url.User(c.User.Username())
	}
	return c.String()
}

// Migrate applies the migrations the database lacks, each in its own
// transaction, holding an advisory lock throughout.
func Migrate(ctx context.Context, db *sql.DB, all []schema.Migration) error {
	conn, err := db.Conn(ctx)
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
	if err := conn.QueryRowContext(ctx, SchemaVersion).Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if err := schema.CheckNotNewer(current, all); err != nil {
		return err
	}
	for _, m := range all {
		if m.N <= current {
			continue
		}
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, m.Body); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, applied) VALUES ($1, $2)", m.N, time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
	}
	return nil
}

// LockItems, in a transaction that will store items, waits for the other
// processes' such transactions.
func LockItems(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", int64(itemsLock))
	return err
}

// SkipLocked is the locking clause of a claim: rows another process is
// claiming are passed over rather than waited for.
func SkipLocked(tables ...string) string {
	return "FOR UPDATE OF " + strings.Join(tables, ", ") + " SKIP LOCKED"
}

// NotifyItems, in a transaction that changed items, tells the other
// processes at commit.
func NotifyItems(ctx context.Context, tx *sql.Tx, gen uint64) error {
	_, err := tx.ExecContext(ctx, "SELECT pg_notify($1, $2)", itemsChannel, strconv.FormatUint(gen, 10))
	return err
}

// Listen calls changed whenever another process says it stored items,
// until ctx ends; a failed connection is opened again.
func Listen(ctx context.Context, dsn string, changed func()) {
	for ctx.Err() == nil {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			sleep(ctx, 5*time.Second)
			continue
		}
		if _, err := conn.Exec(ctx, "LISTEN "+itemsChannel); err == nil {
			for {
				if _, err := conn.WaitForNotification(ctx); err != nil {
					break
				}
				changed()
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
