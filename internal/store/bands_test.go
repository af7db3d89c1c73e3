package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crier-hub/crier/internal/minhash"
)

// Near-duplicates are found whichever level holds the other copy's band
// keys: before a merge, after it, and after a correction moved them;
// a retracted item's keys leave both levels; and once enough keys wait,
// a merge starts by itself and loses none.
func TestBandLevels(t *testing.T) { eachEngine(t, func(t *testing.T) { testBandLevels(t, false) }) }

// The same with the near-duplicate filter of a warmed store in front.
func TestBandLevelsFiltered(t *testing.T) {
	eachEngine(t, func(t *testing.T) { testBandLevels(t, true) })
}

func testBandLevels(t *testing.T, warm bool) {
	ctx := context.Background()
	restoreAfterClose(t)
	mergeChunk = 3 // merges of many chunks
	s, dsn := openTemp(t)
	if warm {
		if err := s.Warm(ctx); err != nil {
			t.Fatal(err)
		}
	}
	words := func(seed int) string {
		var w []string
		for i := 0; i < 120; i++ {
			w = append(w, fmt.Sprintf("w%d", (i*7+seed*131)%997))
		}
		return strings.Join(w, " ")
	}
	doc := func(key, body string) Document {
		return signedDoc(key, body, "fp-"+key) // distinct fingerprints: only bands can match
	}
	count := func(table string) int {
		t.Helper()
		var n int
		if err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	save := func(d Document) (string, SaveStatus) {
		t.Helper()
		saved, err := s.SaveDocuments(ctx, []Document{d})
		if err != nil {
			t.Fatal(err)
		}
		return saved[0].UID, saved[0].Status
	}
	near := func(seed int) string { return words(seed) + " one more sentence at the end" }

	a, _ := save(doc("a", words(1)))
	if uid, st := save(doc("a-copy", near(1))); st != Merged || uid != a {
		t.Fatalf("a copy, keys waiting: %v into %s, want merged into %s", st, uid, a)
	}
	if n := s.waiting.held(); n != minhash.Bands || count("item_bands") != 0 {
		t.Fatalf("before a merge: %d keys waiting, %d merged, want %d and 0", n, count("item_bands"), minhash.Bands)
	}
	// Another process, or this one restarted, reads the waiting keys
	// from the items' signatures.
	if saved, err := reopen(t, dsn).SaveDocuments(ctx, []Document{doc("a-copy-elsewhere", near(1)+" told elsewhere")}); err != nil || saved[0].Status != Merged || saved[0].UID != a {
		t.Fatalf("a copy stored by another process, keys waiting: %v (%v), want merged into %s", saved, err, a)
	}
	if err := s.MergeBands(ctx); err != nil {
		t.Fatal(err)
	}
	if n := s.waiting.held(); n != 0 || count("item_bands") != minhash.Bands {
		t.Fatalf("after a merge: %d waiting, %d merged, want 0 and %d", n, count("item_bands"), minhash.Bands)
	}
	if !s.pg { // the writer's cache follows the store's size
		var kib, items int64
		s.w.QueryRowContext(ctx, `PRAGMA cache_size`).Scan(&kib)
		s.r.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'item_count'`).Scan(&items)
		if want := -(4<<10 + items*5/8); kib != want {
			t.Errorf("writer cache_size after a merge: %d, want %d for %d items", kib, want, items)
		}
	}
	var merged, newest int64
	if err := s.r.QueryRowContext(ctx, `SELECT (SELECT value FROM counters WHERE name = 'bands_merged'), (SELECT max(id) FROM items)`).Scan(&merged, &newest); err != nil || merged != newest {
		t.Errorf("bands_merged after a merge: %d (%v), want the newest item, %d", merged, err, newest)
	}
	// A process opened now reads no waiting keys: the watermark is past
	// every item.
	if w, err := reopen(t, dsn).catchUpWaiting(ctx); err != nil || w.held() != 0 {
		t.Errorf("a new process holds waiting keys after a merge (%v)", err)
	}
	if uid, st := save(doc("a-second-copy", near(1)+" and another")); st != Merged || uid != a {
		t.Fatalf("a copy, keys merged: %v into %s, want merged into %s", st, uid, a)
	}
	// A correction replaces the item's keys in both levels.
	b, _ := save(doc("b", words(2)))
	if err := s.MergeBands(ctx); err != nil {
		t.Fatal(err)
	}
	corrected := doc("b", words(3))
	corrected.Raw = []byte("corrected")
	save(corrected)
	var bID int64
	var bKeys int
	if err := s.r.QueryRowContext(ctx, `SELECT id FROM items WHERE uid = ?`, b).Scan(&bID); err != nil {
		t.Fatal(err)
	}
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM item_bands WHERE item_id = ?`, bID).Scan(&bKeys); err != nil {
		t.Fatal(err)
	}
	for _, r := range s.waiting.rows() {
		if r.item == bID {
			bKeys++
		}
	}
	if bKeys != minhash.Bands {
		t.Errorf("a corrected item has %d band keys, want %d: the old ones stayed", bKeys, minhash.Bands)
	}
	if uid, st := save(doc("old-b-copy", near(2))); st != Added || uid == b {
		t.Errorf("a copy of b's old text: %v into %s, want a new item", st, uid)
	}
	if uid, st := save(doc("new-b-copy", near(3))); st != Merged || uid != b {
		t.Errorf("a copy of b's corrected text: %v into %s, want merged into %s", st, uid, b)
	}
	// A retracted item's keys leave both levels.
	if _, err := s.Retract(ctx, a); err != nil {
		t.Fatal(err)
	}
	if uid, st := save(doc("a-late-copy", near(1)+" late")); st != Added || uid == a {
		t.Errorf("a copy of a retracted item: %v into %s, want a new item", st, uid)
	}
	// Enough keys waiting start a merge by themselves.
	minBandBatch = 1 // restored after the store closes
	for i := 10; i < 40; i++ {
		save(doc(fmt.Sprintf("many-%d", i), words(i)))
	}
	// A merge started by the last save holds the merge lock, which
	// BandsWaiting waits for.
	if n, err := s.BandsWaiting(ctx); err != nil || n >= 30*minhash.Bands {
		t.Errorf("%d keys still waiting (%v): no merge started by itself", n, err)
	}
	// Every item not retracted has its keys once, in one level or the
	// other.
	keys := map[bandRow]int{}
	for _, r := range mergedKeys(t, s) {
		keys[r]++
	}
	for _, r := range s.waiting.rows() {
		keys[r]++
	}
	items := map[int64]bool{}
	for r, n := range keys {
		if n != 1 {
			t.Errorf("key %v held %d times", r, n)
		}
		items[r.item] = true
	}
	var live int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM items WHERE retracted = ''`).Scan(&live); err != nil {
		t.Fatal(err)
	}
	if len(keys) != live*minhash.Bands || len(items) != live {
		t.Errorf("%d keys of %d items, want %d of the %d items not retracted: a merge lost some", len(keys), len(items), live*minhash.Bands, live)
	}
}

// The filter of a warmed store learns the items other processes store
// (here a second handle on the same database) before it is consulted,
// and spares the lookup of releases that copy nothing.
func TestBandFilterSeesOtherProcesses(t *testing.T) { eachEngine(t, testBandFilterSeesOtherProcesses) }

func testBandFilterSeesOtherProcesses(t *testing.T) {
	ctx := context.Background()
	a, dsn := openTemp(t)
	b := reopen(t, dsn)
	body := func(seed int) string { // unrelated texts for unrelated seeds
		rng := rand.New(rand.NewPCG(uint64(seed), 7))
		var w []string
		for i := 0; i < 120; i++ {
			w = append(w, fmt.Sprintf("v%d", rng.IntN(100000)))
		}
		return strings.Join(w, " ")
	}
	doc := func(key, text string) Document {
		return signedDoc(key, text, "fp-"+key)
	}
	save := func(s *Store, d Document) (string, SaveStatus) {
		t.Helper()
		saved, err := s.SaveDocuments(ctx, []Document{d})
		if err != nil {
			t.Fatal(err)
		}
		return saved[0].UID, saved[0].Status
	}
	save(a, doc("x", body(1)))
	if err := a.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	if a.bandFilter.Load() == nil {
		t.Fatal("Warm built no near-duplicate filter")
	}
	if uid, st := save(a, doc("x-copy", body(1)+" with a last line")); st != Merged {
		t.Errorf("a copy of an item the filter was built with: %v (%s)", st, uid)
	}
	y, _ := save(b, doc("y", body(2))) // stored by another process
	if uid, st := save(a, doc("y-copy", body(2)+" with a last line")); st != Merged || uid != y {
		t.Errorf("a copy of an item another process stored: %v into %s, want merged into %s", st, uid, y)
	}
	if err := a.MergeBands(ctx); err != nil {
		t.Fatal(err)
	}
	z, _ := save(b, doc("z", body(3)))
	if err := b.MergeBands(ctx); err != nil { // z's keys are merged before a sees them
		t.Fatal(err)
	}
	if uid, st := save(a, doc("z-copy", body(3)+" with a last line")); st != Merged || uid != z {
		t.Errorf("a copy of an item another process stored and merged: %v into %s, want merged into %s", st, uid, z)
	}
	// Releases that copy nothing are mostly not looked up at all.
	var mu sync.Mutex
	lookups := 0
	if !a.pg {
		setTraceSQL(func(q string) {
			if strings.Contains(q, "SELECT item_id FROM item_bands WHERE") {
				mu.Lock()
				lookups++
				mu.Unlock()
			}
		})
		defer setTraceSQL(nil)
		for i := 10; i < 30; i++ {
			if _, st := save(a, doc(fmt.Sprintf("unique-%d", i), body(i))); st != Added {
				t.Fatalf("an unrelated release was %v", st)
			}
		}
		setTraceSQL(nil)
		mu.Lock()
		defer mu.Unlock()
		if lookups >= 10 {
			t.Errorf("%d of 20 releases that copy nothing were looked up despite the filter", lookups)
		}
	}
}

// A merge's chunks are sized to hold the writer about mergeHold: halved
// at most while they take longer, down to minMergeChunk, doubled at most
// while they take less, up to mergeChunk.
func TestMergeChunksFollowTheirTime(t *testing.T) {
	slow, quick := 4*mergeHold, mergeHold/4
	size := mergeChunk
	for range 20 {
		size = nextChunk(size, slow)
	}
	if size != minMergeChunk {
		t.Errorf("chunks that keep holding the writer %v: %d keys, want the floor %d", slow, size, minMergeChunk)
	}
	for range 20 {
		size = nextChunk(size, quick)
	}
	if size != mergeChunk {
		t.Errorf("chunks that take %v: %d keys, want the ceiling %d", quick, size, mergeChunk)
	}
	for _, c := range []struct {
		size int
		took time.Duration
		want int
	}{
		{2048, slow, 1024},              // halved at most
		{2048, mergeHold * 5 / 4, 1638}, // in proportion
		{2048, mergeHold, 2048},         // on time
		{2048, mergeHold * 4 / 5, 2560}, // in proportion
		{2048, quick, 4096},             // doubled at most
		{2048, 0, 4096},                 // too quick to time
	} {
		if got := nextChunk(c.size, c.took); got != c.want {
			t.Errorf("a chunk of %d keys that took %v: the next is %d keys, want %d", c.size, c.took, got, c.want)
		}
	}
	// The search index's merge, by pages, within its own bounds.
	for _, c := range []struct {
		pages int
		took  time.Duration
		want  int
	}{
		{128, 160 * time.Millisecond, 64},                 // halved at most
		{64, 2 * searchHold, 32},                          // in proportion
		{minSearchChunk, 10 * searchHold, minSearchChunk}, // the floor
		{maxSearchChunk, 0, maxSearchChunk},               // the ceiling
	} {
		if got := adaptChunk(c.pages, c.took, searchHold, minSearchChunk, maxSearchChunk); got != c.want {
			t.Errorf("a search merge chunk of %d pages that took %v: the next is %d pages, want %d", c.pages, c.took, got, c.want)
		}
	}
}

// putBandKeys puts n band keys (key x*step for x from 1, its band x%16)
// straight into item_bands of a SQLite store, for items that are not
// there.
func putBandKeys(t *testing.T, s *Store, n, step int) {
	t.Helper()
	q := fmt.Sprintf(`WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < %d)
		INSERT INTO item_bands (band, key, item_id) SELECT x %% 16, x * %d, x FROM c`, n, step)
	if _, err := s.w.ExecContext(context.Background(), q); err != nil {
		t.Fatal(err)
	}
}

// waitKeys puts n band keys (key x*step for x from 1, its band x%16)
// among the waiting keys of s, for items that are not there, and holds
// them as if the items up to n had been stored: a merge then moves the
// watermark to n, and the test must store no more items.
func waitKeys(t *testing.T, s *Store, n, step int) {
	t.Helper()
	w, err := s.catchUpWaiting(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for x := 1; x <= n; x++ {
		w.addKey(bandKey{int64(x * step), x % 16}, int64(x))
	}
	w.upTo = max(w.upTo, int64(n))
}

// readCalls is how many read system calls this process has made (Linux;
// -1 where /proc/self/io cannot be read).
func readCalls() int {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "syscr:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return -1
}

// Warm leaves the writer's cache holding what it read: the near-duplicate
// filter, whose reader shares the connections' least-recently-used list
// of pages and then lets its memory go, is built before, not after. The
// writer then counts a band's keys again without reading the database
// file.
func TestWarmKeepsTheWritersPages(t *testing.T) {
	if readCalls() < 0 {
		t.Skip("this test counts read calls in /proc/self/io (Linux)")
	}
	ctx := context.Background()
	s, _ := openTemp(t) // SQLite: page caches are its own
	// Band keys enough for hundreds of pages, put in directly: the test is
	// of the caches, not of storing releases.
	putBandKeys(t, s, 200000, 7919)
	var pages int
	if err := s.w.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if err := s.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	before := readCalls()
	var n int
	if err := s.w.QueryRowContext(ctx, `SELECT count(*) FROM item_bands WHERE band = 5`).Scan(&n); err != nil || n != 200000/16 {
		t.Fatalf("counted %d keys of band 5 (%v), want %d", n, err, 200000/16)
	}
	if reads := readCalls() - before; reads > 20 {
		t.Errorf("the writer read the database %d times to count a band's keys right after Warm (a %d-page store): its cache lost what Warm read", reads, pages)
	}
}

// A merge gives way to the store's other writers: a writer that takes the
// writer again right after letting it go (a source's run storing its
// releases, then recording the run) does not wait for a merge's chunk in
// between, while the merge still moves its chunks in the pauses.
func TestMergeGivesWayToWriters(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t) // SQLite: one writer for all
	defer func(n int, gap, yield time.Duration) { mergeChunk, mergeGap, mergeYield = n, gap, yield }(mergeChunk, mergeGap, mergeYield)
	mergeChunk, mergeGap, mergeYield = 50, 50*time.Millisecond, time.Minute
	waitKeys(t, s, 20000, 104729)
	mctx, cancel := context.WithCancel(ctx)
	merged := make(chan struct{})
	go func() { defer close(merged); s.MergeBands(mctx) }()
	defer func() { cancel(); <-merged }()
	twice := func() (between int64) {
		t.Helper()
		tx, err := s.begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Held long enough for the merge to be ready for its next chunk
		// by the time the writer is let go.
		time.Sleep(3 * mergeGap)
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		before := s.MergeActivity().Chunks
		tx, err = s.begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		between = s.MergeActivity().Chunks - before
		tx.Rollback()
		return between
	}
	start := s.MergeActivity().Chunks
	for i := 0; i < 5; i++ {
		if n := twice(); n != 0 {
			t.Errorf("round %d: %d merge chunks went between a writer's two transactions", i, n)
		}
		time.Sleep(4 * mergeGap) // a pause: the merge's turn
	}
	if moved := s.MergeActivity().Chunks - start; moved == 0 {
		t.Error("the merge moved no chunk in the writers' pauses")
	}
}

// A source's run that said it will write (WillWrite) has no merge chunk
// start before it says it is done, however long it parses.
func TestMergeWaitsForAnnouncedWriter(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	defer func(n int, gap, yield time.Duration) { mergeChunk, mergeGap, mergeYield = n, gap, yield }(mergeChunk, mergeGap, mergeYield)
	mergeChunk, mergeGap, mergeYield = 50, 5*time.Millisecond, time.Minute
	waitKeys(t, s, 2000, 104729)
	done := s.WillWrite()
	merged := make(chan error, 1)
	go func() { merged <- s.MergeBands(ctx) }()
	time.Sleep(20 * mergeGap) // a run parsing its documents
	if n := s.MergeActivity().Chunks; n != 0 {
		t.Errorf("%d merge chunks while a run said it will write, want 0", n)
	}
	done()
	done() // a second call changes nothing
	if err := <-merged; err != nil {
		t.Fatal(err)
	}
	if n := s.MergeActivity().Chunks; n == 0 {
		t.Error("the merge moved no chunk once the run was done")
	}
	if n := s.writing.Load(); n != 0 {
		t.Errorf("%d writers counted after the run and the merge, want 0", n)
	}
}

// A merge's chunk stops between two statements once a run says it will
// write (or a writer waits), and commits what it did; the next chunk,
// taken after waiting mergeYield for the run, is whole. Nothing is lost.
func TestMergeChunkCutShort(t *testing.T) { eachEngine(t, testMergeChunkCutShort) }

func testMergeChunkCutShort(t *testing.T) {
	ctx := context.Background()
	restoreAfterClose(t)
	gap, yield := mergeGap, mergeYield
	t.Cleanup(func() { mergeGap, mergeYield, chunkStep = gap, yield, nil }) // once the store is closed
	mergeGap, mergeYield = time.Millisecond, 20*time.Millisecond
	s, _ := openTemp(t)
	var done func()
	chunkStep = func() {
		if done == nil {
			done = s.WillWrite() // a run comes after the chunk's first statement
		}
	}
	// The keys: 200 in one chunk of 256, 64 a statement.
	waitKeys(t, s, 200, 7919)
	if err := s.MergeBands(ctx); err != nil {
		t.Fatal(err)
	}
	done()
	if n := s.MergeActivity().Chunks; n != 2 {
		t.Errorf("200 keys merged in %d transactions, want 2 (64 before the run came, the rest after it waited)", n)
	}
	if n := len(mergedKeys(t, s)); n != 200 {
		t.Errorf("%d keys in item_bands after the merge, want 200", n)
	}
}

// WaitForMerges returns with the merges the commits asked for done, even
// when no merger is left to do them: the items that waited for the
// search index are indexed, and no merge is asked for any more.
func TestWaitForMerges(t *testing.T) {
	ctx := context.Background()
	restoreAfterClose(t)
	searchBatch = 20
	s, _ := openTemp(t)
	s.mergeMu.Lock()      // the commit starts no merger
	s.searchLoopMu.Lock() // and the indexer waits
	_, err := s.SaveDocuments(ctx, numberedDocs(0, 30))
	s.mergeMu.Unlock()
	if err != nil {
		s.searchLoopMu.Unlock()
		t.Fatal(err)
	}
	if waiting, _, err := s.SearchBacklog(ctx); err != nil || waiting != 30 {
		t.Errorf("%d items wait for the search index with the indexer held off (%v), want 30", waiting, err)
	}
	s.searchLoopMu.Unlock()
	s.WaitForMerges(ctx)
	if waiting, _, err := s.SearchBacklog(ctx); err != nil || waiting != 0 {
		t.Errorf("%d items wait for the search index after WaitForMerges (%v), want 0", waiting, err)
	}
	if s.bandsWanted.Load() {
		t.Error("a merge is still asked for after WaitForMerges")
	}
}

// searchSegments counts the segments of the search index (SQLite).
func searchSegments(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	if err := s.r.QueryRowContext(context.Background(), `SELECT count(DISTINCT segid) FROM items_fts_idx`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSearchMergedInTheBackground checks that commits indexing items for
// search leave the index's segments to the merge in the background
// (migration 0026, mergeSearchChunk), and that the merge leaves every item
// found. SQLite only: PostgreSQL's search index has no segments.
func TestSearchMergedInTheBackground(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	segments := func() int { return searchSegments(t, s) }
	// A commit of 40 items of 200 words each: enough index written for
	// FTS5's automerge, whose work is in proportion to it, to merge
	// segments in the commits if it were on.
	save := func(i int) {
		t.Helper()
		var docs []Document
		for j := 0; j < 40; j++ {
			var body strings.Builder
			fmt.Fprintf(&body, "The harbour office registered word%d families today.", i)
			for w := 0; w < 200; w++ {
				fmt.Fprintf(&body, " w%d", (i*40+j)*200+w)
			}
			key := fmt.Sprintf("k%d-%d", i, j)
			docs = append(docs, testDoc(key, body.String(), "fp"+key))
		}
		if _, err := s.SaveDocuments(ctx, docs); err != nil {
			t.Fatal(err)
		}
	}
	// With the merge held off, every commit's items indexed (as a search
	// indexes what waits) leave a segment of their own: the writers merge
	// nothing (FTS5 would merge in the commit at 4 with its automerge).
	// The background merge takes a level of 16 segments or more
	// (migration 0028), under FTS5's crisis merge, at 32.
	const commits = 20
	s.searchLoopMu.Lock()
	for i := 0; i < commits; i++ {
		save(i)
		if err := s.indexSearch(ctx, 1); err != nil {
			s.searchLoopMu.Unlock()
			t.Fatal(err)
		}
	}
	before := segments()
	chunks := s.searchMerged()
	s.searchLoopMu.Unlock()
	if before < commits {
		t.Fatalf("%d segments after %d commits with the background merge held off: the commits merged them", before, commits)
	}
	// The commits woke the indexer, which merges once let go.
	s.searchSettled()
	if s.searchMerged() == chunks {
		t.Fatal("no merge of the search index ran after commits that logged items")
	}
	if after := segments(); after >= 4 {
		t.Errorf("%d segments after the merge (from %d and one more commit), want fewer than 4", after, before)
	}
	if n := found(t, s, "harbour"); n != commits*40 {
		t.Errorf("harbour found in %d items, want %d", n, commits*40)
	}
	if n := found(t, s, "word7"); n != 40 {
		t.Errorf("word7 found in %d items, want 40", n)
	}
	if n := found(t, s, "w12345"); n != 1 {
		t.Errorf("w12345 found in %d items, want 1", n)
	}
}

// TestSearchLevelOfSixteen checks the level the background merge takes
// (migration 0028): fifteen segments are left as they are, and the
// sixteenth makes the level merged. SQLite only.
func TestSearchLevelOfSixteen(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	segment := func(i int) { // a commit whose item is indexed at once: a segment
		t.Helper()
		d := testDoc(fmt.Sprintf("k%d", i), fmt.Sprintf("The ferry of line%d left the harbour on time.", i), fmt.Sprintf("fp%d", i))
		if _, err := s.SaveDocuments(ctx, []Document{d}); err != nil {
			t.Fatal(err)
		}
		if err := s.catchUpSearch(ctx, 1); err != nil {
			t.Fatal(err)
		}
	}
	s.searchLoopMu.Lock() // the indexer waits: the test merges
	defer s.searchLoopMu.Unlock()
	for i := 0; i < 15; i++ {
		segment(i)
	}
	if n := searchSegments(t, s); n != 15 {
		t.Fatalf("%d segments after 15 commits, each merged after, want 15: a level under 16 was merged", n)
	}
	segment(15)
	if n := searchSegments(t, s); n != 1 {
		t.Errorf("%d segments after the 16th commit, want 1: the level was not merged", n)
	}
	items, err := s.Items(ctx, Query{Search: mustSearch(t, "harbour"), Limit: 100})
	if err != nil || len(items) != 16 {
		t.Errorf("harbour found in %d items (%v), want 16", len(items), err)
	}
}

// Items stored wait for the search index (search_log): the store's
// indexer applies the log once searchBatch entries wait, and a search
// applies what waits first, so that it finds every item stored before
// it. SQLite only: PostgreSQL keeps each item's search vector in its row.
func TestSearchIndexesWhatWaits(t *testing.T) {
	ctx := context.Background()
	restoreAfterClose(t)
	searchBatch = 30
	s, dsn := openTemp(t)
	waiting := func() int64 {
		t.Helper()
		s.searchSettled() // the indexer woken by the last commit is done
		n, _, err := s.SearchBacklog(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	commit := func(round int) {
		t.Helper()
		var docs []Document
		for j := 0; j < 10; j++ {
			key := fmt.Sprintf("r%d-%d", round, j)
			docs = append(docs, testDoc(key, fmt.Sprintf("The lighthouse keeper of round%d wrote again.", round), "fp"+key))
		}
		if _, err := s.SaveDocuments(ctx, docs); err != nil {
			t.Fatal(err)
		}
	}
	commit(0)
	if n := waiting(); n != 10 {
		t.Fatalf("%d items wait for the search index after a commit of 10, want 10", n)
	}
	// A waiting item corrected is indexed with its new text; one retracted
	// is not indexed at all.
	fixed := testDoc("r0-1", "The harbour master of round0 wrote again.", "fpr0-1")
	fixed.Raw = []byte("corrected")
	if _, err := s.SaveDocuments(ctx, []Document{fixed}); err != nil {
		t.Fatal(err)
	}
	var gone string
	if err := s.r.QueryRowContext(ctx, `SELECT i.uid FROM documents d JOIN items i ON i.id = d.item_id WHERE d.key = 'r0-2'`).Scan(&gone); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Retract(ctx, gone); err != nil {
		t.Fatal(err)
	}
	// Another process's search finds what this one stored.
	other := reopen(t, dsn)
	if n := found(t, other, "lighthouse"); n != 8 {
		t.Fatalf("another process's search right after the commits found %d items, want 8 (10, one corrected away, one retracted)", n)
	}
	if n := found(t, s, "harbour"); n != 1 {
		t.Errorf("the corrected text found in %d items, want 1", n)
	}
	if n := waiting(); n != 0 {
		t.Errorf("%d items still wait after a search", n)
	}
	commit(1)
	commit(2)
	if n := waiting(); n != 20 {
		t.Fatalf("%d items wait after two commits of 10, want 20 (under searchBatch)", n)
	}
	before := s.MergeActivity().Index.Chunks
	commit(3) // 30 wait: the merger indexes them
	if n := waiting(); n != 0 {
		t.Errorf("%d items wait after %d did, want 0: the merger did not index them", n, searchBatch)
	}
	if n := s.MergeActivity().Index.Chunks - before; n != 1 {
		t.Errorf("the merger indexed 30 items in %d transactions, want 1", n)
	}
	var indexed int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM items_fts WHERE items_fts MATCH 'lighthouse'`).Scan(&indexed); err != nil || indexed != 38 {
		t.Errorf("%d items in the search index (%v), want 38", indexed, err)
	}
}

