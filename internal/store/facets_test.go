package store

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Filtered walks (by a single facet or by a pair of facets, whichever is
// rarer) return exactly what a scan of every item would, in the same
// order, after corrections and retractions too.
func TestFiltersAgreeWithScan(t *testing.T) { eachEngine(t, testFiltersAgreeWithScan) }

func testFiltersAgreeWithScan(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	rng := rand.New(rand.NewPCG(1, 2))
	countries := []string{"BE", "LU", "ES", "FR", "MR"}
	langs := []string{"fr", "en", "es"}
	topics := []string{"refugees", "health", "climate"}
	pick := func(vals []string, n int) []string {
		out := []string{}
		for _, i := range rng.Perm(len(vals))[:n] {
			out = append(out, vals[i])
		}
		return out
	}
	save := func(i int, version string) {
		d := testDoc(fmt.Sprintf("d%03d.txt", i), "body "+version+fmt.Sprint(i), "fp-"+version+fmt.Sprint(i))
		d.SourceID = []string{"src", "other"}[i%2]
		d.Item.Country = countries[rng.IntN(len(countries))]
		d.Item.Language = langs[rng.IntN(len(langs))]
		d.Item.Topics = pick(topics, rng.IntN(3))
		d.Item.Published = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.IntN(1000)) * time.Hour)
		if _, _, err := s.SaveDocument(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 150 {
		save(i, "v1")
	}
	for i := 0; i < 150; i += 7 { // corrections: new country, language and topics
		save(i, "v2")
	}
	all, err := s.Items(ctx, Query{})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range all[:10] {
		if _, err := s.Retract(ctx, it.UID); err != nil {
			t.Fatal(err)
		}
	}
	if all, err = s.Items(ctx, Query{}); err != nil || len(all) != 140 {
		t.Fatalf("items after retracting 10 of 150: %d, %v", len(all), err)
	}
	// Copies from a third source, merged into items by their fingerprint,
	// twice: the second finds the source's facet there.
	fps, err := scanColumn[string](s.r.QueryContext(ctx, `SELECT fingerprint FROM items WHERE retracted = '' ORDER BY id LIMIT 10`))
	if err != nil || len(fps) != 10 {
		t.Fatalf("%d fingerprints to copy (%v), want 10", len(fps), err)
	}
	for _, round := range []string{"once", "again"} {
		for i, fp := range fps {
			d := testDoc(fmt.Sprintf("third-%d-%s.txt", i, round), "a copy "+fp, fp)
			d.SourceID = "third"
			if _, st, err := s.SaveDocument(ctx, d); err != nil || st != Merged {
				t.Fatalf("a copy from a third source: %v, %v", st, err)
			}
		}
	}
	checkFacetCounts(t, s)
	copied, _ := openTemp(t)
	if _, err := Copy(ctx, s, copied); err != nil {
		t.Fatal(err)
	}
	checkFacetCounts(t, copied)
	slices.SortFunc(all, func(a, b Item) int { return int(b.Seq - a.Seq) })
	has := func(want []string, got ...string) bool {
		if len(want) == 0 {
			return true
		}
		for _, g := range got {
			if slices.Contains(want, g) {
				return true
			}
		}
		return false
	}
	pairDrives := 0
	for n := range 300 {
		q := Query{
			Countries: pick(countries, rng.IntN(3)),
			Languages: pick(langs, rng.IntN(2)),
			Topics:    pick(topics, rng.IntN(2)),
			Sources:   pick([]string{"src", "other"}, rng.IntN(2)),
			Limit:     []int{0, 3, 20}[n%3],
		}
		var want []string
		for _, it := range all {
			if has(q.Countries, it.Country) && has(q.Languages, it.Language) && has(q.Topics, it.Topics...) && has(q.Sources, it.Sources...) &&
				(q.Limit == 0 || len(want) < q.Limit) {
				want = append(want, it.UID)
			}
		}
		got, err := s.Items(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var gotUIDs []string
		for _, it := range got {
			gotUIDs = append(gotUIDs, it.UID)
		}
		if len(facetGroups(q)) > 0 && !slices.Equal(gotUIDs, want) {
			t.Fatalf("query %+v:\n got %v\nwant %v", q, gotUIDs, want)
		}
		counts, _ := facetCounts(ctx, s.r, q)
		if _, args := itemsSQL("i.id", q, counts, s.pg); strings.HasPrefix(fmt.Sprint(args...), "p:") {
			pairDrives++
		}
	}
	if pairDrives == 0 {
		t.Error("no query was driven by a pair of facets")
	}

	// The migration builds, for a store that had none, the very pairs that
	// saving builds.
	pairs := func() (out []string) {
		rows, err := s.w.QueryContext(ctx, "SELECT facet, item_id FROM item_facets WHERE facet LIKE 'p:%' ORDER BY facet, item_id")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var f string
			var id int64
			rows.Scan(&f, &id)
			out = append(out, fmt.Sprint(f, id))
		}
		return out
	}
	saved := pairs()
	if _, err := s.w.ExecContext(ctx, "DELETE FROM item_facets WHERE facet LIKE 'p:%'"); err != nil {
		t.Fatal(err)
	}
	migs, _ := migrationsOf(engineOf(t))
	for _, m := range migs {
		if strings.HasSuffix(m.Name, "_facet_pairs.sql") {
			if _, err := s.w.ExecContext(ctx, m.Body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if built := pairs(); len(saved) < 100 || !slices.Equal(built, saved) {
		t.Errorf("pairs from the migration: %d rows, from saving: %d rows, or they differ", len(built), len(saved))
	}
}

// checkFacetCounts fails unless facet_counts holds, for every facet, the
// number of rows item_facets has.
func checkFacetCounts(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	var n, wrong int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT facet, count(*) AS n FROM item_facets GROUP BY facet) f`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT facet, count(*) AS n FROM item_facets GROUP BY facet) f
		LEFT JOIN facet_counts c ON c.facet = f.facet WHERE c.n IS NULL OR c.n != f.n`).Scan(&wrong); err != nil {
		t.Fatal(err)
	}
	var stray int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM facet_counts c WHERE c.n != 0 AND NOT EXISTS (SELECT 1 FROM item_facets f WHERE f.facet = c.facet)`).Scan(&stray); err != nil {
		t.Fatal(err)
	}
	if n < 20 || wrong != 0 || stray != 0 {
		t.Errorf("facet_counts: %d of %d facets counted wrong, %d counted without rows", wrong, n, stray)
	}
	// The item count too, which the store keeps the same way.
	var standing int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM items WHERE retracted = ''`).Scan(&standing); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ItemCount(ctx); err != nil || got != standing || standing == 0 {
		t.Errorf("ItemCount: %d (%v), want the %d items standing", got, err, standing)
	}
}

// Migration 34 rebuilds item_facets without its foreign key: a store whose
// table still has it keeps every facet row, filters by them as before, and
// counts a deleted row down (its trigger made again).
func TestFacetsLoseTheirForeignKey(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "crier.db")
	s, err := Open(ctx, "sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		doc := testDoc(fmt.Sprintf("d%d", i), fmt.Sprintf("body %d", i), fmt.Sprintf("fp%d", i))
		if i%3 == 0 {
			doc.Item.Country = "FR"
		}
		if _, err := s.SaveDocuments(ctx, []Document{doc}); err != nil {
			t.Fatal(err)
		}
	}
	var before int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM item_facets`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// The table as migration 33 left it, and the store at 33.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`CREATE TABLE item_facets_old (
		facet   TEXT NOT NULL,
		item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
		PRIMARY KEY (facet, item_id)
	) WITHOUT ROWID;
	INSERT INTO item_facets_old SELECT facet, item_id FROM item_facets;
	DROP TABLE item_facets;
	ALTER TABLE item_facets_old RENAME TO item_facets;
	CREATE INDEX item_facets_item ON item_facets(item_id);
	CREATE TRIGGER item_facets_uncounted AFTER DELETE ON item_facets BEGIN
		UPDATE facet_counts SET n = n - 1 WHERE facet = old.facet;
	END;
	PRAGMA user_version = 33`)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	s, err = Open(ctx, "sqlite", path)
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	defer s.Close()
	var after int
	var ddl string
	if err := s.r.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM item_facets), (SELECT sql FROM sqlite_schema WHERE name = 'item_facets')`).Scan(&after, &ddl); err != nil {
		t.Fatal(err)
	}
	if after != before || before == 0 {
		t.Errorf("facet rows: %d after the migration, %d before", after, before)
	}
	if strings.Contains(ddl, "REFERENCES") {
		t.Errorf("item_facets still has a foreign key: %s", ddl)
	}
	fr, err := s.Items(ctx, Query{Countries: []string{"FR"}, Topics: []string{"refugees"}})
	if err != nil || len(fr) != 10 {
		t.Fatalf("items of FR on refugees after the migration: %d, %v; want 10", len(fr), err)
	}
	n := func() (n int) {
		t.Helper()
		if err := s.r.QueryRowContext(ctx, `SELECT n FROM facet_counts WHERE facet = 'c:FR'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	was := n()
	if _, err := s.w.ExecContext(ctx, `DELETE FROM item_facets WHERE facet = 'c:FR' AND item_id = (SELECT min(item_id) FROM item_facets WHERE facet = 'c:FR')`); err != nil {
		t.Fatal(err)
	}
	if got := n(); got != was-1 {
		t.Errorf("a deleted facet row left c:FR counted %d, want %d", got, was-1)
	}
}
