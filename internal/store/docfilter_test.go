package store

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The document filter rules out keys never stored, and never a key this
// process stored, before Warm built it or after; a document another
// process stored after the build may be reported absent, and is found by
// the save that follows (unchanged), after which it is reported stored.
func TestDocFilter(t *testing.T) { eachEngine(t, testDocFilter) }

func testDocFilter(t *testing.T) {
	ctx := context.Background()
	a, dsn := openTemp(t)
	b := reopen(t, dsn) // another process
	save := func(s *Store, keys ...string) []SaveStatus {
		t.Helper()
		var docs []Document
		for _, k := range keys {
			docs = append(docs, testDoc(k, "body of "+k, "fp-"+k))
		}
		saved, err := s.SaveDocuments(ctx, docs)
		if err != nil {
			t.Fatal(err)
		}
		var st []SaveStatus
		for _, sv := range saved {
			st = append(st, sv.Status)
		}
		return st
	}
	stored := func(s *Store, keys []string) []string {
		t.Helper()
		h, err := s.DocumentHashes(ctx, "src", keys)
		if err != nil {
			t.Fatal(err)
		}
		return slices.Sorted(maps.Keys(h))
	}
	keys := func(prefix string, n int) []string {
		var ks []string
		for i := range n {
			ks = append(ks, fmt.Sprintf("%s%03d", prefix, i))
		}
		return ks
	}
	before, after, theirs, never := keys("before-", 40), keys("after-", 40), keys("theirs-", 40), keys("never-", 2000)
	save(a, before...)
	if err := a.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	f := a.docFilter.Load()
	if f == nil || !f.built {
		t.Fatal("Warm built no document filter")
	}
	save(a, after...)
	mine := append(slices.Clone(after), before...) // in key order, as stored returns them
	if got := f.mayHave("src", mine); len(got) != len(mine) {
		t.Errorf("the filter ruled out %d of the %d documents this process stored", len(mine)-len(got), len(mine))
	}
	if got := stored(a, mine); !slices.Equal(got, mine) {
		t.Errorf("DocumentHashes found %d of the %d documents stored", len(got), len(mine))
	}
	// Keys never stored: ruled out but for about one in a hundred, and
	// so are the stored keys under another source.
	if got := f.mayHave("src", never); len(got) > len(never)/20 {
		t.Errorf("the filter let %d of %d keys never stored through", len(got), len(never))
	}
	if got := f.mayHave("other", mine); len(got) > 10 {
		t.Errorf("the filter let %d of %d keys of another source through", len(got), len(mine))
	}
	// Another process's documents: perhaps reported absent, then saved
	// here as unchanged, and reported stored from then on.
	save(b, theirs...)
	for _, st := range save(a, theirs...) {
		if st != Unchanged {
			t.Fatalf("a document another process stored was saved again as %v, want unchanged", st)
		}
	}
	if got := stored(a, theirs); !slices.Equal(got, theirs) {
		t.Errorf("after saving them, DocumentHashes found %d of the %d documents another process stored", len(got), len(theirs))
	}
}

// While the document filter is exact, the save of a new document looks
// up neither its key nor its fingerprint; once another process stores or
// changes items it is not exact, and every document is looked up again
// (theirs are found, not stored twice), until the filter is built again.
func TestDocFilterExact(t *testing.T) { eachEngine(t, testDocFilterExact) }

// rebuildingTwo opens a store and the same store again, as another
// process would, with the document filter's builds not spaced out.
func rebuildingTwo(t *testing.T) (a, b *Store) {
	t.Helper()
	was := docRebuildEvery
	docRebuildEvery = 0
	t.Cleanup(func() { docRebuildEvery = was })
	a, dsn := openTemp(t)
	return a, reopen(t, dsn)
}

