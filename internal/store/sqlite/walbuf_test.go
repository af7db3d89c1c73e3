package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// plainReader opens the database at path through SQLite's own VFS, as
// another program would: it reads the log from the file, so a frame the
// writer published before writing it shows here.
func plainReader(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// check reads the rows of t and the database's integrity through db.
func check(t *testing.T, db *sql.DB, want int) {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM t`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != want {
		t.Errorf("%d rows, want %d", n, want)
	}
	var ok string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Errorf("integrity_check: %q, %v", ok, err)
	}
}

// A commit's frames reach the log in a few writes, not two a page, and
// are in the file by the time the commit returns: a reader through
// SQLite's own VFS, which reads the log from the file, sees every commit.
func TestLogWrittenAtOnceAndBeforeItIsPublished(t *testing.T) {
	path, w, _ := openTemp(t)
	plain := plainReader(t, path)
	ctx := context.Background()
	if _, err := w.ExecContext(ctx, `CREATE TABLE t (x BLOB)`); err != nil {
		t.Fatal(err)
	}
	// Another reader through SQLite's own VFS reads all along: every
	// snapshot it sees is whole.
	done := make(chan struct{})
	failed := make(chan error, 1)
	go func() {
		defer close(failed)
		for {
			select {
			case <-done:
				return
			default:
			}
			var n, size int
			if err := plain.QueryRow(`SELECT count(*), coalesce(sum(length(x)), 0) FROM t`).Scan(&n, &size); err != nil {
				failed <- err
				return
			}
			if size != n*3000 {
				failed <- fmt.Errorf("%d rows of %d bytes in all, want 3000 each", n, size)
				return
			}
		}
	}()
	in, out := walWritesIn.Load(), walWritesOut.Load()
	rows := 0
	for i := 0; i < 20; i++ {
		writeBlobs(t, w, 10, 3000) // about ten pages a commit
		rows += 10
		check(t, plain, rows)
	}
	in, out = walWritesIn.Load()-in, walWritesOut.Load()-out
	close(done)
	if err := <-failed; err != nil {
		t.Errorf("a reader during the commits: %v", err)
	}
	if in < 20*2*10 {
		t.Fatalf("the logs were given %d writes for 20 commits of about 10 pages, want at least 400: the store's log is not written through the VFS", in)
	}
	if out > in/5 {
		t.Errorf("%d writes reached the file for %d given, want a few a commit", out, in)
	}
}

// A transaction larger than the writer's page cache spills frames to the
// log before it commits, and may rewrite them; rolled back, what it wrote
// must not land on the frames of the next writer (another connection);
// committed, it must be whole.
func TestLogOfSpilledTransactions(t *testing.T) {
	path, w, _ := openTemp(t)
	plain := plainReader(t, path)
	ctx := context.Background()
	if _, err := w.ExecContext(ctx, `CREATE TABLE t (x BLOB)`); err != nil {
		t.Fatal(err)
	}
	blob := strings.Repeat("spill ", 500)
	spill := func(commit, update bool) {
		t.Helper()
		conn, err := w.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, `PRAGMA cache_size = 8; PRAGMA cache_spill = 4`); err != nil {
			t.Fatal(err)
		}
		defer conn.ExecContext(ctx, `PRAGMA cache_size = -65536`)
		if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 200; i++ {
			if _, err := conn.ExecContext(ctx, `INSERT INTO t (x) VALUES (?)`, fmt.Sprintf("%s%d", blob, i)); err != nil {
				t.Fatal(err)
			}
		}
		if update { // pages written to the log already, changed again
			if _, err := conn.ExecContext(ctx, `UPDATE t SET x = x || 'again' WHERE rowid % 3 = 0`); err != nil {
				t.Fatal(err)
			}
		}
		end := `ROLLBACK`
		if commit {
			end = `COMMIT`
		}
		if _, err := conn.ExecContext(ctx, end); err != nil {
			t.Fatal(err)
		}
	}
	before := walWritesIn.Load()
	spill(false, false)
	if n := walWritesIn.Load() - before; n < 50 {
		t.Fatalf("a transaction of 200 rows in a cache of 8 pages wrote %d times to the log before its rollback, want it to spill", n)
	}
	spill(false, true)
	// Another writer, through SQLite's own VFS, commits where the rolled
	// back frames were.
	if _, err := plain.ExecContext(ctx, `INSERT INTO t (x) VALUES ('plain')`); err != nil {
		t.Fatal(err)
	}
	check(t, plain, 1)
	writeBlobs(t, w, 5, 100)
	check(t, plain, 6)
	spill(true, true)
	check(t, plain, 206)
	var again int
	if err := plain.QueryRow(`SELECT count(*) FROM t WHERE x LIKE '%again'`).Scan(&again); err != nil || again == 0 {
		t.Errorf("%d rows changed twice in the spilled transaction, %v", again, err)
	}
	// And after a checkpoint copied the log into the database.
	if _, err := plain.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	writeBlobs(t, w, 1, 100)
	check(t, plain, 207)
}

// A process killed while it commits through the VFS leaves a database
// whose every committed transaction is whole: the child commits batches
// of ten rows with a batch number, the parent kills it mid-stream (SIGKILL,
// nothing flushed on the way out), and the reopened database holds whole
// batches only, and passes SQLite's integrity check.
func TestKilledWriterLeavesWholeCommits(t *testing.T) {
	if path := os.Getenv("CRIER_WALBUF_CHILD"); path != "" {
		w, _, _, err := Open(context.Background(), path)
		if err != nil {
			os.Exit(3)
		}
		blob := strings.Repeat("killed ", 700)
		for batch := 0; ; batch++ {
			tx, err := w.Begin()
			if err != nil {
				os.Exit(4)
			}
			for i := 0; i < 10; i++ {
				if _, err := tx.Exec(`INSERT INTO t (batch, x) VALUES (?, ?)`, batch, blob); err != nil {
					os.Exit(5)
				}
			}
			if err := tx.Commit(); err != nil {
				os.Exit(6)
			}
			if batch == 20 {
				fmt.Println("committing") // the parent kills from here on
			}
		}
	}
	path := filepath.Join(t.TempDir(), "crier.db")
	w, r, search, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Exec(`CREATE TABLE t (batch INTEGER, x TEXT)`); err != nil {
		t.Fatal(err)
	}
	r.Close()
	search.Close()
	w.Close()
	for round := 0; round < 3; round++ {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestKilledWriterLeavesWholeCommits$")
		cmd.Env = append(os.Environ(), "CRIER_WALBUF_CHILD="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line := make([]byte, 64)
		if n, _ := out.Read(line); !strings.Contains(string(line[:n]), "committing") {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the writer stopped before committing: %q", line[:n])
		}
		time.Sleep(time.Duration(20+30*round) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		db := plainReader(t, path)
		var rows, batches, partial int
		if err := db.QueryRow(`SELECT count(*), count(DISTINCT batch) FROM t`).Scan(&rows, &batches); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow(`SELECT count(*) FROM (SELECT batch FROM t GROUP BY batch HAVING count(*) % 10 != 0)`).Scan(&partial); err != nil {
			t.Fatal(err)
		}
		var ok string
		if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
			t.Fatalf("after a kill: integrity_check %q, %v", ok, err)
		}
		if partial != 0 || rows < 21*10 {
			t.Fatalf("after a kill: %d rows in %d batches, %d batches not whole", rows, batches, partial)
		}
		db.Close()
	}
}
