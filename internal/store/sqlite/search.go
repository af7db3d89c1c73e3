package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"net/url"
	"os"

	msqlite "modernc.org/sqlite"
)

// The search index (FTS5) lives in a database file of its own beside the
// store's, SearchPath, written by a connection of its own (OpenSearch):
// indexing items and merging the index's segments never hold the store's
// one writer, so a source's run, a delivery's record or an admin's change
// never waits for them, and they run on whichever core the writer leaves
// free. The store's readers see it attached as "search" (items_fts). The
// file holds nothing that cannot be made again from the store: the store
// logs the items whose text changed (search_log, migration 0032), the
// index records the last entry it applied and which store it is of, and a
// missing, foreign or stale index is rebuilt from the items.

// SearchPath is the search index's file for the store at path.
func SearchPath(path string) string { return path + "-search" }

// searchSchema is the search index's schema, in its own user_version
// (the store's migrations are the store file's). automerge is off: the
// store merges the segments in the background, sixteen a level, before
// FTS5's crisis merge at 32 (the store's migrations 0026 and 0028 made
// these settings when the index lived in the store's file). The index
// keeps every word's positions, for phrases: an index without them
// (detail=none, built with a third less CPU) left a phrase to be checked
// on each item holding its words, and a phrase of common words found
// together in few items took 1.5 s at a million items (15.6 s with a
// cold cache) against 47 ms (README, "Figures": the eighteenth session).
var searchSchema = []string{
	`CREATE VIRTUAL TABLE items_fts USING fts5(title, body, content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 2')`,
	`INSERT INTO items_fts (items_fts, rank) VALUES ('automerge', 0)`,
	`INSERT INTO items_fts (items_fts, rank) VALUES ('usermerge', 16)`,
	`INSERT INTO items_fts (items_fts, rank) VALUES ('crisismerge', 32)`,
	// store: the store's search_epoch the index is of ('' until built);
	// applied: the last search_log entry in the index; rebuild_next and
	// rebuild_upto: the ids a rebuild has yet to index (none when
	// rebuild_next > rebuild_upto); rebuilt_upto: the last id the last
	// rebuild indexed, whose items may be in the index before their
	// entries are applied.
	`CREATE TABLE search_state (
		id           INTEGER PRIMARY KEY CHECK (id = 1),
		store        TEXT NOT NULL DEFAULT '',
		applied      INTEGER NOT NULL DEFAULT 0,
		rebuild_next INTEGER NOT NULL DEFAULT 1,
		rebuild_upto INTEGER NOT NULL DEFAULT 0,
		rebuilt_upto INTEGER NOT NULL DEFAULT 0
	)`,
	`INSERT INTO search_state (id) VALUES (1)`,
}

// searchDSN is the search index's writer: one connection, its lock taken
// at begin (two processes on one store apply each entry once).
func searchDSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "cache_size(-16384)")
	q.Add("_pragma", "temp_store(MEMORY)")
	q.Set("_txlock", "immediate")
	useVFS(q)
	return "file:" + SearchPath(path) + "?" + q.Encode()
}

// OpenSearch opens (creating if needed) the search index of the store at
// path and gives it its schema: the index's writer. An index that cannot
// be opened as it is (damaged, or made by a crier of another version) is
// deleted and made anew: it holds nothing the store cannot give again.
func OpenSearch(ctx context.Context, path string) (*sql.DB, error) {
	db, err := openSearch(ctx, path)
	if err == nil || ctx.Err() != nil {
		return db, err
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if rerr := os.Remove(SearchPath(path) + suffix); rerr != nil && !os.IsNotExist(rerr) {
			return nil, fmt.Errorf("%w; and it could not be deleted to be made anew: %w", err, rerr)
		}
	}
	return openSearch(ctx, path)
}

func openSearch(ctx context.Context, path string) (*sql.DB, error) {
	f, err := os.OpenFile(SearchPath(path), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the search index: %w", err)
	}
	f.Close()
	db, err := sql.Open("sqlite", searchDSN(path))
	if err != nil {
		return nil, fmt.Errorf("open the search index: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	if err := migrateSearch(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open the search index %s: %w", SearchPath(path), err)
	}
	return db, nil
}

// searchVersion is the search index's schema version (its file's
// user_version).
const searchVersion = 1

func migrateSearch(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRowContext(ctx, SchemaVersion).Scan(&v); err != nil {
		return err
	}
	switch {
	case v == searchVersion:
		return nil
	case v != 0:
		// Of another crier (2: without positions, from builds of
		// 2026-12-07 that were not kept): made anew by OpenSearch, and
		// rebuilt from the store's items.
		return fmt.Errorf("the search index is of another crier (version %d, this one's is %d)", v, searchVersion)
	}
	for _, q := range searchSchema {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", searchVersion)); err != nil {
		return err
	}
	return tx.Commit()
}

// readerConnector opens the store's readers, each with the search index
// attached as "search", read through a map and a small cache as the
// store's file is (dsn).
type readerConnector struct {
	dsn, search string
}

func (c readerConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Driver().Open(c.dsn)
	if err != nil {
		return nil, err
	}
	ex := conn.(driver.ExecerContext)
	for _, st := range []struct {
		query string
		args  []driver.NamedValue
	}{
		{"ATTACH DATABASE ? AS search", []driver.NamedValue{{Ordinal: 1, Value: c.search}}},
		{"PRAGMA search.cache_size = -2048", nil},
		{"PRAGMA search.mmap_size = 1073741824", nil},
	} {
		if _, err := ex.ExecContext(ctx, st.query, st.args); err != nil {
			conn.Close()
			return nil, fmt.Errorf("attach the search index: %w", err)
		}
	}
	return conn, nil
}

// readerDriver opens the readers' connections.
var readerDriver = &msqlite.Driver{}

func (c readerConnector) Driver() driver.Driver { return readerDriver }