func testDocFilterExact(t *testing.T) {
	ctx := context.Background()
	a, b := rebuildingTwo(t) // b: another process
	// lookups counts the two lookups of a document a's saves make.
	var mu sync.Mutex
	byKey, byFingerprint := 0, 0
	setTraceSQL(func(q string) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case strings.Contains(q, "FROM documents d JOIN items i ON i.id = d.item_id"):
			byKey++
		case strings.Contains(q, "FROM items WHERE fingerprint = ?"):
			byFingerprint++
		}
	})
	defer setTraceSQL(nil)
	save := func(s *Store, docs ...Document) (statuses []SaveStatus, keys, fps int) {
		t.Helper()
		mu.Lock()
		byKey, byFingerprint = 0, 0
		mu.Unlock()
		saved, err := s.SaveDocuments(ctx, docs)
		if err != nil {
			t.Fatal(err)
		}
		for _, sv := range saved {
			statuses = append(statuses, sv.Status)
		}
		mu.Lock()
		defer mu.Unlock()
		return statuses, byKey, byFingerprint
	}
	doc := func(key, fp string) Document { return testDoc(key, "body of "+key, fp) }
	want := func(what string, got []SaveStatus, st SaveStatus) {
		t.Helper()
		for i, g := range got {
			if g != st {
				t.Fatalf("%s: document %d saved as %v, want %v", what, i, g, st)
			}
		}
	}

	save(a, doc("old-1", "fp-old-1"), doc("old-2", "fp-old-2"))
	if err := a.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	// New documents: neither looked up.
	st, keys, fps := save(a, doc("new-1", "fp-new-1"), doc("new-2", "fp-new-2"), doc("new-3", "fp-new-3"))
	want("new documents", st, Added)
	if keys != 0 || fps != 0 {
		t.Errorf("new documents under an exact filter: %d lookups by key and %d by fingerprint, want none", keys, fps)
	}
	// And after that commit, which the filter saw made.
	st, keys, fps = save(a, doc("new-4", "fp-new-4"))
	want("a new document after a commit", st, Added)
	if keys != 0 || fps != 0 {
		t.Errorf("a new document after this process's commit: %d lookups by key and %d by fingerprint, want none", keys, fps)
	}
	// Stored ones, before the build and after, are looked up and found.
	st, keys, _ = save(a, testDoc("old-1", "changed", "fp-old-1b"), testDoc("new-1", "changed", "fp-new-1b"))
	want("changed documents", st, Updated)
	if keys != 2 {
		t.Errorf("changed documents: %d lookups by key, want 2", keys)
	}
	// Copies of stored items, made before the build, after it, or by a
	// correction, are found by fingerprint and merged.
	st, _, fps = save(a, doc("copy-1", "fp-old-2"), doc("copy-2", "fp-new-2"), doc("copy-3", "fp-new-1b"))
	want("copies", st, Merged)
	if fps != 3 {
		t.Errorf("copies: %d lookups by fingerprint, want 3", fps)
	}

	// Another process stores documents and a correction: a's filter is
	// behind, and a looks every document up.
	save(b, doc("theirs-1", "fp-theirs-1"), testDoc("old-2", "corrected", "fp-theirs-2"))
	st, keys, fps = save(a, doc("theirs-1", "fp-theirs-1"))
	want("another process's document", st, Unchanged)
	if keys != 1 {
		t.Errorf("another process's document: %d lookups by key, want 1", keys)
	}
	st, _, fps = save(a, doc("copy-4", "fp-theirs-2"))
	want("a copy of another process's correction", st, Merged)
	if fps != 1 {
		t.Errorf("a copy of another process's correction: %d lookups by fingerprint, want 1", fps)
	}
	// Saves that keep finding it behind have it built again; then new
	// documents go without lookups again.
	for i := 0; ; i++ {
		st, keys, fps = save(a, doc(fmt.Sprintf("later-%d", i), fmt.Sprintf("fp-later-%d", i)))
		want("a later document", st, Added)
		if keys == 0 && fps == 0 {
			break
		}
		if i == 50 {
			t.Fatal("the document filter was not made exact again after another process wrote")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// A filter built while a save is open (as a save that finds the
	// filter stale starts a build): the save learnt into the old filter
	// and commits after the new one's snapshot. The new one learns what
	// it stored, and is exact.
	batch, err := a.BeginSave(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := batch.Save(ctx, []Document{doc("during", "fp-during")}); err != nil {
		t.Fatal(err)
	}
	if err := a.buildDocFilter(ctx); err != nil {
		t.Fatal(err)
	}
	if err := batch.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	st, keys, fps = save(a, doc("after-build", "fp-after-build"))
	want("a new document after a build during a save", st, Added)
	if keys != 0 || fps != 0 {
		t.Errorf("after a filter was built during a save: %d lookups by key and %d by fingerprint, want none", keys, fps)
	}
	st, _, _ = save(a, doc("during", "fp-during"))
	want("the document saved during the build", st, Unchanged)
	st, _, _ = save(a, doc("copy-during", "fp-during"))
	want("a copy of the item saved during the build", st, Merged)
}

// Two processes saving the same documents at once, each with a filter
// that keeps falling behind the other's commits and being built again
// meanwhile, never store one twice: no save fails on a key or an item
// already stored, and each document has one row.
func TestDocFilterTwoWriters(t *testing.T) { eachEngine(t, testDocFilterTwoWriters) }

func testDocFilterTwoWriters(t *testing.T) {
	ctx := context.Background()
	a, b := rebuildingTwo(t)
	for _, s := range []*Store{a, b} {
		if err := s.Warm(ctx); err != nil {
			t.Fatal(err)
		}
	}
	const keys, fps = 60, 45 // some documents share a fingerprint: copies
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for w, s := range []*Store{a, b} {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			for range 40 {
				var docs []Document
				seen := map[string]bool{}
				for range 5 {
					k := fmt.Sprintf("k%02d", rng.IntN(keys))
					if seen[k] {
						continue
					}
					seen[k] = true
					// The body changes now and then: a correction.
					docs = append(docs, testDoc(k, fmt.Sprintf("body of %s, version %d", k, rng.IntN(3)), fmt.Sprintf("fp%02d", rng.IntN(fps))))
				}
				if _, err := s.SaveDocuments(ctx, docs); err != nil {
					errs <- fmt.Errorf("writer %d: %w", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var docs, distinct int
	if err := a.r.QueryRowContext(ctx, `SELECT count(*), count(DISTINCT key) FROM documents WHERE source_id = 'src'`).Scan(&docs, &distinct); err != nil {
		t.Fatal(err)
	}
	if docs != distinct || docs == 0 || docs > keys {
		t.Errorf("%d document rows for %d keys (of %d)", docs, distinct, keys)
	}
}