// A merge takes the waiting keys (take) and leaves an empty set: lookups
// still find what it took, keys stored meanwhile wait in the new set,
// and once the merge has written what it took (mergedUpTo) only the keys
// of later items stay. A merge that failed hands its keys to the next.
func TestWaitingKeysHandedToMerge(t *testing.T) {
	var w waitingKeys
	w.reset(0)
	w.built = true
	key := func(item int64) bandKey { return bandKey{item * 7919, int(item % 16)} }
	for item := int64(1); item <= 10; item++ {
		w.addKey(key(item), item)
	}
	w.upTo = 10
	taken, upTo := w.take()
	if taken.n != 10 || upTo != 10 || w.n != 0 {
		t.Fatalf("took %d keys up to item %d, %d left held; want 10, 10, 0", taken.n, upTo, w.n)
	}
	// Meanwhile: item 11 is stored; a commit adds item 9's key again (read
	// from the database by the merge's catch-up, and pending on it); item
	// 3 is corrected (its key dropped: the merge's copy stays).
	w.addKey(key(11), 11)
	w.addKey(key(9), 9)
	w.dropKey(key(3), 3)
	w.upTo = 11
	find := func(item int64) bool {
		keys := make([]int64, 16)
		keys[key(item).band] = key(item).key
		for _, id := range w.candidates(nil, keys) {
			if id == item {
				return true
			}
		}
		return false
	}
	for _, item := range []int64{3, 5, 11} {
		if !find(item) {
			t.Errorf("item %d's key not found during the merge", item)
		}
	}
	if n := w.held(); n != 12 {
		t.Errorf("%d keys held during the merge, want 12 (10 taken, 2 since)", n)
	}
	// The merge fails; the next takes both sets.
	taken, upTo = w.take()
	if taken.n != 11 || upTo != 11 || w.n != 0 {
		t.Fatalf("the next merge took %d keys up to item %d, %d left; want 11, 11, 0", taken.n, upTo, w.n)
	}
	w.addKey(key(12), 12)
	w.upTo = 12
	w.mergedUpTo(upTo)
	if n := w.held(); n != 1 || !find(12) || find(5) {
		t.Errorf("after the merge: %d keys held, item 12 found %v, item 5 found %v; want 1, true, false", n, find(12), find(5))
	}
	if w.merged != 11 {
		t.Errorf("watermark %d after the merge, want 11", w.merged)
	}
}

