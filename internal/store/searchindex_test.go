package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/crier-hub/crier/internal/store/sqlite"
)

// searchFixture stores 30 releases about "lantern" in a new SQLite store,
// corrects one away from the word, retracts another, and deletes a third
// document's source item: 27 found.
func searchFixture(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	var docs []Document
	for i := 0; i < 30; i++ {
		key := fmt.Sprintf("l%d", i)
		docs = append(docs, testDoc(key, fmt.Sprintf("The lantern of pier%d was lit at dusk.", i), "fp"+key))
	}
	if _, err := s.SaveDocuments(ctx, docs); err != nil {
		t.Fatal(err)
	}
	fixed := testDoc("l1", "The beacon of pier1 was lit at dusk.", "fpl1")
	fixed.Raw = []byte("corrected")
	if _, err := s.SaveDocuments(ctx, []Document{fixed}); err != nil {
		t.Fatal(err)
	}
	var uid string
	if err := s.r.QueryRowContext(ctx, `SELECT i.uid FROM documents d JOIN items i ON i.id = d.item_id WHERE d.key = 'l2'`).Scan(&uid); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Retract(ctx, uid); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RemoveDocuments(ctx, "src", []string{"l3"}); err != nil {
		t.Fatal(err)
	}
}

// found counts the items a search finds.
func found(t *testing.T, s *Store, q string) int {
	t.Helper()
	items, err := s.Items(context.Background(), Query{Search: mustSearch(t, q), Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return len(items)
}

// indexRows counts the rows of the search index that match a word,
// whatever the store holds: rows left behind or written twice show here.
func indexRows(t *testing.T, s *Store, word string) int {
	t.Helper()
	var n int
	if err := s.r.QueryRowContext(context.Background(), `SELECT count(*) FROM search.items_fts WHERE items_fts MATCH ?`, word).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// removeSearchFile deletes the search index of the store at path.
func removeSearchFile(t *testing.T, path string) {
	t.Helper()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(sqlite.SearchPath(path) + suffix); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
}

// The search index is a file that can be made again: deleted, it is
// rebuilt from the items at the next open; beside another store, or
// older than the store's log, it is rebuilt too; and a rebuild leaves
// no row twice and none of an item retracted, deleted or corrected away.
func TestSearchIndexRebuilt(t *testing.T) {
	ctx := context.Background()
	restoreAfterClose(t)
	rebuildChunk = 7 // a rebuild of several transactions
	s, path := openTemp(t)
	searchFixture(t, s)
	if n := found(t, s, "lantern"); n != 27 {
		t.Fatalf("lantern found in %d items, want 27", n)
	}
	if n := indexRows(t, s, "lantern"); n != 27 {
		t.Fatalf("%d rows of the index match lantern, want 27", n)
	}
	s.Close()

	// Deleted: made again.
	removeSearchFile(t, path)
	s = reopen(t, path)
	if n := found(t, s, "lantern"); n != 27 {
		t.Errorf("lantern found in %d items after the index was deleted, want 27", n)
	}
	if n, m := found(t, s, "beacon"), indexRows(t, s, "lantern"); n != 1 || m != 27 {
		t.Errorf("after the rebuild: beacon found in %d items (want 1), %d rows match lantern (want 27)", n, m)
	}
	// Items stored after the rebuild are applied from the log, once each.
	if _, err := s.SaveDocuments(ctx, []Document{testDoc("l100", "A lantern for pier100.", "fpl100")}); err != nil {
		t.Fatal(err)
	}
	if n, m := found(t, s, "lantern"), indexRows(t, s, "lantern"); n != 28 || m != 28 {
		t.Errorf("after one more release: lantern found in %d items, %d index rows; want 28 and 28", n, m)
	}
	s.Close()

	// The index of another store beside this one: made again.
	other, otherPath := openTemp(t)
	if _, err := other.SaveDocuments(ctx, []Document{testDoc("x", "A lantern elsewhere.", "fpx")}); err != nil {
		t.Fatal(err)
	}
	if n := found(t, other, "lantern"); n != 1 {
		t.Fatalf("the other store found lantern in %d items, want 1", n)
	}
	other.Close()
	removeSearchFile(t, path)
	raw, err := os.ReadFile(sqlite.SearchPath(otherPath))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sqlite.SearchPath(path), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, path)
	if n, m := found(t, s, "lantern"), indexRows(t, s, "lantern"); n != 28 || m != 28 {
		t.Errorf("with another store's index beside it: lantern found in %d items, %d index rows; want 28 and 28", n, m)
	}
	if n := found(t, s, "elsewhere"); n != 0 {
		t.Errorf("the other store's release found in this one (%d)", n)
	}
	s.Close()
}

// An index older than what the store's log still holds (a copy of the
// file kept from before the log was trimmed past it) is rebuilt, not
// applied from a log with entries missing.
func TestSearchIndexBehindTheLogRebuilt(t *testing.T) {
	ctx := context.Background()
	restoreAfterClose(t)
	trimEvery, searchBatch = 5, 1
	defer func(n int64) { trimEvery = n }(trimEvery)
	s, path := openTemp(t)
	if _, err := s.SaveDocuments(ctx, []Document{testDoc("a", "An early lantern.", "fpa")}); err != nil {
		t.Fatal(err)
	}
	s.WaitForMerges(ctx)
	s.Close()
	old, err := os.ReadFile(sqlite.SearchPath(path))
	if err != nil {
		t.Fatal(err)
	}
	s = reopen(t, path)
	for i := 0; i < 20; i++ {
		if _, err := s.SaveDocuments(ctx, []Document{testDoc(fmt.Sprintf("b%d", i), "A later lantern.", fmt.Sprintf("fpb%d", i))}); err != nil {
			t.Fatal(err)
		}
		s.searchSettled()
	}
	var first int64
	if err := s.r.QueryRowContext(ctx, `SELECT min(seq) FROM search_log`).Scan(&first); err != nil || first <= 2 {
		t.Fatalf("the log starts at entry %d (%v): it was not trimmed", first, err)
	}
	s.Close()
	removeSearchFile(t, path)
	if err := os.WriteFile(sqlite.SearchPath(path), old, 0o600); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, path)
	if n, m := found(t, s, "lantern"), indexRows(t, s, "lantern"); n != 21 || m != 21 {
		t.Errorf("with an index older than the log: lantern found in %d items, %d index rows; want 21 and 21", n, m)
	}
}

// The index's transactions never hold the store's writer: with another
// connection holding the index's write lock, releases are still stored,
// and a search finds them once the lock is let go.
func TestSearchIndexNeverHoldsTheWriter(t *testing.T) {
	ctx := context.Background()
	s, path := openTemp(t)
	s.searchSettled()     // the index is made (a new store's, empty)
	s.searchLoopMu.Lock() // and the indexer waits, as it would behind the lock
	holder, err := sql.Open("sqlite", sqlite.SearchPath(path))
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	conn, err := holder.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	saved := make(chan error, 1)
	go func() {
		for i := 0; i < 5; i++ {
			if _, err := s.SaveDocuments(ctx, []Document{testDoc(fmt.Sprintf("h%d", i), "The harbour lantern.", fmt.Sprintf("fph%d", i))}); err != nil {
				saved <- err
				return
			}
		}
		saved <- s.RecordRun(ctx, "src", Run{At: time.Now()})
	}()
	select {
	case err := <-saved:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("storing releases waited for the search index's lock")
	}
	if _, err := conn.ExecContext(ctx, `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	s.searchLoopMu.Unlock()
	if n := found(t, s, "harbour"); n != 5 {
		t.Errorf("harbour found in %d items once the lock was let go, want 5", n)
	}
}

// The indexer pauses for a run making releases (Making) until it is done,
// or searchYield at most, and not at all when a search waits for it.
func TestIndexerYieldsToRuns(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	yielded := func() <-chan struct{} {
		c := make(chan struct{})
		go func() { s.yieldToRuns(ctx); close(c) }()
		return c
	}
	select {
	case <-yielded():
	case <-time.After(time.Minute):
		t.Fatal("the indexer paused with no run making releases")
	}
	defer func(d time.Duration) { searchYield = d }(searchYield)
	searchYield = time.Hour
	done := s.Making()
	c := yielded()
	select {
	case <-c:
		t.Fatal("the indexer went on while a run made releases")
	case <-time.After(50 * time.Millisecond):
	}
	done()
	select {
	case <-c:
	case <-time.After(time.Minute):
		t.Fatal("the indexer stayed paused after the run was done making")
	}
	done = s.Making()
	defer done()
	s.searchWaiters.Add(1)
	select {
	case <-yielded():
	case <-time.After(time.Minute):
		t.Fatal("the indexer paused while a search waited for it")
	}
	s.searchWaiters.Add(-1)
}

// A search index that cannot be read (damaged, or of another crier's
// version) does not stop the store from opening: it is made anew.
func TestDamagedSearchIndexMadeAnew(t *testing.T) {
	s, path := openTemp(t)
	searchFixture(t, s)
	s.Close()
	removeSearchFile(t, path)
	if err := os.WriteFile(sqlite.SearchPath(path), []byte("this is not a database, whatever its name says"), 0o600); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, path)
	if n := found(t, s, "lantern"); n != 27 {
		t.Errorf("lantern found in %d items after the damaged index was made anew, want 27", n)
	}
	s.Close()
	// Of a later version.
	db, err := sql.Open("sqlite", sqlite.SearchPath(path))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`PRAGMA user_version = 9`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s = reopen(t, path)
	if n := found(t, s, "lantern"); n != 27 {
		t.Errorf("lantern found in %d items after another version's index was made anew, want 27", n)
	}
}

// SearchBacklog counts the items waiting for the search index, those of
// a rebuild under way included, and is absent on PostgreSQL.
func TestSearchBacklog(t *testing.T) { eachEngine(t, testSearchBacklog) }

func testSearchBacklog(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	backlog := func() int64 {
		t.Helper()
		n, ok, err := s.SearchBacklog(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ok == s.pg {
			t.Fatalf("SearchBacklog's ok is %v on %s", ok, engineOf(t))
		}
		return n
	}
	s.searchSettled()
	s.searchLoopMu.Lock()
	_, err := s.SaveDocuments(ctx, numberedDocs(0, 30))
	if err != nil {
		s.searchLoopMu.Unlock()
		t.Fatal(err)
	}
	want := int64(30)
	if s.pg {
		want = 0
	}
	if n := backlog(); n != want {
		t.Errorf("backlog %d after 30 releases with the indexer held off, want %d", n, want)
	}
	s.searchLoopMu.Unlock()
	s.WaitForMerges(ctx)
	if n := backlog(); n != 0 {
		t.Errorf("backlog %d once the indexer is done, want 0", n)
	}
	if s.pg {
		return
	}
	// A rebuild under way counts the ids it has yet to index: ids 11 to
	// 30 (the state a rebuild leaves after its first chunk of 10), with
	// the indexer held off, and the state then put back.
	s.searchLoopMu.Lock()
	s.searchMu.Lock()
	_, err = s.search.ExecContext(ctx, `UPDATE search_state SET rebuild_next = 11, rebuild_upto = 30`)
	s.searchMu.Unlock()
	if err != nil {
		s.searchLoopMu.Unlock()
		t.Fatal(err)
	}
	n := backlog()
	s.searchMu.Lock()
	_, err = s.search.ExecContext(ctx, `UPDATE search_state SET rebuild_next = 31`)
	s.searchMu.Unlock()
	s.searchLoopMu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if n != 20 {
		t.Errorf("backlog %d with a rebuild at id 11 of 30, want 20", n)
	}
	if n := backlog(); n != 0 {
		t.Errorf("backlog %d after the rebuild, want 0", n)
	}
}

// The indexer takes the text of items this process just inserted from
// memory, but only where the log says the item stands as inserted: an
// item changed or retracted before the indexer came to it is read from
// the store.
func TestFreshTextFollowsTheLog(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	s.searchSettled()
	s.searchLoopMu.Lock() // the indexer waits until all is stored
	save := func(d Document) {
		t.Helper()
		if _, err := s.SaveDocuments(ctx, []Document{d}); err != nil {
			t.Fatal(err)
		}
	}
	save(testDoc("changed", "The lantern of the first pier.", "fp1"))
	fixed := testDoc("changed", "The beacon of the first pier.", "fp1b")
	fixed.Raw = []byte("corrected")
	save(fixed)
	save(testDoc("retracted", "The lantern of the second pier.", "fp2"))
	var uid string
	if err := s.r.QueryRowContext(ctx, `SELECT i.uid FROM documents d JOIN items i ON i.id = d.item_id WHERE d.key = 'retracted'`).Scan(&uid); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Retract(ctx, uid); err != nil {
		t.Fatal(err)
	}
	save(testDoc("kept", "The lantern of the third pier.", "fp3"))
	s.searchLoopMu.Unlock()
	if n := found(t, s, "lantern"); n != 1 {
		t.Errorf("lantern found in %d items, want 1 (the first was corrected away, the second retracted)", n)
	}
	if n := found(t, s, "beacon"); n != 1 {
		t.Errorf("beacon found in %d items, want the corrected one", n)
	}
	if n := indexRows(t, s, "pier"); n != 2 {
		t.Errorf("the index holds %d rows for pier, want 2", n)
	}
	s.fresh.mu.Lock()
	defer s.fresh.mu.Unlock()
	if s.fresh.taken != 1 {
		t.Errorf("%d texts taken from memory, want 1 (the item stored and left alone)", s.fresh.taken)
	}
	if len(s.fresh.texts) != 0 || s.fresh.bytes != 0 {
		t.Errorf("%d texts (%d bytes) kept after indexing, want none", len(s.fresh.texts), s.fresh.bytes)
	}
}

// An item inserted and changed in one transaction is logged in that
// order (its insert is logged as the transaction commits, or before the
// first change): an index that applies the log an entry at a time holds
// the item once, as it stands.
func TestInsertLoggedBeforeChange(t *testing.T) {
	defer func(n int) { searchApply = n }(searchApply)
	searchApply = 1
	ctx := context.Background()
	s, _ := openTemp(t)
	s.searchSettled()
	first := testDoc("twice", "The lantern of the pier.", "fp1")
	second := testDoc("twice", "The beacon of the pier.", "fp2")
	second.Raw = []byte("changed")
	saved, err := s.SaveDocuments(ctx, []Document{first, second, testDoc("other", "The lantern of the quay.", "fp3")})
	if err != nil || saved[0].Status != Added || saved[1].Status != Updated {
		t.Fatalf("saved %v (%v), want added then updated", saved, err)
	}
	// The log itself: the item's insert, then its change.
	entries, err := scanColumn[int64](s.r.QueryContext(ctx, `SELECT l.changed FROM search_log l JOIN documents d ON d.item_id = l.item_id WHERE d.key = 'twice' ORDER BY l.seq`))
	if err != nil || fmt.Sprint(entries) != "[0 1]" {
		t.Errorf("the log's entries for the item, in order: %v (%v), want [0 1] (inserted, then changed)", entries, err)
	}
	if n := found(t, s, "beacon"); n != 1 {
		t.Errorf("beacon found in %d items, want 1", n)
	}
	if n := found(t, s, "lantern"); n != 1 {
		t.Errorf("lantern found in %d items, want the other one", n)
	}
	if n := indexRows(t, s, "pier"); n != 1 {
		t.Errorf("the index holds %d rows for the item stored and changed at once, want 1", n)
	}
}

// A search index without word positions (version 2, made by builds of
// 2026-12-07 that were not kept) is made anew with them, and phrases are
// found by the index.
func TestSearchIndexWithoutPositionsMadeAnew(t *testing.T) {
	s, path := openTemp(t)
	searchFixture(t, s)
	s.Close()
	db, err := sql.Open("sqlite", sqlite.SearchPath(path))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`DROP TABLE items_fts`,
		`CREATE VIRTUAL TABLE items_fts USING fts5(title, body, content='', contentless_delete=1, detail=none, tokenize='unicode61 remove_diacritics 2')`,
		`PRAGMA user_version = 2`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s = reopen(t, path)
	var def string
	if err := s.r.QueryRow(`SELECT sql FROM search.sqlite_master WHERE name = 'items_fts'`).Scan(&def); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(def, "detail=none") {
		t.Errorf("the index without positions is kept: %s", def)
	}
	for q, want := range map[string]int{
		"lantern":                   27,
		`"lantern of pier7"`:        1,
		`"lantern of pier"`:         0,  // pier7 is one word
		`"lit at dusk"`:             28, // the corrected one too
		`"dusk at lit"`:             0,
		`lantern -"of pier7 was"`:   26,
		`"the beacon" "pier1 was"`:  1,
		`"the beacon" -"pier1 was"`: 0,
	} {
		if n := found(t, s, q); n != want {
			t.Errorf("%s found in %d items, want %d", q, n, want)
		}
	}
}
