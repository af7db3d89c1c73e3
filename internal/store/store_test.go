package store

import (
	"bytes"
	stdflate "compress/flate"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crier-hub/crier/internal/store/sqlite"
)

func latestMigration(t *testing.T) int {
	all, err := migrationsOf(engineOf(t))
	if err != nil || len(all) == 0 {
		t.Fatalf("no embedded migrations: %v", err)
	}
	return all[len(all)-1].N
}

func TestMigrateFreshDatabase(t *testing.T) { eachEngine(t, testMigrateFreshDatabase) }

func testMigrateFreshDatabase(t *testing.T) {
	s, _ := openTemp(t)
	v, err := s.SchemaVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := latestMigration(t); v != want {
		t.Errorf("schema version: got %d, want %d", v, want)
	}
	if s.pg {
		return
	}
	var fk, timeout int
	var mode string
	s.r.QueryRow("PRAGMA foreign_keys").Scan(&fk)
	s.r.QueryRow("PRAGMA busy_timeout").Scan(&timeout)
	s.r.QueryRow("PRAGMA journal_mode").Scan(&mode)
	if fk != 1 || timeout == 0 || mode != "wal" {
		t.Errorf("pragmas on a reader: foreign_keys=%d busy_timeout=%d journal_mode=%s", fk, timeout, mode)
	}
}

func TestMigrateExistingDatabase(t *testing.T) { eachEngine(t, testMigrateExistingDatabase) }

func testMigrateExistingDatabase(t *testing.T) {
	ctx := context.Background()
	s, path := openTemp(t)
	doc := testDoc("a.txt", "Body one", "fp1")
	uid, _, err := s.SaveDocument(ctx, doc)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	// Reopening applies nothing twice and keeps the data.
	s2 := reopen(t, path)
	it, err := s2.Item(ctx, uid)
	if err != nil {
		t.Fatalf("item lost across reopen: %v", err)
	}
	if it.Title != doc.Item.Title {
		t.Errorf("title: got %q, want %q", it.Title, doc.Item.Title)
	}

	if s2.pg {
		return
	}
	// A database left at an older version is brought up to date.
	oldPath := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", oldPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE keep (x INTEGER); INSERT INTO keep VALUES (7); PRAGMA user_version = 0"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s3, err := Open(ctx, "sqlite", oldPath)
	if err != nil {
		t.Fatalf("migrate an existing database: %v", err)
	}
	defer s3.Close()
	var x int
	if err := s3.r.QueryRow("SELECT x FROM keep").Scan(&x); err != nil || x != 7 {
		t.Errorf("existing data: got %d, %v; want 7", x, err)
	}
	if v, _ := s3.SchemaVersion(ctx); v != latestMigration(t) {
		t.Errorf("schema version after migrating: got %d, want %d", v, latestMigration(t))
	}
}

func TestMigrationFailureRollsBack(t *testing.T) { eachEngine(t, testMigrationFailureRollsBack) }

func testMigrationFailureRollsBack(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	err := s.migrate(ctx, []migration{{N: 99, Name: "0099_broken.sql", Body: "CREATE TABLE half (x INTEGER); THIS IS NOT SQL;"}})
	if err == nil {
		t.Fatal("a broken migration applied without error")
	}
	var n int
	if _, err := s.w.ExecContext(ctx, "SELECT count(*) FROM half"); err == nil {
		n = 1
	}
	if n != 0 {
		t.Error("a failed migration left its table behind: not run in a transaction")
	}
	if v, _ := s.SchemaVersion(ctx); v == 99 {
		t.Error("a failed migration moved the schema version")
	}
}

func testDoc(key, body, fp string) Document {
	return Document{SourceID: "src", Key: key, Raw: []byte(body), Item: Item{
		Title: "Title of " + key, ContentText: body, Language: "fr", Country: "BE",
		Topics: []string{"refugees"}, Published: time.Date(2020, 1, 2, 0, 0, 0, 0, time.UTC), Fingerprint: fp,
	}}
}

func TestSaveDocument(t *testing.T) { eachEngine(t, testSaveDocument) }

