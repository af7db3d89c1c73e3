package store

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
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
