// Package sqlite is what the store needs of SQLite (modernc.org/sqlite,
// no cgo) that PostgreSQL does differently: opening the file with its
// pragmas, the writer and reader pools, migrations kept in user_version,
// and the planner's statistics. The store's queries are shared by both
// engines and live in package store.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/crier-hub/crier/internal/store/schema"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations lists SQLite's embedded migrations in order.
func Migrations() ([]schema.Migration, error) { return schema.Load(migrationFiles, "migrations") }

// SchemaVersion is the query that reads the number of the last migration.
const SchemaVersion = "PRAGMA user_version"

// dsn sets the pragmas in the DSN so that every pooled connection has them.
func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	// Page caches and a memory map sized for a store of millions of items.
	// The writer, which inserts at random places in the lookup indexes,
	// keeps their pages: it starts with 4 MiB and no map, whose pages
	// SQLite does not cache and the kernel may drop, and SizeWriterCache
	// grows its cache with the store. It starts small because a cache
	// larger than what is looked up again fills with the pages of the
	// releases just written, each a page of new memory to allocate and
	// fault in, where a full cache reuses the page it evicts: in the
	// ingest bench, 150 rounds, 3,030 against 2,470 items/s (medians of
	// 4) with 8 MiB instead of 64, and 40 rounds 4,522 against 4,259
	// (medians of 12) with 4 MiB instead of 8. Readers read through a 1 GiB map and
	// a 2 MiB cache each (what lies past the map, the newest items in a
	// large store, is read from the kernel's cache): a reader drops its
	// whole cache at its first read after any commit, page by page, and a
	// full 64 MiB cache took 0.2 s to drop at a million items, while
	// walking 20,000 items took 1.1 s through 64 MiB and 0.45 s through
	// 2 MiB (README, "Storage").
	if readOnly {
		q.Add("_pragma", "cache_size(-2048)")
	} else {
		q.Add("_pragma", fmt.Sprintf("cache_size(-%d)", writerCacheBase))
	}
	q.Add("_pragma", "temp_store(MEMORY)")
	// ANALYZE (through PRAGMA optimize) samples each index instead of
	// reading it whole: opening a store of millions of items stays quick.
	q.Add("_pragma", "analysis_limit(1000)")
	q.Set("_txlock", "immediate")
	if readOnly {
		q.Add("_pragma", "mmap_size(1073741824)")
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "mmap_size(0)")
		// The WAL is copied back into the database by a goroutine of its
		// own (Checkpoints), not by whichever commit crosses 1,000 pages:
		// in a large store that copy writes pages all over the file, and
		// a source's run waited for it. The writer still checkpoints if
		// the WAL passes 64 MiB, should the goroutine fall behind.
		q.Add("_pragma", "wal_autocheckpoint(16384)")
		q.Add("_pragma", fmt.Sprintf("journal_size_limit(%d)", walLimit))
	}
	useVFS(q)
	return "file:" + path + "?" + q.Encode()
}

// BufferWAL says whether the store's databases are opened through the VFS
// that writes a commit's log frames at once (walbuf.go). It is on; the
// tests turn it off to compare.
var BufferWAL = true

// useVFS names the VFS in a DSN's query when BufferWAL is on and it could
// be registered.
func useVFS(q url.Values) {
	if BufferWAL && registerVFS() == nil {
		q.Set("vfs", vfsName)
	}
}

// Open opens (creating if needed) the database file at path and applies
// the migrations it lacks. It returns the writer, one connection whose
// transactions take the write lock at begin, a pool of read-only readers
// with the search index attached, and the search index's own writer
// (OpenSearch).
func Open(ctx context.Context, path string) (w, r, search *sql.DB, err error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, nil, nil, fmt.Errorf("open database: %q is not a file; crier keeps its store in a file (its pools of connections could not share a memory database)", path)
	}
	// The store holds secrets (WebSub subscribers' hub.secret): readable by
	// its owner alone. SQLite gives its -wal and -shm files the same mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("open database %s: %w", path, err)
	}
	f.Close()
	w, err = sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("open database %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	all, err := Migrations()
	if err == nil {
		err = Migrate(ctx, w, all)
	}
	if err != nil {
		w.Close()
		return nil, nil, nil, fmt.Errorf("open database %s: %w", path, err)
	}
	// The search index, before the readers that attach it.
	if search, err = OpenSearch(ctx, path); err != nil {
		w.Close()
		return nil, nil, nil, err
	}
	r = sql.OpenDB(readerConnector{dsn: dsn(path, true), search: SearchPath(path)})
	r.SetMaxOpenConns(4)
	// Fresh statistics let the planner pick the rare filter over the
	// common one; optimize only analyzes what changed much.
	if _, err := w.ExecContext(ctx, "PRAGMA optimize=0x10002"); err != nil {
		err = fmt.Errorf("open database %s: %w", path, err)
		return nil, nil, nil, errors.Join(err, r.Close(), search.Close(), w.Close())
	}
	return w, r, search, nil
}

