package store

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestEveryQueryUsesAnIndex runs the store's whole API over a store with
// many items, records every statement it ran, and fails on a plan that
// scans items, documents or deliveries, or sorts them in a temporary
// B-tree: such a query grows with the store. The one sort allowed is of a
// union of filter walks that each stop at the page size.
//
// On PostgreSQL the same calls run (the store's API must work there too);
// the plans are SQLite's to check.
func TestEveryQueryUsesAnIndex(t *testing.T) { eachEngine(t, testEveryQueryUsesAnIndex) }

func testEveryQueryUsesAnIndex(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	var mu sync.Mutex
	seen := map[string]bool{}
	if !s.pg {
		setTraceSQL(func(q string) { mu.Lock(); seen[q] = true; mu.Unlock() })
	}
	defer setTraceSQL(nil)

	countries := []string{"BE", "LU", "FR", "ES"}
	var docs []Document
	for i := 0; i < 400; i++ {
		body := fmt.Sprintf("release %d about %s with enough words to make a signature of its own for the near duplicate check and more %d %d %d", i, countries[i%4], i*7, i*11, i*13)
		d := signedDoc(fmt.Sprintf("k%d", i), body, fmt.Sprintf("fp%d", i))
		d.Item.Country, d.Item.Language = countries[i%4], []string{"fr", "en"}[i%2]
		d.SourceID = []string{"big", "small"}[min(i%10, 1)]
		docs = append(docs, d)
	}
	if _, err := s.SaveDocuments(ctx, docs); err != nil {
		t.Fatal(err)
	}
	if err := s.Warm(ctx); err != nil { // the near-duplicate filter's statements run too
		t.Fatal(err)
	}
	docs[3].Raw = []byte("changed")
	if _, err := s.SaveDocuments(ctx, docs[:5]); err != nil {
		t.Fatal(err)
	}
	if err := s.MergeBands(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Optimize(ctx); err != nil {
		t.Fatal(err)
	}
	for _, q := range []Query{
		{Limit: 50},
		{Limit: 50, SeqDesc: true},
		{Limit: 50, SeqDesc: true, Before: 200},
		{Limit: 50, BySeq: true, After: 100},
		{Limit: 50, SeqDesc: true, Countries: []string{"BE"}},
		{Limit: 50, SeqDesc: true, Languages: []string{"fr"}},
		{Limit: 50, SeqDesc: true, Topics: []string{"refugees"}},
		{Limit: 50, SeqDesc: true, Sources: []string{"small"}, Before: 300},
		{Limit: 50, SeqDesc: true, Countries: []string{"BE"}, Languages: []string{"fr"}, Topics: []string{"refugees"}},
		{Limit: 50, SeqDesc: true, Countries: []string{"BE", "LU"}, Sources: []string{"small"}},
		{Limit: 50, SeqDesc: true, Search: mustSearch(t, `release "near duplicate" -absent`)},
		{Limit: 50, SeqDesc: true, Search: mustSearch(t, "release"), Countries: []string{"BE"}, Before: 300},
	} {
		if _, err := s.Items(ctx, q); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Version(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.ItemFacets(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecentDocuments(ctx, "big", 60); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DocumentHashes(ctx, "big", []string{"k1", "k2", "k3"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Item(ctx, uidFor("big", "k0")); err != nil {
		t.Fatal(err)
	}
	// The outbox: fire, claim, finish, count.
	for _, id := range []string{"p1", "p2"} {
		if err := s.AddSubscriber(ctx, id, "24h"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Fire(ctx, id, Query{Countries: []string{"BE"}}, onePerItem(func(Item) string { return "{}" })); err != nil {
			t.Fatal(err)
		}
	}
	dels, err := claim(ctx, s, []string{"p1", "p2"}, 10, time.Minute)
	if err != nil || len(dels) != 2 {
		t.Fatalf("claim: %d, %v", len(dels), err)
	}
	var done []Finished
	for _, d := range dels {
		done = append(done, Finished{Delivery: d, Attempt: Attempt{At: time.Now(), Status: 200}, Outcome: Delivered})
	}
	if _, err := finishAll(ctx, s, done, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.NextDue(ctx, []string{"p1", "p2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OwedBySubscriber(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Deliveries(ctx, "p1", 20); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RetryNowAll(ctx, []string{"p1", "p2"}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordRun(ctx, "big", Run{At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SourceState(ctx, "big"); err != nil {
		t.Fatal(err)
	}
	// Corrections and retractions (docs[3] was corrected above): what
	// subscribers follow with their second cursor, the tombstones, and
	// the near-duplicate filter learning corrected items' keys.
	if n, err := s.RemoveDocuments(ctx, "small", []string{"k1"}); err != nil || n != 1 {
		t.Fatalf("retract k1: %d, %v", n, err)
	}
	if _, err := s.FireMany(ctx, []string{"p1"}, Query{}, numbered, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RetractedSince(ctx, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Tombstones(ctx, Query{Limit: 50}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	docs[4].Raw = []byte("changed too")
	if _, err := s.SaveDocuments(ctx, docs[4:6]); err != nil {
		t.Fatal(err)
	}
	// The merges those commits started run their statements too, in the
	// background: they are waited for, so that none is still recording
	// while the plans are read.
	s.WaitForMerges(ctx)
	setTraceSQL(nil)
	if s.pg {
		return
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) < 25 {
		t.Fatalf("only %d statements recorded", len(seen))
	}
	conn, err := s.r.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for q := range seen {
		n := strings.Count(q, "?")
		args := make([]any, n)
		for i := range args {
			args[i] = "x"
		}
		// Numbered parameters (?1) take one value each.
		if strings.Contains(q, "?1") {
			args = []any{"x", "x", "x"}
		}
		rows, err := conn.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Errorf("explain %s: %v", q, err)
			continue
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		for _, step := range plan {
			if bad(step, q) {
				t.Errorf("%s\nplan step %q in:\n  %s", oneLine(q), step, strings.Join(plan, "\n  "))
			}
		}
	}
}

// bad reports whether a plan step grows with the store: a full scan of a
// big table, or a sort of its rows.
func bad(step, q string) bool {
	for _, table := range []string{"items", "documents", "deliveries", "item_facets", "item_bands", "attempts"} {
		for _, alias := range []string{table, "i", "d", "f", "g", "x", "y", "b"} {
			scan := step == "SCAN "+alias || strings.HasPrefix(step, "SCAN "+alias+" ")
			if scan && !strings.HasPrefix(step, "SCAN "+alias+" USING INDEX") && strings.Contains(q, table) {
				// "SCAN i" in arrival order stops at the LIMIT.
				if alias == "i" && strings.Contains(q, "ORDER BY i.id") && strings.Contains(q, "LIMIT") {
					return false
				}
				return true
			}
		}
	}
	// The owed index holds a subscriber's sent deliveries too until they
	// are settled: a walk of it must start past sent_through.
	if strings.Contains(step, "INDEX deliveries_owed (subscriber_id=?)") {
		return true
	}
	if strings.Contains(step, "TEMP B-TREE") {
		// What may be sorted: a union of walks that each stop at the
		// limit, a row per subscriber, or the few facet counts.
		bounded := strings.Contains(q, " UNION ") || strings.Contains(q, "FROM subscribers s") ||
			strings.HasPrefix(q, "SELECT facet FROM facet_counts")
		return !bounded
	}
	return false
}

func oneLine(q string) string { return strings.Join(strings.Fields(q), " ") }

func mustSearch(t *testing.T, q string) *Search {
	s, err := ParseSearch(q)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