// Two processes store, correct, retract and merge at once: afterwards
// every item not retracted has its current keys in item_bands or among
// the waiting keys, and each process finds a copy of every such item.
func TestWaitingKeysUnderConcurrentWork(t *testing.T) {
	eachEngine(t, testWaitingKeysUnderConcurrentWork)
}

func testWaitingKeysUnderConcurrentWork(t *testing.T) {
	ctx := context.Background()
	restoreAfterClose(t)
	minBandBatch, mergeChunk = 64, 7 // merges start by themselves, in many chunks
	a, dsn := openTemp(t)
	b := reopen(t, dsn)
	if err := a.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	body := func(seed int) string {
		rng := rand.New(rand.NewPCG(uint64(seed), 11))
		var w []string
		for i := 0; i < 120; i++ {
			w = append(w, fmt.Sprintf("v%d", rng.IntN(100000)))
		}
		return strings.Join(w, " ")
	}
	doc := func(key string, seed int) Document {
		return signedDoc(key, body(seed), fmt.Sprintf("fp-%s-%d", key, seed))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for p, s := range []*Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 40; i++ {
				key := fmt.Sprintf("p%d-%d", p, i)
				d := doc(key, p*1000+i)
				d.SourceID = fmt.Sprintf("src%d", p)
				if _, err := s.SaveDocuments(ctx, []Document{d}); err != nil {
					errs <- err
					return
				}
				switch i % 10 {
				case 3: // corrected: new text, new keys
					c := doc(key, p*1000+i+500)
					c.SourceID, c.Raw = d.SourceID, []byte("corrected")
					if _, err := s.SaveDocuments(ctx, []Document{c}); err != nil {
						errs <- err
						return
					}
				case 7:
					if err := s.MergeBands(ctx); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// A few retractions, from the second process.
	retracted, err := scanColumn[string](a.r.QueryContext(ctx, `SELECT i.uid FROM documents d JOIN items i ON i.id = d.item_id WHERE d.key IN ('p0-5', 'p1-5', 'p0-9', 'p1-13', 'p0-23')`))
	if err != nil || len(retracted) != 5 {
		t.Fatalf("%d items to retract (%v), want 5", len(retracted), err)
	}
	for _, uid := range retracted {
		if _, err := b.Retract(ctx, uid); err != nil {
			t.Fatal(err)
		}
	}
	a.searchSettled() // both processes' indexers are done
	b.searchSettled()
	merged := map[bandRow]bool{}
	for _, r := range mergedKeys(t, a) {
		merged[r] = true
	}
	for _, s := range []*Store{a, b} {
		w, err := s.catchUpWaiting(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held := map[bandRow]bool{}
		w.mu.Lock()
		for _, r := range w.rows() {
			held[r] = true
		}
		w.mu.Unlock()
		rows, err := s.r.QueryContext(ctx, `SELECT id, signature FROM items WHERE retracted = ''`)
		if err != nil {
			t.Fatal(err)
		}
		live := 0
		for rows.Next() {
			var id int64
			var raw []byte
			rows.Scan(&id, &raw)
			live++
			for band, key := range minhash.FromBytes(raw).BandKeys() {
				r := bandRow{bandKey{key, band}, id}
				if !merged[r] && !held[r] {
					t.Errorf("item %d: key of band %d neither merged nor waiting in this process", id, band)
				}
			}
		}
		rows.Close()
		if live != 80-len(retracted) {
			t.Fatalf("%d live items, want %d", live, 80-len(retracted))
		}
	}
	// Each process finds a copy of an item, whichever stored it.
	for p, s := range []*Store{a, b} {
		for _, i := range []int{1, 2, 3, 38} {
			seed := (1-p)*1000 + i
			if i == 3 {
				seed += 500 // the corrected text
			}
			c := doc(fmt.Sprintf("copy-%d-%d", p, i), seed)
			c.SourceID = "copies"
			saved, err := s.SaveDocuments(ctx, []Document{c})
			if err != nil {
				t.Fatal(err)
			}
			if saved[0].Status != Merged {
				t.Errorf("process %d: a copy of item %d of the other process was %v, want merged", p, i, saved[0].Status)
			}
		}
	}
}

// signedDoc is testDoc with the near-duplicate signature of its body.
func signedDoc(key, body, fingerprint string) Document {
	d := testDoc(key, body, fingerprint)
	d.Item.Signature = minhash.Of(strings.Fields(body))
	return d
}

// restoreAfterClose puts the merges' settings back once the test's stores
// are closed: called before the test opens them, its cleanup runs after
// theirs (cleanups run last first), when no merger can read the settings
// any more.
func restoreAfterClose(t *testing.T) {
	chunk, batch, search := mergeChunk, minBandBatch, searchBatch
	t.Cleanup(func() { mergeChunk, minBandBatch, searchBatch = chunk, batch, search })
}

// A merge stopped halfway (the process closing, or dying) leaves the
// watermark where it was: the keys it wrote are written again by the
// next merge, once, and none is lost.
func TestMergeStoppedHalfway(t *testing.T) { eachEngine(t, testMergeStoppedHalfway) }

func testMergeStoppedHalfway(t *testing.T) {
	ctx := context.Background()
	restoreAfterClose(t)
	mergeChunk = 3
	s, dsn := openTemp(t)
	var docs []Document
	for i := 0; i < 30; i++ {
		text := fmt.Sprintf("release %d of the stopped merge test, with words of its own: %s", i, strings.Repeat(fmt.Sprintf("w%d ", i), 40))
		docs = append(docs, signedDoc(fmt.Sprintf("m%d", i), text, fmt.Sprintf("fpm%d", i)))
	}
	s.mergeMu.Lock() // no merge starts by itself
	if _, err := s.SaveDocuments(ctx, docs); err != nil {
		t.Fatal(err)
	}
	waiting := s.waiting.held()
	mctx, cancel := context.WithCancel(ctx)
	go func() {
		for s.MergeActivity().Chunks < 2 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	err := s.mergeBands(mctx)
	s.mergeMu.Unlock()
	if err == nil {
		t.Fatal("the merge finished before it was stopped")
	}
	var merged, written int64
	if err := s.r.QueryRowContext(ctx, `SELECT (SELECT value FROM counters WHERE name = 'bands_merged'), (SELECT count(*) FROM item_bands)`).Scan(&merged, &written); err != nil {
		t.Fatal(err)
	}
	if merged != 0 || written == 0 || written >= waiting {
		t.Fatalf("after a stopped merge: watermark %d, %d of %d keys written; want 0 and some", merged, written, waiting)
	}
	// Another process merges what waits.
	other := reopen(t, dsn)
	if err := other.MergeBands(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.r.QueryRowContext(ctx, `SELECT (SELECT value FROM counters WHERE name = 'bands_merged'), (SELECT count(*) FROM item_bands)`).Scan(&merged, &written); err != nil {
		t.Fatal(err)
	}
	if merged == 0 || written != int64(len(docs)*minhash.Bands) {
		t.Errorf("after the next merge: watermark %d, %d keys in item_bands; want past every item and %d", merged, written, len(docs)*minhash.Bands)
	}
}

// mergedKeys reads every key in item_bands.
func mergedKeys(t *testing.T, s *Store) []bandRow {
	t.Helper()
	rows, err := s.r.QueryContext(context.Background(), `SELECT band, key, item_id FROM item_bands`)
	keys, err := scanAll(rows, err, func(r scanner) (k bandRow, err error) {
		return k, r.Scan(&k.band, &k.key, &k.item)
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// A transaction's near-duplicate keys are applied to the waiting keys
// after it commits, on a goroutine of their own (commitWaiting): whoever
// looks at the keys next waits for them, and sees them all.
func TestCommittedKeysSeenAtOnce(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	for i := range 40 {
		var words []string // unrelated releases: no band key shared
		for j := range 60 {
			words = append(words, fmt.Sprintf("t%d-%d", i, j))
		}
		body := strings.Join(words, " ")
		d := signedDoc(fmt.Sprintf("k%d", i), body, fmt.Sprintf("fp%d", i))
		if saved, err := s.SaveDocuments(ctx, []Document{d}); err != nil || saved[0].Status != Added {
			t.Fatalf("release %d: %v, %v", i, saved, err)
		}
		if i == 0 {
			continue // the first transaction builds the keys from the store
		}
		if n := s.waiting.held(); n != int64(i+1)*minhash.Bands {
			t.Fatalf("after %d releases stored, one a transaction: %d keys held, want %d", i+1, n, (i+1)*minhash.Bands)
		}
	}
}

// A store that grows from nothing keeps its near-duplicate filter through
// its first merges of keys: the filter Warm builds for an empty store has
// room for many times the keys a merge waits for, and is not outgrown
// (then dropped, every release's keys looked up in item_bands until the
// next merge built it anew) at the first.
func TestBandFilterOutlastsTheFirstMerges(t *testing.T) {
	s, _ := openTemp(t)
	if err := s.Warm(context.Background()); err != nil {
		t.Fatal(err)
	}
	f := s.bandFilter.Load()
	if f == nil {
		t.Fatal("Warm built no near-duplicate filter")
	}
	if f.room < 8*minBandBatch {
		t.Errorf("an empty store's filter has room for %d keys; a merge waits for %d: outgrown after %d merges", f.room, minBandBatch, f.room/minBandBatch)
	}
}

// The keys a running merge took do not count towards the next: items
// stored during a merge, fewer keys than a merge waits for, wait for
// later commits instead of being merged right after it.
func TestKeysUnderMergeAskForNoOther(t *testing.T) { eachEngine(t, testKeysUnderMergeAskForNoOther) }

func testKeysUnderMergeAskForNoOther(t *testing.T) {
	ctx := context.Background()
	restoreAfterClose(t)
	minBandBatch = 100
	s, _ := openTemp(t)
	doc := func(i int) Document {
		rng := rand.New(rand.NewPCG(uint64(i), 5))
		var w []string
		for range 120 {
			w = append(w, fmt.Sprintf("w%d", rng.IntN(100000)))
		}
		return signedDoc(fmt.Sprintf("m%d", i), strings.Join(w, " "), fmt.Sprintf("fp-m%d", i))
	}
	docs := func(from, to int) (ds []Document) {
		for i := from; i < to; i++ {
			ds = append(ds, doc(i))
		}
		return ds
	}
	s.mergeMu.Lock() // no merger starts: the test is the merge
	defer s.mergeMu.Unlock()
	if _, err := s.SaveDocuments(ctx, docs(0, 7)); err != nil { // 112 keys
		t.Fatal(err)
	}
	if !s.bandsWanted.Swap(false) {
		t.Fatal("112 keys waiting, a merge waits for 100: none asked for")
	}
	// A merge takes them, and while it writes them two items are stored.
	w, err := s.catchUpWaiting(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	taken, _ := w.take()
	w.mu.Unlock()
	if taken.n != 112 {
		t.Fatalf("the merge took %d keys, want 112", taken.n)
	}
	if _, err := s.SaveDocuments(ctx, docs(7, 9)); err != nil { // 32 keys
		t.Fatal(err)
	}
	if s.bandsWanted.Load() {
		t.Error("32 keys stored during a merge of 112 asked for another merge; a merge waits for 100")
	}
	// The merge fails: what it took waits for the next, and counts
	// towards it, so that one more item (16 keys) asks for it.
	w.mu.Lock()
	w.ended()
	w.mu.Unlock()
	if _, err := s.SaveDocuments(ctx, docs(9, 10)); err != nil {
		t.Fatal(err)
	}
	if !s.bandsWanted.Load() {
		t.Error("112 keys left by a failed merge and 48 stored since asked for no merge; a merge waits for 100")
	}
}