// Migrate applies, in order and each in its own transaction, the
// migrations whose number is above the database's user_version. The
// writer is one connection and takes its lock at begin, so two processes
// starting at once apply each migration once.
func Migrate(ctx context.Context, w *sql.DB, all []schema.Migration) error {
	var current int
	if err := w.QueryRowContext(ctx, SchemaVersion).Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if err := schema.CheckNotNewer(current, all); err != nil {
		return err
	}
	for _, m := range all {
		if m.N <= current {
			// Applied already: read above, no write lock taken for it.
			continue
		}
		tx, err := w.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		var current int
		if err := tx.QueryRowContext(ctx, SchemaVersion).Scan(&current); err != nil {
			tx.Rollback()
			return fmt.Errorf("read schema version: %w", err)
		}
		if m.N <= current {
			tx.Rollback()
			continue
		}
		if _, err := tx.ExecContext(ctx, m.Body); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		// PRAGMA takes no parameters; N is our own integer.
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.N)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
	}
	return nil
}

// Optimize refreshes the planner's statistics where they have drifted.
func Optimize(ctx context.Context, w *sql.DB) error {
	_, err := w.ExecContext(ctx, "PRAGMA optimize")
	return err
}

// busyTimeout is how long, in ms, a connection waits for another's lock.
const busyTimeout = 10000

// walLimit is journal_size_limit: the size SQLite cuts the WAL back to
// when a writer starts it over, and above which the checkpointer empties
// it while the store is idle.
const walLimit = 64 << 20

// truncateAbove is walLimit, lowered by the tests.
var truncateAbove int64 = walLimit

// Checkpoints copies the WAL back into the database file every interval,
// in the background and without blocking writers (a PASSIVE checkpoint),
// on a connection of its own, until ctx ends. A channel sent on now asks
// for a checkpoint at once, and is closed when it is done.
//
// A WAL that grew past journal_size_limit (a long merge, a reader that
// held an old snapshot through a burst of writes) is emptied to nothing
// once a checkpoint has copied all of it and idle says no writer is
// working or coming: otherwise the first commit after SQLite starts the
// log over pays for cutting it back, 135 ms for a log of 543 MB in a run
// of 164 ms (README, "At a million items"). See emptyWAL.
func Checkpoints(ctx context.Context, path string, w *sql.DB, every time.Duration, now <-chan chan struct{}, idle func() bool) {
	// Without a connection of its own, the writer's own threshold still
	// bounds the WAL, and those asking are not kept waiting.
	db, err := sql.Open("sqlite", dsn(path, false))
	if err == nil {
		defer db.Close()
		db.SetMaxOpenConns(1)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		var done chan struct{}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case done = <-now:
		}
		// Busy or failing checkpoints are tried again next tick; the
		// writer's own threshold bounds the WAL meanwhile.
		if db != nil {
			var busy, frames, copied int
			err := db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied)
			if err == nil && busy == 0 && frames == copied && idle != nil && idle() && WALSize(path) > truncateAbove {
				emptyWAL(ctx, w)
			}
		}
		if done != nil {
			close(done)
		}
	}
}

// emptyWAL empties the WAL, copied back already, to nothing, on the
// writer's own connection: a log started over by another connection makes
// the writer drop its whole page cache at its next transaction (20 ms for
// 64 MiB, BenchmarkCommitAfterABurst), which it keeps when the change is
// its own. It never waits: if the writer's connection is taken, or a
// reader is still on the log (the emptying would hold the write lock
// while it waited for it), it gives up until the next tick.
func emptyWAL(ctx context.Context, w *sql.DB) {
	free, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	conn, err := w.Conn(free)
	if err != nil {
		return
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "PRAGMA busy_timeout = 0"); err != nil {
		return
	}
	var busy, frames, copied int
	conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &frames, &copied)
	// PRAGMA takes no parameters; busyTimeout is our own integer.
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", busyTimeout)); err != nil {
		// A writer that would not wait for locks: closed, not reused.
		conn.Raw(func(any) error { return driver.ErrBadConn })
	}
}

// WALSize is the size of the WAL file of the database at path (0 when
// there is none).
func WALSize(path string) int64 {
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		return 0
	}
	return fi.Size()
}

// SizeWriterCache sizes the writer's page cache for a store of items
// items: each new release is looked up and inserted at random places in
// indexes keyed by hashes (near-duplicate bands at both levels, uids,
// fingerprints, document keys), about 620 bytes an item, which the cache
// should hold (4 MiB plus 640 bytes an item, at most 1 GiB). SQLite
// allocates the cache as pages are read, so a small store uses little.
func SizeWriterCache(ctx context.Context, w *sql.DB, items int64) error {
	return SetWriterCache(ctx, w, min(writerCacheBase+items*5/8, 1<<20))
}

// writerCacheBase is the writer's page cache in KiB before it is sized
// for the items stored (dsn).
const writerCacheBase = 4 << 10

// SetWriterCache sets the writer's page cache to kib KiB.
func SetWriterCache(ctx context.Context, w *sql.DB, kib int64) error {
	// PRAGMA takes no parameters; kib is our own integer.
	_, err := w.ExecContext(ctx, fmt.Sprintf("PRAGMA cache_size = -%d", kib))
	return err
}
