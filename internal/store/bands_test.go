package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crier-hub/crier/internal/minhash"
)

// Near-duplicates are found whichever level holds the other copy's band
// keys: before a merge, after it, and after a correction moved them;
// a retracted item's keys leave both levels; and once enough keys wait,
// a merge starts by itself and loses none.
func TestBandLevels(t *testing.T) { eachEngine(t, testBandLevels) }

func testBandLevels(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	words := func(seed int) string {
		var w []string
		for i := 0; i < 120; i++ {
			w = append(w, fmt.Sprintf("w%d", (i*7+seed*131)%997))
		}
		return strings.Join(w, " ")
	}
	doc := func(key, body string) Document {
		d := testDoc(key, body, "fp-"+key) // distinct fingerprints: only bands can match
		d.Item.Signature = minhash.Of(strings.Fields(body))
		return d
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
		t.Fatalf("a copy, keys waiting in item_bands_new: %v into %s, want merged into %s", st, uid, a)
	}
	if n := count("item_bands_new"); n == 0 || count("item_bands") != 0 {
		t.Fatalf("before a merge: %d keys waiting, %d merged", n, count("item_bands"))
	}
	if err := s.MergeBands(ctx); err != nil {
		t.Fatal(err)
	}
	if count("item_bands_new") != 0 || count("item_bands") != minhash.Bands {
		t.Fatalf("after a merge: %d waiting, %d merged, want 0 and %d", count("item_bands_new"), count("item_bands"), minhash.Bands)
	}
	if !s.pg { // the writer's cache follows the store's size
		var kib, items int64
		s.w.QueryRowContext(ctx, `PRAGMA cache_size`).Scan(&kib)
		s.r.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'item_count'`).Scan(&items)
		if want := -(64<<10 + items*5/8); kib != want {
			t.Errorf("writer cache_size after a merge: %d, want %d for %d items", kib, want, items)
		}
	}
	var waiting int
	if err := s.r.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'bands_new'`).Scan(&waiting); err != nil || waiting != 0 {
		t.Errorf("bands_new after a merge: %d (%v), want 0", waiting, err)
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
	var bKeys int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT item_id FROM item_bands UNION ALL SELECT item_id FROM item_bands_new) k
		WHERE item_id = (SELECT id FROM items WHERE uid = '`+b+`')`).Scan(&bKeys); err != nil || bKeys != minhash.Bands {
		t.Errorf("a corrected item has %d band keys (%v), want %d: the old ones stayed", bKeys, err, minhash.Bands)
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
	defer func(n int64) { minBandBatch = n }(minBandBatch)
	minBandBatch = 1
	for i := 10; i < 40; i++ {
		save(doc(fmt.Sprintf("many-%d", i), words(i)))
	}
	deadline := time.Now().Add(10 * time.Second)
	for (s.merging.Load() || count("item_bands_new") >= 30*minhash.Bands) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := count("item_bands_new"); n >= 30*minhash.Bands {
		t.Errorf("%d keys still waiting: no merge started by itself", n)
	}
	var keys int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT band, key, item_id FROM item_bands UNION SELECT band, key, item_id FROM item_bands_new) k`).Scan(&keys); err != nil {
		t.Fatal(err)
	}
	var items int
	if err := s.r.QueryRowContext(ctx, `SELECT count(DISTINCT item_id) FROM (SELECT item_id FROM item_bands UNION ALL SELECT item_id FROM item_bands_new) k`).Scan(&items); err != nil {
		t.Fatal(err)
	}
	if keys != items*minhash.Bands {
		t.Errorf("%d keys for %d items, want %d: a merge lost or doubled some", keys, items, items*minhash.Bands)
	}
}
