package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// TestCheckpointerEmptiesALargeWALWhenIdle grows the WAL past the
// limit and checks that the checkpointer leaves it alone while the store
// is busy or a reader is on the log, and empties it once idle, with
// nothing lost.
func TestCheckpointerEmptiesALargeWALWhenIdle(t *testing.T) {
	defer func(n int64) { truncateAbove = n }(truncateAbove)
	truncateAbove = 256 << 10
	ctx := context.Background()
	path, w, r := openTemp(t)

	var idle atomic.Bool
	checkpoint, stop := startCheckpointer(path, w, idle.Load)
	defer stop()

	writeBlobs(t, w, 64, 32<<10)
	grown := WALSize(path)
	if grown <= truncateAbove {
		t.Fatalf("the WAL is %d bytes after 2 MB of writes, want more than %d", grown, truncateAbove)
	}

	// Busy: copied back, not emptied.
	checkpoint()
	if n := WALSize(path); n != grown {
		t.Errorf("the WAL is %d bytes after a checkpoint while the store is busy, want it left at %d", n, grown)
	}

	// A reader whose snapshot is on the log, as one that began before a
	// commit was copied back.
	if _, err := w.ExecContext(ctx, `INSERT INTO t (x) VALUES (x'00')`); err != nil {
		t.Fatal(err)
	}
	rtx := readOnLog(t, r)
	// Idle, but the reader on the log: the emptying gives up.
	idle.Store(true)
	checkpoint()
	if n := WALSize(path); n == 0 {
		t.Errorf("the WAL was emptied under a reader")
	}
	// The writer is not held: it commits while the reader stays.
	if _, err := w.ExecContext(ctx, `INSERT INTO t (x) VALUES (x'01')`); err != nil {
		t.Fatal(err)
	}
	rtx.Rollback()

	// Idle, nobody on the log: emptied.
	checkpoint()
	if n := WALSize(path); n != 0 {
		t.Errorf("the WAL is %d bytes after a checkpoint while idle, want 0", n)
	}
	var n int
	if err := r.QueryRowContext(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil || n != 66 {
		t.Errorf("%d rows after the WAL was emptied (%v), want 66", n, err)
	}
	if _, err := w.ExecContext(ctx, `INSERT INTO t (x) VALUES (x'02')`); err != nil {
		t.Fatal(err)
	}
	if err := r.QueryRowContext(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil || n != 67 {
		t.Errorf("%d rows after a write to the emptied WAL (%v), want 67", n, err)
	}
}

// BenchmarkCommitAfterABurst times the first small commit after a burst
// of writes grew the WAL to 160 MB (a reader held an old snapshot through
// it, so no checkpoint could start the log over), the checkpointer having
// run once the burst was over: with the store idle, so that it emptied
// the WAL on the writer's connection, and with the store busy, so that
// the commit finds the WAL grown and SQLite cuts it back to
// journal_size_limit in that commit (what every commit after such a burst
// met before the checkpointer emptied the WAL). Prints both and the ratio.
//
//	go test ./internal/store/sqlite -run '^$' -bench CommitAfterABurst -benchtime 3x
func BenchmarkCommitAfterABurst(b *testing.B) {
	ctx := context.Background()
	commitAfter := func(idle bool) time.Duration {
		path, w, r := openTemp(b)
		writeBlobs(b, w, 1, 16)
		rtx := readOnLog(b, r)
		for i := 0; i < 40; i++ {
			writeBlobs(b, w, 64, 64<<10)
		}
		rtx.Rollback()
		checkpoint, stop := startCheckpointer(path, w, func() bool { return idle })
		checkpoint()
		stop()
		start := time.Now()
		if _, err := w.ExecContext(ctx, `INSERT INTO t (x) VALUES (x'00')`); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	var emptied, grown time.Duration
	for range b.N {
		emptied += commitAfter(true)
		grown += commitAfter(false)
	}
	b.ReportMetric(float64(emptied.Microseconds())/float64(b.N), "µs_emptied")
	b.ReportMetric(float64(grown.Microseconds())/float64(b.N), "µs_grown")
	b.ReportMetric(float64(grown)/float64(emptied), "x_faster")
}

// openTemp opens a database in a folder of the test's, closed when the
// test ends: its path, writer and readers.
func openTemp(tb testing.TB) (string, *sql.DB, *sql.DB) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "crier.db")
	w, r, search, err := Open(context.Background(), path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { r.Close(); search.Close(); w.Close() })
	return path, w, r
}

// readOnLog begins a read transaction that holds its snapshot, of the
// log as it is, until it is rolled back.
func readOnLog(tb testing.TB, r *sql.DB) *sql.Tx {
	tb.Helper()
	rtx, err := r.BeginTx(context.Background(), &sql.TxOptions{ReadOnly: true})
	if err != nil {
		tb.Fatal(err)
	}
	var n int
	if err := rtx.QueryRow(`SELECT count(*) FROM t`).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return rtx
}

// writeBlobs commits rows rows of size bytes each to table t (created
// if need be) in one transaction.
func writeBlobs(tb testing.TB, w *sql.DB, rows, size int) {
	tb.Helper()
	ctx := context.Background()
	if _, err := w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS t (x BLOB)`); err != nil {
		tb.Fatal(err)
	}
	blob := bytes.Repeat([]byte("crier "), size/6)
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	for i := 0; i < rows; i++ {
		if _, err := tx.ExecContext(ctx, `INSERT INTO t (x) VALUES (?)`, blob); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
}

// startCheckpointer runs Checkpoints on the database at path, with a tick
// too long to come: each checkpoint is asked for by calling checkpoint.
// stop ends it.
func startCheckpointer(path string, w *sql.DB, idle func() bool) (checkpoint, stop func()) {
	now := make(chan chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		Checkpoints(ctx, path, w, time.Hour, now, idle)
	}()
	checkpoint = func() {
		done := make(chan struct{})
		now <- done
		<-done
	}
	return checkpoint, func() { cancel(); <-ended }
}