func testSaveDocument(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	clock := startClock(s)

	uid, st, err := s.SaveDocument(ctx, testDoc("a.txt", "one", "fp1"))
	if err != nil || st != Added {
		t.Fatalf("first save: %v %v", st, err)
	}
	if _, st, _ = s.SaveDocument(ctx, testDoc("a.txt", "one", "fp1")); st != Unchanged {
		t.Errorf("same bytes again: got %v, want unchanged", st)
	}
	*clock = clock.Add(time.Hour)
	changed := testDoc("a.txt", "one, edited", "fp1b")
	uid2, st, err := s.SaveDocument(ctx, changed)
	if err != nil || st != Updated || uid2 != uid {
		t.Fatalf("changed file: got %v %q %v, want updated with uid %q", st, uid2, err, uid)
	}
	it, _ := s.Item(ctx, uid)
	if !it.Updated.Equal(*clock) {
		t.Errorf("updated: got %v, want %v", it.Updated, *clock)
	}
	if it.ContentText != "one, edited" {
		t.Errorf("content not updated: %q", it.ContentText)
	}
	// Another source's copy with the same fingerprint joins the item.
	copyDoc := testDoc("b.html", "<p>one, edited</p>", "fp1b")
	copyDoc.SourceID = "other"
	uid3, st, err := s.SaveDocument(ctx, copyDoc)
	if err != nil || st != Merged || uid3 != uid {
		t.Fatalf("copy: got %v %q %v, want merged into %q", st, uid3, err, uid)
	}
	it, _ = s.Item(ctx, uid)
	if len(it.Sources) != 2 || it.Sources[0] != "other" || it.Sources[1] != "src" {
		t.Errorf("sources: got %v, want [other src]", it.Sources)
	}
}

func TestSaveBatchSpansParts(t *testing.T) { eachEngine(t, testSaveBatchSpansParts) }

