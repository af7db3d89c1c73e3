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
	path := filepath.Join(t.TempDir(), "crier.db")
	w, r, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	defer r.Close()

	var idle atomic.Bool
	now := make(chan chan struct{})
	cctx, stop := context.WithCancel(ctx)
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		// A tick too long to come during the test: each checkpoint is
		// asked for.
		Checkpoints(cctx, path, w, time.Hour, now, idle.Load)
	}()
	defer func() { stop(); <-ended }()
	checkpoint := func() {
		done := make(chan struct{})
		now <- done
		<-done
	}

	if _, err := w.ExecContext(ctx, `CREATE TABLE t (x BLOB)`); err != nil {
		t.Fatal(err)
	}
	blob := bytes.Repeat([]byte("crier "), 32<<10/6)
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 64; i++ {
		if _, err := tx.ExecContext(ctx, `INSERT INTO t (x) VALUES (?)`, blob); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
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
	rtx, err := r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := rtx.QueryRowContext(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil {
		t.Fatal(err)
	}
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
	blob := bytes.Repeat([]byte("crier "), 64<<10/6)
	commitAfter := func(idle bool) time.Duration {
		path := filepath.Join(b.TempDir(), "crier.db")
		w, r, err := Open(ctx, path)
		if err != nil {
			b.Fatal(err)
		}
		defer w.Close()
		defer r.Close()
		if _, err := w.ExecContext(ctx, `CREATE TABLE t (x BLOB)`); err != nil {
			b.Fatal(err)
		}
		rtx, err := r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		var n int
		if err := rtx.QueryRowContext(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil {
			b.Fatal(err)
		}
		for i := 0; i < 40; i++ {
			tx, err := w.BeginTx(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			for j := 0; j < 64; j++ {
				if _, err := tx.ExecContext(ctx, `INSERT INTO t (x) VALUES (?)`, blob); err != nil {
					b.Fatal(err)
				}
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
		}
		rtx.Rollback()
		now := make(chan chan struct{})
		cctx, stop := context.WithCancel(ctx)
		ended := make(chan struct{})
		go func() {
			defer close(ended)
			Checkpoints(cctx, path, w, time.Hour, now, func() bool { return idle })
		}()
		done := make(chan struct{})
		now <- done
		<-done
		stop()
		<-ended
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