// A batch stores parts in one transaction: nothing is visible before its
// Commit, a copy in a later part joins an item added in an earlier one,
// the feeds' generation moves once, and a batch rolled back stores
// nothing.
func testSaveBatchSpansParts(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	count := func() int {
		items, err := s.Items(ctx, Query{})
		if err != nil {
			t.Fatal(err)
		}
		return len(items)
	}
	gen := s.Generation()
	b, err := s.BeginSave(ctx)
	if err != nil {
		t.Fatal(err)
	}
	first, err := b.Save(ctx, []Document{testDoc("a", "one", "fp1"), testDoc("b", "two", "fp2")})
	if err != nil {
		t.Fatal(err)
	}
	copyDoc := testDoc("c", "<p>one</p>", "fp1")
	copyDoc.SourceID = "other"
	second, err := b.Save(ctx, []Document{copyDoc})
	if err != nil {
		t.Fatal(err)
	}
	if first[0].Status != Added || first[1].Status != Added || second[0].Status != Merged || second[0].UID != first[0].UID {
		t.Fatalf("statuses %+v then %+v; want added, added, then merged into the first", first, second)
	}
	if n := count(); n != 0 {
		t.Errorf("%d items visible before the batch commits; want 0", n)
	}
	if b.Len() != 3 {
		t.Errorf("batch Len %d, want 3", b.Len())
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 2 {
		t.Errorf("%d items after the commit; want 2", n)
	}
	if g := s.Generation(); g != gen+1 {
		t.Errorf("generation %d after one batch of two parts, was %d; want one step", g, gen)
	}
	if _, err := b.Save(ctx, []Document{testDoc("d", "four", "fp4")}); err == nil {
		t.Error("a batch committed took more documents")
	}
	b, err = s.BeginSave(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Save(ctx, []Document{testDoc("e", "five", "fp5")}); err != nil {
		t.Fatal(err)
	}
	b.Rollback()
	if n := count(); n != 2 {
		t.Errorf("%d items after a batch rolled back; want 2", n)
	}
	// The writer is free again: a plain save goes through.
	if _, st, err := s.SaveDocument(ctx, testDoc("e", "five", "fp5")); err != nil || st != Added {
		t.Errorf("save after a rollback: %v %v", st, err)
	}
}

func TestItemsQuery(t *testing.T) { eachEngine(t, testItemsQuery) }

func testItemsQuery(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	mk := func(key, country, lang string, topics []string, day int) {
		d := testDoc(key, key, key)
		d.Item.Country, d.Item.Language, d.Item.Topics = country, lang, topics
		d.Item.Published = time.Date(2020, 1, day, 0, 0, 0, 0, time.UTC)
		if _, _, err := s.SaveDocument(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	mk("be-fr", "BE", "fr", []string{"refugees"}, 1)
	mk("lu-fr", "LU", "fr", []string{"health"}, 2)
	mk("es-es", "ES", "es", []string{"refugees", "health"}, 3)
	f, err := s.ItemFacets(ctx)
	if err != nil || f.Items != 3 || strings.Join(f.Countries, ",") != "BE,ES,LU" || strings.Join(f.Languages, ",") != "es,fr" ||
		!f.Latest.Equal(time.Date(2020, 1, 3, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("facets: %+v, %v", f, err)
	}
	tests := []struct {
		name string
		q    Query
		want []string
	}{
		{"all, newest first", Query{}, []string{"es-es", "lu-fr", "be-fr"}},
		{"countries OR", Query{Countries: []string{"BE", "LU"}}, []string{"lu-fr", "be-fr"}},
		{"topic AND language", Query{Topics: []string{"refugees"}, Languages: []string{"fr"}}, []string{"be-fr"}},
		{"source", Query{Sources: []string{"nope"}}, nil},
		{"limit", Query{Limit: 1}, []string{"es-es"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items, err := s.Items(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, it := range items {
				got = append(got, it.ContentText)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestDatabaseReadableByItsOwnerOnly(t *testing.T) {
	_, path := openTemp(t)
	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if mode := fi.Mode().Perm(); mode&0o077 != 0 {
			t.Errorf("%s: mode %v, want no access for group and others", filepath.Base(p), mode)
		}
	}
	if _, err := Open(context.Background(), "sqlite", ":memory:"); err == nil || !strings.Contains(err.Error(), "not a file") {
		t.Errorf("a memory database: %v", err)
	}
}

// Replicas sharing a database: at one tick exactly one claims a source's
// run; a lease whose holder died expires; the next tick is claimed anew.
func TestClaimRun(t *testing.T) { eachEngine(t, testClaimRun) }

func testClaimRun(t *testing.T) {
	ctx := context.Background()
	a, dsn := openTemp(t)
	b := reopen(t, dsn)
	clock := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	a.Now = func() time.Time { return clock }
	b.Now = a.Now
	gap, lease := 7*time.Minute, 5*time.Minute
	okA, errA := a.ClaimRun(ctx, "src", "a", lease, gap)
	okB, errB := b.ClaimRun(ctx, "src", "b", lease, gap)
	if errA != nil || errB != nil || !okA || okB {
		t.Fatalf("one tick: a %v %v, b %v %v; want a alone", okA, errA, okB, errB)
	}
	if err := a.RecordRun(ctx, "src", Run{At: clock}); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(time.Minute) // a replica whose tick comes a little later
	if ok, _ := b.ClaimRun(ctx, "src", "b", lease, gap); ok {
		t.Error("a second replica ran the source at the same tick")
	}
	clock = clock.Add(14 * time.Minute) // the next tick
	if ok, _ := b.ClaimRun(ctx, "src", "b", lease, gap); !ok {
		t.Fatal("the next tick was not claimed")
	}
	// b dies without recording its run: its lease expires.
	clock = clock.Add(2 * time.Minute)
	if ok, _ := a.ClaimRun(ctx, "src", "a", lease, gap); ok {
		t.Fatal("a lease still held was taken")
	}
	clock = clock.Add(lease)
	if ok, _ := a.ClaimRun(ctx, "src", "a", lease, gap); !ok {
		t.Error("a dead replica's expired lease was not taken over")
	}
}

// Raw documents are kept compressed and read back as given; documents
// stored before compression read back too.
func TestRawDocumentsRoundTrip(t *testing.T) { eachEngine(t, testRawDocumentsRoundTrip) }

func testRawDocumentsRoundTrip(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	body := strings.Repeat("<p>GENEVA – a release that repeats itself, as pages do. </p>", 200)
	if _, err := s.SaveDocuments(ctx, []Document{testDoc("a", body, "fp-a")}); err != nil {
		t.Fatal(err)
	}
	var stored []byte
	s.r.QueryRowContext(ctx, `SELECT raw FROM documents WHERE key = 'a'`).Scan(&stored)
	if len(stored) >= len(body)/4 {
		t.Errorf("a %d-byte document is stored in %d bytes", len(body), len(stored))
	}
	if _, err := s.w.ExecContext(ctx, `UPDATE documents SET key = 'old' WHERE key = 'a'`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SaveDocuments(ctx, []Document{testDoc("b", "short", "fp-b")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.ExecContext(ctx, `UPDATE documents SET raw = ? WHERE key = 'b'`, []byte("stored before compression")); err != nil {
		t.Fatal(err)
	}
	// Compressed by the standard library's deflate, as crier did before.
	if _, err := s.SaveDocuments(ctx, []Document{testDoc("c", "short too", "fp-c")}); err != nil {
		t.Fatal(err)
	}
	var std bytes.Buffer
	std.Write(deflateMagic)
	w, _ := stdflate.NewWriter(&std, stdflate.BestSpeed)
	w.Write([]byte(body))
	w.Close()
	if _, err := s.w.ExecContext(ctx, `UPDATE documents SET raw = ? WHERE key = 'c'`, std.Bytes()); err != nil {
		t.Fatal(err)
	}
	docs, err := s.RecentDocuments(ctx, "src", 10)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, d := range docs {
		got[d.Key] = string(d.Raw)
	}
	if got["old"] != body || got["b"] != "stored before compression" || got["c"] != body {
		t.Errorf("raw documents read back: %d bytes, %q and %d bytes", len(got["old"]), got["b"], len(got["c"]))
	}
}

// Warm names the indexes it reads: a migration that renames one must
// rename it there too.
func TestWarm(t *testing.T) { eachEngine(t, testWarm) }

func testWarm(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	if _, err := s.SaveDocuments(ctx, []Document{testDoc("a", "body a", "fp-a"), testDoc("b", "body b", "fp-b")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Warm(cancelled); err == nil && !s.pg {
		t.Error("Warm went on after its context was cancelled")
	}
}

// A store migrated by a newer crier is refused, in one sentence, rather
// than misread.
func TestNewerSchemaRefused(t *testing.T) { eachEngine(t, testNewerSchemaRefused) }

func testNewerSchemaRefused(t *testing.T) {
	ctx := context.Background()
	s, dsn := openTemp(t)
	newer := latestMigration(t) + 1
	bump := fmt.Sprintf("PRAGMA user_version = %d", newer)
	if s.pg {
		bump = fmt.Sprintf("INSERT INTO schema_migrations (version, applied) VALUES (%d, 'later')", newer)
	}
	if _, err := s.w.ExecContext(ctx, bump); err != nil {
		t.Fatal(err)
	}
	s.Close()
	again, err := Open(ctx, engineOf(t), dsn)
	if err == nil {
		again.Close()
		t.Fatal("a store of a newer schema was opened")
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("version %d, newer than this crier knows", newer)) {
		t.Errorf("error: %v", err)
	}
}

// Stored times read by hand agree with time.Parse, and what time.Parse
// refuses is refused too.
func TestParseLayoutAgreesWithTimeParse(t *testing.T) {
	for _, s := range []string{
		"2026-12-05T21:04:46.123456789Z", "2024-02-29T00:00:00.000000000Z", "1999-12-31T23:59:59.999999999Z",
		"2025-02-29T00:00:00.000000000Z", "2026-13-01T00:00:00.000000000Z", "2026-04-31T00:00:00.000000000Z",
		"2026-01-01T24:00:00.000000000Z", "2026-01-01T00:60:00.000000000Z", "2026-01-01T00:00:61.000000000Z",
		"2026-01-01T00:00:00.00000000xZ", "2026-01-01 00:00:00.000000000Z", "", "2026-01-01T00:00:00Z",
	} {
		want, err := time.Parse(timeLayout, s)
		got, ok := parseLayout(s)
		if ok != (err == nil) || !got.Equal(want) {
			t.Errorf("%q: by hand %v %v, time.Parse %v %v", s, got, ok, want, err)
		}
		if parseTime(s) != want && !parseTime(s).Equal(want) {
			t.Errorf("%q: parseTime %v, want %v", s, parseTime(s), want)
		}
	}
}

func TestDocumentHashes(t *testing.T) { eachEngine(t, testDocumentHashes) }

// testDocumentHashes looks up 70 keys (more than one statement holds):
// of this source, of another source, and unknown. Each of this source's
// comes back with the hash of what was saved, and no other.
func testDocumentHashes(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	var docs []Document
	for i := 0; i < 50; i++ {
		d := testDoc(fmt.Sprintf("k%d", i), fmt.Sprintf("body %d", i), fmt.Sprintf("fp%d", i))
		if i%5 == 0 {
			d.SourceID = "other"
		}
		docs = append(docs, d)
	}
	if _, err := s.SaveDocuments(ctx, docs); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for i := 0; i < 70; i++ {
		keys = append(keys, fmt.Sprintf("k%d", i))
	}
	got, err := s.DocumentHashes(ctx, "src", keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 40 {
		t.Errorf("%d hashes, want the 40 documents of src", len(got))
	}
	for _, d := range docs {
		h, found := got[d.Key]
		switch {
		case d.SourceID != "src" && found:
			t.Errorf("%s: found, but it is another source's", d.Key)
		case d.SourceID == "src" && h != ContentHash(d.Raw):
			t.Errorf("%s: hash %q (found %v), want %q", d.Key, h, found, ContentHash(d.Raw))
		}
	}
}

// CloseForExit leaves a SQLite store as the last close would (the WAL in
// the database file, and empty), with only the writer's connection left
// to the exit; with another process reading the database, it is Close.
func TestCloseForExit(t *testing.T) {
	ctx := context.Background()
	s, path := openTemp(t) // sqlite: the test is not run per engine
	if _, _, err := s.SaveDocument(ctx, testDoc("a.txt", "Body one", "fp1")); err != nil {
		t.Fatal(err)
	}
	if err := s.CloseForExit(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() != 0 {
		t.Errorf("the WAL after CloseForExit: %v, %d bytes; want it emptied into the database", err, sizeOf(fi))
	}
	if n := s.r.Stats().OpenConnections; n != 0 {
		t.Errorf("%d readers open after CloseForExit", n)
	}
	if n := s.w.Stats().OpenConnections; n != 1 {
		t.Errorf("%d writer connections after CloseForExit, want the one left to the exit", n)
	}
	// What the database file holds, with no WAL beside it: the document.
	copyPath := filepath.Join(t.TempDir(), "copy.db")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(copyPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	c := reopen(t, copyPath)
	var docs int
	if err := c.r.QueryRowContext(ctx, "SELECT count(*) FROM documents").Scan(&docs); err != nil || docs != 1 {
		t.Errorf("the database file alone holds %d documents (%v), want 1", docs, err)
	}

	// Another process reading: the WAL stays for it, and every
	// connection of this one is closed.
	s2 := reopen(t, path)
	if _, _, err := s2.SaveDocument(ctx, testDoc("b.txt", "Body two", "fp2")); err != nil {
		t.Fatal(err)
	}
	reader, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	tx, err := reader.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRow("SELECT count(*) FROM documents").Scan(&n); err != nil || n != 2 {
		t.Fatalf("the other process reads %d documents (%v), want 2", n, err)
	}
	if err := s2.CloseForExit(); err != nil {
		t.Fatal(err)
	}
	if n := s2.w.Stats().OpenConnections; n != 0 {
		t.Errorf("%d writer connections after CloseForExit beside a reader, want Close's 0", n)
	}
}

func sizeOf(fi os.FileInfo) int64 {
	if fi == nil {
		return -1
	}
	return fi.Size()
}

// DeliverOnly shrinks SQLite's writer cache from the size made for
// storing releases to the outbox's (crier push runs under it in
// cmd/crier's tests).
func TestDeliverOnly(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t) // sqlite: the test is not run per engine
	cacheSize := func() (kib int64) {
		if err := s.w.QueryRowContext(ctx, `PRAGMA cache_size`).Scan(&kib); err != nil {
			t.Fatal(err)
		}
		return kib
	}
	if kib := cacheSize(); kib != -(4 << 10) {
		t.Fatalf("writer cache_size at open: %d, want %d", kib, -(4 << 10))
	}
	// Sized for a store of 100,000 items, as Warm would.
	if err := sqlite.SizeWriterCache(ctx, s.w.DB, 100_000); err != nil {
		t.Fatal(err)
	}
	if kib := cacheSize(); kib != -(4<<10 + 100_000*5/8) {
		t.Fatalf("writer cache_size for 100,000 items: %d, want %d", kib, -(4<<10 + 100_000*5/8))
	}
	if err := s.DeliverOnly(ctx); err != nil {
		t.Fatal(err)
	}
	if kib := cacheSize(); kib != -deliverCache {
		t.Errorf("writer cache_size under DeliverOnly: %d, want %d", kib, -deliverCache)
	}
}

// A run's lease is its holder's: renewed only by it, while it holds;
// another process claims the run only once it lapsed; recording the run
// ends it, and a renewal after that changes nothing.
func TestRunLeases(t *testing.T) { eachEngine(t, testRunLeases) }

func testRunLeases(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	clock := startClock(s)
	const gap = 30 * time.Minute
	if ok, err := s.ClaimRun(ctx, "src", "a", time.Minute, gap); !ok || err != nil {
		t.Fatalf("first claim: %v %v", ok, err)
	}
	*clock = clock.Add(50 * time.Second)
	if ok, err := s.RenewRun(ctx, "src", "b", time.Minute); ok || err != nil {
		t.Fatalf("another process renewed a lease it does not hold: %v %v", ok, err)
	}
	if ok, err := s.RenewRun(ctx, "src", "a", time.Minute); !ok || err != nil {
		t.Fatalf("the holder's renewal: %v %v", ok, err)
	}
	if st, _ := s.SourceState(ctx, "src"); !st.LeaseUntil.Equal(clock.Add(time.Minute)) {
		t.Fatalf("lease until %v after the renewal, want %v", st.LeaseUntil, clock.Add(time.Minute))
	}
	*clock = clock.Add(50 * time.Second) // past the first lease, within the renewed one
	if ok, _ := s.ClaimRun(ctx, "src", "b", time.Minute, gap); ok {
		t.Fatal("another process claimed a run whose lease was renewed")
	}
	*clock = clock.Add(11 * time.Second) // the holder died: its lease lapsed
	if ok, err := s.RenewRun(ctx, "src", "a", time.Minute); ok || err != nil {
		t.Fatalf("a lapsed lease was renewed: %v %v", ok, err)
	}
	if ok, err := s.ClaimRun(ctx, "src", "b", time.Minute, gap); !ok || err != nil {
		t.Fatalf("the takeover: %v %v", ok, err)
	}
	if err := s.RecordRun(ctx, "src", Run{At: *clock}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.RenewRun(ctx, "src", "b", time.Minute); ok {
		t.Error("a recorded run's lease was renewed")
	}
	if st, _ := s.SourceState(ctx, "src"); !st.LeaseUntil.IsZero() {
		t.Errorf("lease until %v after the run was recorded, want none", st.LeaseUntil)
	}
	*clock = clock.Add(time.Minute)
	if ok, _ := s.ClaimRun(ctx, "src", "a", time.Minute, gap); ok {
		t.Error("a run recorded a minute ago was claimed again within the tick's gap")
	}
}

// TestIdle: SQLite's checkpointer empties a large WAL only while the
// store is idle: no writer open, waiting or announced, and none lately.
func TestIdle(t *testing.T) {
	defer func(d time.Duration) { idleFor = d }(idleFor)
	idleFor = time.Hour
	var s Store
	if !s.idle() {
		t.Error("a store never written is not idle")
	}
	done := s.WillWrite()
	if s.idle() {
		t.Error("a store with a writer announced is idle")
	}
	done()
	if s.idle() {
		t.Error("a store written to just now is idle")
	}
	idleFor = 0
	if !s.idle() {
		t.Error("a store whose writers are over, idleFor ago, is not idle")
	}
}

// TestWALSize: the metrics read the size of SQLite's write-ahead log,
// which grows with what is written; PostgreSQL has none of crier's own.
func TestWALSize(t *testing.T) { eachEngine(t, testWALSize) }

func testWALSize(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	if _, err := s.SaveDocuments(ctx, []Document{testDoc("k1", "a release long enough to be written", "fp1")}); err != nil {
		t.Fatal(err)
	}
	n, ok := s.WALSize()
	if s.pg {
		if ok {
			t.Errorf("WALSize on PostgreSQL: %d, true; want false", n)
		}
		return
	}
	if !ok || n == 0 {
		t.Errorf("WALSize after a write: %d, %v; want some bytes, true", n, ok)
	}
}

// A batch's statements are not watched by the driver one by one: Save
// looks at its context between documents, and a cancelled one stops it
// before the next, its transaction then rolled back.
func TestSaveStopsWhenCancelled(t *testing.T) { eachEngine(t, testSaveStopsWhenCancelled) }

func testSaveStopsWhenCancelled(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	b, err := s.BeginSave(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := b.Save(cancelled, []Document{testDoc("a", "body a", "fp-a"), testDoc("b", "body b", "fp-b")}); !errors.Is(err, context.Canceled) {
		t.Errorf("Save with a cancelled context: %v, want it cancelled", err)
	}
	b.Rollback()
	if h, err := s.DocumentHashes(ctx, "src", []string{"a", "b"}); err != nil || len(h) != 0 {
		t.Errorf("after a cancelled Save: %v stored (%v), want none", h, err)
	}
}
