package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Several processes (here, Store handles on one database) claim and finish
// deliveries at once: every delivery is sent exactly once, never two of
// one subscriber at a time, and each subscriber's in the order created.
func TestOutboxAcrossReplicas(t *testing.T) { eachEngine(t, testOutboxAcrossReplicas) }

func testOutboxAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	first, dsn := openTemp(t)
	replicas := []*Store{first, reopen(t, dsn), reopen(t, dsn)}
	docs := numberedDocs(0, 30)
	if _, err := first.SaveDocuments(ctx, docs); err != nil {
		t.Fatal(err)
	}
	subs := []string{"p1", "p2", "p3", "p4", "p5"}
	build := onePerItem(func(it Item) string { return fmt.Sprint(it.Seq) })
	for _, id := range subs {
		if err := first.AddSubscriber(ctx, id, "all"); err != nil {
			t.Fatal(err)
		}
	}
	// Every replica sees every cron tick: the deliveries are made once.
	var wg sync.WaitGroup
	for _, r := range replicas {
		for _, id := range subs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := r.Fire(ctx, id, Query{}, build); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	owed, err := first.OwedBySubscriber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range subs {
		if owed[id].Deliveries != 30 {
			t.Fatalf("%s is owed %d deliveries after every replica fired, want 30", id, owed[id].Deliveries)
		}
	}
	var mu sync.Mutex
	inFlight := map[string]bool{}
	sent := map[string][]int64{}
	var problems []string
	for _, r := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for idle := 0; idle < 3; {
				dels, err := claim(ctx, r, subs, 3, time.Minute)
				if err != nil {
					mu.Lock()
					problems = append(problems, err.Error())
					mu.Unlock()
					return
				}
				if len(dels) == 0 {
					idle++
					time.Sleep(5 * time.Millisecond)
					continue
				}
				idle = 0
				var done []Finished
				mu.Lock()
				for _, d := range dels {
					if inFlight[d.SubscriberID] {
						problems = append(problems, "two deliveries of "+d.SubscriberID+" in flight")
					}
					inFlight[d.SubscriberID] = true
					sent[d.SubscriberID] = append(sent[d.SubscriberID], d.ID)
					done = append(done, Finished{Delivery: d, Attempt: Attempt{At: time.Now(), Status: 200}, Outcome: Delivered})
				}
				mu.Unlock()
				time.Sleep(time.Millisecond) // the request
				// In flight until recorded: another replica's claim in
				// between must not pick the same subscriber.
				mu.Lock()
				for _, d := range dels {
					inFlight[d.SubscriberID] = false
				}
				mu.Unlock()
				if _, err := finishAll(ctx, r, done, 0); err != nil {
					mu.Lock()
					problems = append(problems, err.Error())
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, p := range problems {
		t.Error(p)
	}
	for _, id := range subs {
		ids := sent[id]
		if len(ids) != 30 {
			t.Errorf("%s: %d deliveries sent, want 30", id, len(ids))
		}
		for i := 1; i < len(ids); i++ {
			if ids[i] <= ids[i-1] {
				t.Errorf("%s: delivery %d sent after %d", id, ids[i], ids[i-1])
			}
		}
	}
}

// A claim that lapses (its process died mid-request) is claimed again,
// under the same webhook-id; a paused subscriber's deliveries are not.
func TestLapsedClaimAndPause(t *testing.T) { eachEngine(t, testLapsedClaimAndPause) }

func testLapsedClaimAndPause(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	clock := startClock(s)
	if _, err := s.SaveDocuments(ctx, []Document{testDoc("a", "one", "f1"), testDoc("b", "two", "f2")}); err != nil {
		t.Fatal(err)
	}
	s.AddSubscriber(ctx, "p", "all")
	n, err := s.Fire(ctx, "p", Query{}, onePerItem(func(Item) string { return "x" }))
	if err != nil || n != 2 {
		t.Fatalf("fire: %d %v", n, err)
	}
	d1, _ := claim(ctx, s, []string{"p"}, 5, time.Minute)
	if len(d1) != 1 || string(d1[0].Body) != "x" {
		t.Fatalf("first claim: %+v", d1)
	}
	if again, _ := claim(ctx, s, []string{"p"}, 5, time.Minute); len(again) != 0 {
		t.Fatal("a second delivery claimed while one is in flight")
	}
	// The claim is the subscriber's; its listing shows what is in flight.
	statuses := func() map[string]string {
		list, err := s.Deliveries(ctx, "p", 10)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, d := range list {
			out[d.WebhookID] = d.Status
		}
		return out
	}
	if st := statuses(); len(st) != 2 || st[d1[0].WebhookID] != Sending {
		t.Errorf("while claimed: %v, want %s sending and the other due", st, d1[0].WebhookID)
	}
	*clock = clock.Add(2 * time.Minute)
	for id, st := range statuses() {
		if st != Due {
			t.Errorf("after the claim lapsed, %s is %s, want due", id, st)
		}
	}
	d2, _ := claim(ctx, s, []string{"p"}, 5, time.Minute)
	if len(d2) != 1 || d2[0].WebhookID != d1[0].WebhookID {
		t.Fatalf("after the claim lapsed: %+v, want the same delivery again", d2)
	}
	s.SetPaused(ctx, "p", true)
	*clock = clock.Add(2 * time.Minute)
	if d, _ := claim(ctx, s, []string{"p"}, 5, time.Minute); len(d) != 0 {
		t.Error("a paused subscriber's delivery was claimed")
	}
	s.SetPaused(ctx, "p", false)
	next, err := finishAll(ctx, s, []Finished{{Delivery: d2[0], Attempt: Attempt{At: *clock, Status: 200}, Outcome: Delivered}}, time.Minute)
	if err != nil || len(next) != 1 || next[0].ID == d2[0].ID {
		t.Errorf("finishing claims the next: %+v %v", next, err)
	}
}

// A store copied into another engine's keeps everything: items with their
// ids, documents, subscribers' cursors, the outbox with its webhook-ids
// and attempts; a non-empty target is refused.
func TestCopyBetweenEngines(t *testing.T) { eachEngine(t, testCopyBetweenEngines) }

func testCopyBetweenEngines(t *testing.T) {
	ctx := context.Background()
	src, _ := openTemp(t) // the target, of the engine under test; the source is SQLite
	sqlite, err := Open(ctx, "sqlite", t.TempDir()+"/from.db")
	if err != nil {
		t.Fatal(err)
	}
	defer sqlite.Close()
	from, to := sqlite, src
	docs := numberedDocs(0, 12)
	if _, err := from.SaveDocuments(ctx, docs); err != nil {
		t.Fatal(err)
	}
	from.AddSubscriber(ctx, "p", "all")
	from.Fire(ctx, "p", Query{Countries: []string{"BE"}}, func(items []Item) ([]Batch, error) {
		return []Batch{{Items: []int64{items[0].Seq}, Body: []byte("one")}, {Items: []int64{items[1].Seq}, Body: []byte("two")}}, nil
	})
	dels, _ := claim(ctx, from, []string{"p"}, 1, time.Minute)
	finishAll(ctx, from, []Finished{{Delivery: dels[0], Attempt: Attempt{At: time.Now(), Status: 500, Error: "HTTP 500"}, Outcome: Retry, Next: time.Now()}}, 0)
	// q's first delivery is sent, its success in the log, not settled.
	from.AddSubscriber(ctx, "q", "all")
	from.Fire(ctx, "q", Query{}, onePerItem(func(it Item) string { return fmt.Sprint(it.Seq) }))
	qrun, _ := from.ClaimRuns(ctx, []string{"q"}, 1, 1, time.Minute)
	if len(qrun) != 1 {
		t.Fatalf("claim q: %v", qrun)
	}
	sentAt := time.Now().UTC().Truncate(time.Millisecond)
	if _, err := from.Record(ctx, Record{Done: []Finished{{Delivery: qrun[0][0], Attempt: Attempt{At: sentAt, Status: 200}, Outcome: Delivered}}, Lease: time.Minute, Run: 1}); err != nil {
		t.Fatal(err)
	}
	copied, err := Copy(ctx, from, to)
	if err != nil {
		t.Fatal(err)
	}
	if len(copied) != len(copyTables) {
		t.Errorf("copied %v", copied)
	}
	before, _ := from.Items(ctx, Query{Limit: 50, SeqDesc: true})
	after, _ := to.Items(ctx, Query{Limit: 50, SeqDesc: true})
	if len(after) != 12 || fmt.Sprint(before) != fmt.Sprint(after) {
		t.Errorf("items differ after the copy:\n%v\n%v", before, after)
	}
	if f, _ := to.ItemFacets(ctx); f.Items != 12 || len(f.Countries) != 1 {
		t.Errorf("facets after the copy: %+v", f)
	}
	if n := found(t, to, "body"); n != 12 {
		t.Errorf("a search of the copy finds %d items, want 12", n)
	}
	d1, _ := from.Deliveries(ctx, "p", 10)
	d2, _ := to.Deliveries(ctx, "p", 10)
	if len(d2) != 2 || d1[0].WebhookID != d2[0].WebhookID || d2[1].Attempts != 1 || string(d2[0].Body) != string(d1[0].Body) {
		t.Errorf("deliveries after the copy: %+v", d2)
	}
	sentQ := func(when string) {
		t.Helper()
		qd, _ := to.Deliveries(ctx, "q", 20)
		owed, _ := to.OwedBySubscriber(ctx)
		if len(qd) != 12 || qd[11].ID != qrun[0][0].ID || qd[11].Status != Sent || !qd[11].SentAt.Equal(sentAt) || qd[10].Status != Due || owed["q"].Deliveries != 11 {
			t.Errorf("%s: q's deliveries after the copy: %d, the first %+v, owed %d", when, len(qd), qd[len(qd)-1], owed["q"].Deliveries)
		}
	}
	sentQ("logged")
	if n, err := to.Settle(ctx); n != 1 || err != nil {
		t.Errorf("the copy's log held %d successes (%v), want q's one", n, err)
	}
	sentQ("settled")
	subs, _ := to.Subscribers(ctx)
	fsubs, _ := from.Subscribers(ctx)
	if subs["p"].Cursor != fsubs["p"].Cursor || subs["p"].Cursor == 0 {
		t.Errorf("cursor: %d, want %d", subs["p"].Cursor, fsubs["p"].Cursor)
	}
	// New items in the target take ids after the copied ones.
	if _, err := to.SaveDocuments(ctx, []Document{testDoc("new", "a new body", "fp-new")}); err != nil {
		t.Fatal(err)
	}
	if latest, _ := to.Items(ctx, Query{Limit: 1, SeqDesc: true}); latest[0].Seq <= after[0].Seq {
		t.Errorf("a new item got id %d, not after %d", latest[0].Seq, after[0].Seq)
	}
	if _, err := Copy(ctx, from, to); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("a copy into a non-empty store: %v", err)
	}
}

// A process watching the store sees items another process stores: at once
// on PostgreSQL (LISTEN/NOTIFY), at the next check on SQLite.
func TestWatchSeesOtherProcesses(t *testing.T) { eachEngine(t, testWatchSeesOtherProcesses) }

func testWatchSeesOtherProcesses(t *testing.T) {
	watcher, dsn := openTemp(t)
	writer := reopen(t, dsn)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	every := 50 * time.Millisecond
	if watcher.pg {
		every = time.Hour // only the notification can tell it in time
	}
	go watcher.Watch(ctx, every)
	time.Sleep(200 * time.Millisecond) // listening
	before := watcher.Generation()
	if _, err := writer.SaveDocuments(ctx, []Document{testDoc("a", "one", "f1")}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for watcher.Generation() == before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if watcher.Generation() == before {
		t.Error("the watching process never saw the other's items")
	}
}

// Full-text search: every word must match (case and accents aside), a
// phrase in quotes matches as a phrase, -word excludes; it combines with
// the filters and follows corrections and retractions.
func TestSearch(t *testing.T) { eachEngine(t, testSearch) }

func testSearch(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	mk := func(key, lang, country, title, body string) Document {
		d := testDoc(key, body, "fp-"+key)
		d.Item.Title, d.Item.Language, d.Item.Country = title, lang, country
		return d
	}
	docs := []Document{
		mk("a", "fr", "BE", "Les réfugiés arrivent à Bruxelles", "L'OIM accueille des réfugiés et des migrants dans la capitale."),
		mk("b", "en", "KE", "Floods displace families", "Heavy rain forced families from their homes near the river."),
		mk("c", "es", "GT", "Retornados reciben apoyo", "Los migrantes retornados reciben apoyo para reintegrarse."),
		mk("d", "en", "BE", "Refugee camp opens", "A new camp for refugees opened in the south."),
	}
	saved, err := s.SaveDocuments(ctx, docs)
	if err != nil {
		t.Fatal(err)
	}
	search := func(q string, filter Query) []string {
		t.Helper()
		sq, err := ParseSearch(q)
		if err != nil {
			t.Fatalf("ParseSearch(%q): %v", q, err)
		}
		filter.Search, filter.Limit, filter.SeqDesc = sq, 50, true
		items, err := s.Items(ctx, filter)
		if err != nil {
			t.Fatalf("search %q: %v", q, err)
		}
		var titles []string
		for _, it := range items {
			titles = append(titles, it.Title)
		}
		return titles
	}
	for _, tt := range []struct {
		q      string
		filter Query
		want   string
	}{
		{"REFUGIES", Query{}, "[Les réfugiés arrivent à Bruxelles]"},
		{"families river", Query{}, "[Floods displace families]"},
		{"families -river", Query{}, "[]"},
		{`"forced families"`, Query{}, "[Floods displace families]"},
		{`"families forced"`, Query{}, "[]"},
		{`families -"forced families"`, Query{}, "[]"},
		{`families -"families forced"`, Query{}, "[Floods displace families]"},
		{`"DISPLACE families"`, Query{}, "[Floods displace families]"}, // in the title
		{`"l'oim accueille"`, Query{}, "[Les réfugiés arrivent à Bruxelles]"},
		{`"refugies et des"`, Query{Countries: []string{"BE"}}, "[Les réfugiés arrivent à Bruxelles]"},
		{"migrantes", Query{Countries: []string{"GT"}}, "[Retornados reciben apoyo]"},
		{"camp", Query{Countries: []string{"KE"}}, "[]"},
	} {
		if got := fmt.Sprint(search(tt.q, tt.filter)); got != tt.want {
			t.Errorf("q=%s %+v: got %s, want %s", tt.q, tt.filter.Countries, got, tt.want)
		}
	}
	// SQLite matches a phrase in the title or in the body, as FTS5 did
	// when its index held positions; PostgreSQL's one text search vector
	// of both lets a phrase run from the title's last word on.
	if got := fmt.Sprint(search(`"families heavy"`, Query{})); !s.pg && got != "[]" {
		t.Errorf(`q="families heavy": got %s, want []`, got)
	}
	if s.pg { // word forms: the item's language stems
		if got := fmt.Sprint(search("refugee", Query{})); !strings.Contains(got, "Refugee camp opens") {
			t.Errorf("stemmed search: %s", got)
		}
	}
	// The index follows corrections and retractions.
	docs[1].Raw = []byte("corrected")
	docs[1].Item.ContentText = "The river rose again and the families moved to higher ground."
	if _, err := s.SaveDocuments(ctx, docs[1:2]); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(search("ground", Query{})); got != "[Floods displace families]" {
		t.Errorf("after a correction: %s", got)
	}
	if got := fmt.Sprint(search("homes", Query{})); got != "[]" {
		t.Errorf("the old text is still found: %s", got)
	}
	if _, err := s.Retract(ctx, saved[1].UID); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(search("ground", Query{})); got != "[]" {
		t.Errorf("a retracted item is still found: %s", got)
	}
	// A release stored and corrected in one run is indexed once, as
	// corrected (SQLite indexes a run's new items at its end).
	first := mk("e", "en", "KE", "Drought response", "Water tankers reach the northern villages.")
	second := first
	second.Raw = []byte("second version")
	second.Item.ContentText = "Water trucks and seed stocks reach the northern villages."
	if _, err := s.SaveDocuments(ctx, []Document{first, second}); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(search("seed", Query{})); got != "[Drought response]" {
		t.Errorf("an item corrected in the run that stored it: %s", got)
	}
	if got := fmt.Sprint(search("tankers", Query{})); got != "[]" {
		t.Errorf("the first text of an item corrected in the run that stored it is found: %s", got)
	}
	for _, bad := range []string{"", "-only", `"open`, strings.Repeat("a ", 300)} {
		if _, err := ParseSearch(bad); !errors.Is(err, ErrBadSearch) {
			t.Errorf("ParseSearch(%q): %v, want ErrBadSearch", bad, err)
		}
	}
}

// Replicas starting at once register the same subscribers from their
// config: none of them fails.
func TestAddSubscriberFromManyProcesses(t *testing.T) {
	eachEngine(t, testAddSubscriberFromManyProcesses)
}

func testAddSubscriberFromManyProcesses(t *testing.T) {
	ctx := context.Background()
	a, dsn := openTemp(t)
	handles := []*Store{a, reopen(t, dsn), reopen(t, dsn)}
	var wg sync.WaitGroup
	errs := make(chan error, 3*40)
	for _, h := range handles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 40; i++ {
				errs <- h.AddSubscriber(ctx, fmt.Sprintf("partner-%d", i), "all")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("registering a subscriber another process registered at the same time: %v", err)
		}
	}
	subs, err := a.Subscribers(ctx)
	if err != nil || len(subs) != 40 {
		t.Errorf("%d subscribers (%v), want 40", len(subs), err)
	}
}

// A sender claims a run of a subscriber's deliveries, in order, up to the
// first that may not go now; another process can claim none of them while
// the run is held; a failure gives the rest of the run back, and so does a
// pause noticed at the next commit; a run whose sender died lapses, and
// the whole run is claimed again, in order, under the same webhook-ids.
func TestClaimRuns(t *testing.T) { eachEngine(t, testClaimRuns) }

func testClaimRuns(t *testing.T) {
	ctx := context.Background()
	s, dsn := openTemp(t)
	other := reopen(t, dsn)
	clock := startClock(s)
	other.Now = s.Now
	docs := numberedDocs(0, 8)
	if _, err := s.SaveDocuments(ctx, docs); err != nil {
		t.Fatal(err)
	}
	s.AddSubscriber(ctx, "p", "all")
	if _, err := s.Fire(ctx, "p", Query{}, onePerItem(func(it Item) string { return fmt.Sprint(it.Seq) })); err != nil {
		t.Fatal(err)
	}
	ids := func(run []Delivery) (out []int64) {
		for _, d := range run {
			out = append(out, d.ID)
		}
		return out
	}
	all, _ := s.Deliveries(ctx, "p", 20)
	slices.SortFunc(all, func(a, b Delivery) int { return int(a.ID - b.ID) })
	want := ids(all)

	runs, err := s.ClaimRuns(ctx, []string{"p"}, 5, 4, time.Minute)
	if err != nil || len(runs) != 1 || fmt.Sprint(ids(runs[0])) != fmt.Sprint(want[:4]) {
		t.Fatalf("first run: %v %v, want %v", runs, err, want[:4])
	}
	for _, d := range runs[0] {
		if string(d.Body) != string(all[slices.Index(want, d.ID)].Body) {
			t.Errorf("delivery %d came with body %q", d.ID, d.Body)
		}
	}
	if again, _ := other.ClaimRuns(ctx, []string{"p"}, 5, 3, time.Minute); len(again) != 0 {
		t.Fatalf("another process claimed %v while a run is held", again)
	}
	// The first two go; the third fails: the fourth is given back.
	ok := func(d Delivery) Finished {
		return Finished{Delivery: d, Attempt: Attempt{At: *clock, Status: 200}, Outcome: Delivered}
	}
	if _, err := s.Record(ctx, Record{Done: []Finished{ok(runs[0][0]), ok(runs[0][1])}, Lease: time.Minute, Run: 3, Holding: map[string]int64{"p": runs[0][2].ID}}); err != nil {
		t.Fatal(err)
	}
	failed := Finished{Delivery: runs[0][2], Attempt: Attempt{At: *clock, Status: 500, Error: "HTTP 500"}, Outcome: Retry, Next: clock.Add(30 * time.Second)}
	if _, err := s.Record(ctx, Record{Done: []Finished{failed}, Lease: time.Minute, Run: 3}); err != nil {
		t.Fatal(err)
	}
	if r, _ := other.ClaimRuns(ctx, []string{"p"}, 5, 3, time.Minute); len(r) != 0 {
		t.Fatalf("claimed %v while the head waits out its backoff", r)
	}
	// Once due again, the run starts at the failed one and holds the
	// next two; a pause noticed at the next commit gives them back.
	*clock = clock.Add(31 * time.Second) // the rest of the run's claims have not lapsed
	runs, _ = other.ClaimRuns(ctx, []string{"p"}, 5, 3, time.Minute)
	if len(runs) != 1 || fmt.Sprint(ids(runs[0])) != fmt.Sprint(want[2:5]) || runs[0][0].WebhookID != failed.Delivery.WebhookID {
		t.Fatalf("after the backoff: %v, want %v", runs, want[2:5])
	}
	s.SetPaused(ctx, "p", true)
	rec, err := other.Record(ctx, Record{Done: []Finished{ok(runs[0][0])}, Lease: time.Minute, Run: 3, Holding: map[string]int64{"p": 0}})
	if err != nil || fmt.Sprint(rec.Stopped) != "[p]" {
		t.Fatalf("a pause noticed: %+v %v", rec, err)
	}
	s.SetPaused(ctx, "p", false)
	// The sender of the next run dies: the run lapses and is claimed
	// again whole, in order.
	runs, _ = s.ClaimRuns(ctx, []string{"p"}, 5, 3, time.Minute)
	if len(runs) != 1 || fmt.Sprint(ids(runs[0])) != fmt.Sprint(want[3:6]) {
		t.Fatalf("after the pause: %v, want %v", runs, want[3:6])
	}
	*clock = clock.Add(2 * time.Minute)
	again, _ := other.ClaimRuns(ctx, []string{"p"}, 5, 8, time.Minute)
	if len(again) != 1 || fmt.Sprint(ids(again[0])) != fmt.Sprint(want[3:]) {
		t.Fatalf("after the run lapsed: %v, want %v", again, want[3:])
	}
	// Renewed claims outlive the lease they were taken with.
	if _, err := other.Record(ctx, Record{Lease: time.Hour, Renew: []string{"p"}, Holding: map[string]int64{"p": 0}}); err != nil {
		t.Fatal(err)
	}
	*clock = clock.Add(2 * time.Minute)
	if r, _ := s.ClaimRuns(ctx, []string{"p"}, 5, 3, time.Minute); len(r) != 0 {
		t.Errorf("claimed %v while renewed claims hold", r)
	}
}

// The part of bodies that many deliveries carry is stored once, and every
// way of reading a body (claiming, listing, after a copy) puts the whole
// together again.
func TestSharedBodies(t *testing.T) { eachEngine(t, testSharedBodies) }

func testSharedBodies(t *testing.T) {
	ctx := context.Background()
	s, dsn := openTemp(t)
	if _, err := s.SaveDocuments(ctx, []Document{testDoc("a", "one", "f1"), testDoc("b", "two", "f2")}); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{}
	for _, id := range []string{"p1", "p2", "p3"} {
		s.AddSubscriber(ctx, id, "all")
		if _, err := s.Fire(ctx, id, Query{}, func(items []Item) ([]Batch, error) {
			var out []Batch
			for _, it := range items {
				own := fmt.Sprintf("{%q:[]}", id)
				shared := []byte(fmt.Sprintf(`"item %d, the same for everyone"`, it.Seq))
				out = append(out, Batch{Items: []int64{it.Seq}, Body: []byte(own), Shared: shared, Split: len(own) - 2})
				want[id] = append(want[id], fmt.Sprintf(`{%q:["item %d, the same for everyone"]}`, id, it.Seq))
			}
			return out, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	var n, whole int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM shared_bodies`).Scan(&n); err != nil || n != 2 {
		t.Errorf("%d shared parts stored for 2 items sent to 3 subscribers (%v), want 2", n, err)
	}
	// A crier from before shared parts finds no whole body to send half of.
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM delivery_bodies`).Scan(&whole); err != nil || whole != 0 {
		t.Errorf("%d deliveries sharing parts have a row in delivery_bodies (%v)", whole, err)
	}
	// Another process stores the same parts again without harm.
	other := reopen(t, dsn)
	other.AddSubscriber(ctx, "p4", "all")
	if _, err := other.Fire(ctx, "p4", Query{}, func(items []Item) ([]Batch, error) {
		var out []Batch
		for _, it := range items {
			out = append(out, Batch{Items: []int64{it.Seq}, Body: []byte("[]"), Shared: []byte(fmt.Sprintf(`"item %d, the same for everyone"`, it.Seq)), Split: 1})
		}
		return out, nil
	}); err != nil {
		t.Fatal(err)
	}
	check := func(how string, dels []Delivery) {
		t.Helper()
		got := map[string][]string{}
		for _, d := range dels {
			got[d.SubscriberID] = append(got[d.SubscriberID], string(d.Body))
		}
		for id, bodies := range want {
			slices.Sort(bodies)
			slices.Sort(got[id])
			if fmt.Sprint(got[id]) != fmt.Sprint(bodies) {
				t.Errorf("%s, %s: %q, want %q", how, id, got[id], bodies)
			}
		}
	}
	var listed []Delivery
	for id := range want {
		dels, err := s.Deliveries(ctx, id, 10)
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, dels...)
	}
	check("listed", listed)
	// Listed by the process that stored the parts (from its memory),
	// claimed by one that did not (from the database).
	var claimed []Delivery
	runs, err := reopen(t, dsn).ClaimRuns(ctx, []string{"p1", "p2", "p3"}, 3, 2, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		claimed = append(claimed, r...)
	}
	check("claimed", claimed)
	copied, err := Open(ctx, "sqlite", t.TempDir()+"/copy.db")
	if err != nil {
		t.Fatal(err)
	}
	defer copied.Close()
	if _, err := Copy(ctx, s, copied); err != nil {
		t.Fatal(err)
	}
	var after []Delivery
	for id := range want {
		dels, _ := copied.Deliveries(ctx, id, 10)
		after = append(after, dels...)
	}
	check("after a copy", after)
	// The copy's own search index holds the copied items.
	if found, err := copied.Items(ctx, Query{Limit: 5, SeqDesc: true, Search: mustSearch(t, "two")}); err != nil || len(found) != 1 {
		t.Errorf("search in the copy: %d items, %v", len(found), err)
	}
}

// The shared parts a process holds stay within sharedBytes, and a part
// is held once however often it is added.
func TestSharedPartsAreBounded(t *testing.T) {
	var c sharedParts
	part := make([]byte, 1<<20)
	for i := range 100 {
		c.add(fmt.Sprint(i), part)
		c.add(fmt.Sprint(i), part)
		if c.size > sharedBytes || c.size != len(c.parts)<<20 {
			t.Fatalf("after %d parts: %d bytes held for %d parts, bound %d", i+1, c.size, len(c.parts), sharedBytes)
		}
		if got, ok := c.get(fmt.Sprint(i)); !ok || len(got) != len(part) {
			t.Fatalf("part %d not held right after it was added", i)
		}
	}
	c.add("huge", make([]byte, sharedBytes+1))
	if c.has("huge") {
		t.Error("a part larger than the bound is held")
	}
}

// Subscribers fired together each get what they are owed, once, numbered
// in their own sequence, whether their cursors stand together or apart,
// and however many processes fire them at once.
func TestFireMany(t *testing.T) { eachEngine(t, testFireMany) }

func testFireMany(t *testing.T) {
	ctx := context.Background()
	s, dsn := openTemp(t)
	other := reopen(t, dsn)
	save := func(from, to int) {
		if _, err := s.SaveDocuments(ctx, numberedDocs(from, to)); err != nil {
			t.Fatal(err)
		}
	}
	ids := []string{"p1", "p2", "p3", "p4"}
	for _, id := range ids {
		s.AddSubscriber(ctx, id, "all")
	}
	save(0, 5)
	if _, err := s.FireMany(ctx, []string{"p3"}, Query{}, numbered, nil); err != nil {
		t.Fatal(err)
	}
	save(5, 12)
	total, told := fireAtOnce(t, []*Store{s, other, s}, ids, numbered)
	if want := map[string]int{"p1": 12, "p2": 12, "p3": 7, "p4": 12}; fmt.Sprint(total) != fmt.Sprint(want) {
		t.Errorf("created %v, want %v", total, want)
	}
	if fmt.Sprint(told) != fmt.Sprint(total) {
		t.Errorf("fired was told of %v, want %v", told, total)
	}
	for _, id := range ids {
		dels, err := s.Deliveries(ctx, id, 50)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for i, d := range dels {
			// Newest first: sequence n, n-1, … 1 and one delivery per item.
			var sub string
			var item, seq int64
			fmt.Sscanf(string(d.Body), "%s %d #%d", &sub, &item, &seq)
			if sub != id || seq != int64(len(dels)-i) || seen[fmt.Sprint(item)] {
				t.Errorf("%s: delivery %d is %q", id, i, d.Body)
			}
			seen[fmt.Sprint(item)] = true
		}
		if len(dels) != 12 {
			t.Errorf("%s: %d deliveries, want 12", id, len(dels))
		}
	}
}

// Subscribers fired together are committed several at a time, more than
// one transaction's worth of deliveries here, from two processes at once:
// each gets every item once, numbered in order, and fired is told of each.
func TestFireManyCommitsInParts(t *testing.T) { eachEngine(t, testFireManyCommitsInParts) }

func testFireManyCommitsInParts(t *testing.T) {
	ctx := context.Background()
	s, dsn := openTemp(t)
	other := reopen(t, dsn)
	const subs, items = 50, 30 // 1,500 deliveries: above fireCommit
	var ids []string
	for i := 0; i < subs; i++ {
		ids = append(ids, fmt.Sprintf("p%02d", i))
		s.AddSubscriber(ctx, ids[i], "all")
	}
	if _, err := s.SaveDocuments(ctx, numberedDocs(0, items)); err != nil {
		t.Fatal(err)
	}
	total, told := fireAtOnce(t, []*Store{s, other}, ids, numbered)
	for _, id := range ids {
		if total[id] != items || told[id] != items {
			t.Errorf("%s: created %d, told %d, want %d", id, total[id], told[id], items)
		}
		dels, err := s.Deliveries(ctx, id, 2*items)
		if err != nil {
			t.Fatal(err)
		}
		if len(dels) != items {
			t.Fatalf("%s: %d deliveries, want %d", id, len(dels), items)
		}
		for i, d := range dels { // newest first
			var sub string
			var item, seq int64
			fmt.Sscanf(string(d.Body), "%s %d #%d", &sub, &item, &seq)
			if want := int64(items - i); sub != id || seq != want || d.Items[0] != item {
				t.Errorf("%s: delivery %d is %q, want sequence %d", id, i, d.Body, want)
			}
		}
	}
}

// numbered builds a delivery for each item, its body "subscriber item
// #sequence".
func numbered(id string) Builder {
	return func(event string, items []Item, seq int64) ([]Batch, error) {
		var out []Batch
		for _, it := range items {
			out = append(out, Batch{Items: []int64{it.Seq}, Body: []byte(fmt.Sprintf("%s %d #%d", id, it.Seq, seq))})
			seq++
		}
		return out, nil
	}
}

// fireAtOnce fires ids from each store at once and returns the
// deliveries each subscriber got, as FireMany counted them and as fired
// was told of them.
func fireAtOnce(t *testing.T, stores []*Store, ids []string, build func(string) Builder) (total, told map[string]int) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	total, told = map[string]int{}, map[string]int{}
	for _, st := range stores {
		wg.Go(func() {
			n, err := st.FireMany(context.Background(), ids, Query{}, build, func(id string, k int) { mu.Lock(); told[id] += k; mu.Unlock() })
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			for id, k := range n {
				total[id] += k
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	return total, told
}

// onePerItem builds a delivery for each item, its body body(item).
func onePerItem(body func(Item) string) func([]Item) ([]Batch, error) {
	return func(items []Item) ([]Batch, error) {
		var out []Batch
		for _, it := range items {
			out = append(out, Batch{Items: []int64{it.Seq}, Body: []byte(body(it))})
		}
		return out, nil
	}
}

// numberedDocs makes documents from to to-1, each a release of its own.
func numberedDocs(from, to int) []Document {
	var docs []Document
	for i := from; i < to; i++ {
		docs = append(docs, testDoc(fmt.Sprintf("k%d", i), fmt.Sprintf("body %d", i), fmt.Sprintf("fp%d", i)))
	}
	return docs
}

// Deliveries recorded together are each marked sent at their own
// attempt's time, once, with their attempt kept.
func TestRecordMarksEachSent(t *testing.T) { eachEngine(t, testRecordMarksEachSent) }

func testRecordMarksEachSent(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	owedToP(t, s, 3)
	runs, err := s.ClaimRuns(ctx, []string{"p"}, 1, 3, time.Minute)
	if err != nil || len(runs) != 1 || len(runs[0]) != 3 {
		t.Fatalf("claim: %v %v", runs, err)
	}
	at := time.Date(2026, 2, 1, 9, 0, 0, 0, time.UTC)
	var done []Finished
	for i, d := range runs[0] { // three: a list padded to four
		a := Attempt{At: at.Add(time.Duration(i) * time.Second), Status: 200, Latency: time.Duration(i+1) * 10 * time.Millisecond, Response: []byte(fmt.Sprint("ok ", i))}
		done = append(done, Finished{Delivery: d, Attempt: a, Outcome: Delivered})
	}
	if _, err := s.Record(ctx, Record{Done: done}); err != nil {
		t.Fatal(err)
	}
	dels, _ := s.Deliveries(ctx, "p", 10)
	for _, d := range dels {
		i := slices.IndexFunc(runs[0], func(c Delivery) bool { return c.ID == d.ID })
		want := at.Add(time.Duration(i) * time.Second)
		if d.Status != Sent || d.Attempts != 1 || !d.SentAt.Equal(want) {
			t.Errorf("delivery %d: %s, %d attempts, sent at %v; want sent once at %v", d.ID, d.Status, d.Attempts, d.SentAt, want)
		}
		if a, _ := s.Attempts(ctx, d.ID); len(a) != 1 || !a[0].At.Equal(want) || a[0].Status != 200 ||
			a[0].Latency != time.Duration(i+1)*10*time.Millisecond || string(a[0].Response) != fmt.Sprint("ok ", i) {
			t.Errorf("delivery %d: attempts %+v", d.ID, a)
		}
	}
	// Replayed, failed once and delivered again: every attempt is listed,
	// in order, each with what the partner answered.
	first := runs[0][0]
	if err := s.Replay(ctx, first.WebhookID); err != nil {
		t.Fatal(err)
	}
	again, err := s.ClaimRuns(ctx, []string{"p"}, 1, 1, time.Minute)
	if err != nil || len(again) != 1 || again[0][0].ID != first.ID {
		t.Fatalf("claim the replayed delivery: %v %v", again, err)
	}
	later := at.Add(time.Hour)
	fail := Finished{Delivery: again[0][0], Attempt: Attempt{At: later, Status: 503, Error: "HTTP 503"}, Outcome: Retry, Next: later}
	if _, err := s.Record(ctx, Record{Done: []Finished{fail}}); err != nil {
		t.Fatal(err)
	}
	again, err = s.ClaimRuns(ctx, []string{"p"}, 1, 1, time.Minute)
	if err != nil || len(again) != 1 || again[0][0].ID != first.ID {
		t.Fatalf("claim the replayed delivery after its failure: %v %v", again, err)
	}
	ok := Finished{Delivery: again[0][0], Attempt: Attempt{At: later.Add(time.Minute), Status: 202, Response: []byte("again")}, Outcome: Delivered}
	if _, err := s.Record(ctx, Record{Done: []Finished{ok}}); err != nil {
		t.Fatal(err)
	}
	a, err := s.Attempts(ctx, first.ID)
	if err != nil || len(a) != 3 || a[0].Status != 200 || string(a[0].Response) != "ok 0" ||
		a[1].Status != 503 || a[1].Error != "HTTP 503" || a[2].Status != 202 || string(a[2].Response) != "again" {
		t.Errorf("attempts of the replayed delivery: %+v %v", a, err)
	}
}

// owedToP stores n releases and makes each a delivery owed to subscriber
// p, with the body "x".
func owedToP(t *testing.T, s *Store, n int) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.SaveDocuments(ctx, numberedDocs(0, n)); err != nil {
		t.Fatal(err)
	}
	s.AddSubscriber(ctx, "p", "all")
	if k, err := s.Fire(ctx, "p", Query{}, onePerItem(func(Item) string { return "x" })); err != nil || k != n {
		t.Fatalf("fire: %d deliveries, %v; want %d", k, err, n)
	}
}

// claim is ClaimRuns with runs of one: each subscriber's head alone.
func claim(ctx context.Context, s *Store, subscribers []string, n int, lease time.Duration) ([]Delivery, error) {
	runs, err := s.ClaimRuns(ctx, subscribers, n, 1, lease)
	var out []Delivery
	for _, r := range runs {
		out = append(out, r...)
	}
	return out, err
}

// finishAll records attempts; with a lease, each subscriber whose delivery
// succeeded has its next one claimed in the same commit, and returned.
func finishAll(ctx context.Context, s *Store, done []Finished, lease time.Duration) ([]Delivery, error) {
	r := Record{Done: done, Lease: lease, Run: 1}
	for _, f := range done {
		if f.Outcome == Delivered && !slices.Contains(r.Refill, f.Delivery.SubscriberID) {
			r.Refill = append(r.Refill, f.Delivery.SubscriberID)
		}
	}
	rec, err := s.Record(ctx, r)
	var next []Delivery
	for _, id := range r.Refill {
		next = append(next, rec.Runs[id]...)
	}
	return next, err
}

// A delivery's items are read by hand as commitFire writes them, and
// anything else is left to encoding/json.
func TestItemListAgreesWithJSON(t *testing.T) {
	for _, s := range []string{"[]", "[1]", "[12,13,9007199254740993]", "[-4]", "[ 1]", "[1,]", "[+1]", "[1.5]", "null", "", "[", "[x]"} {
		var want []int64
		err := json.Unmarshal([]byte(s), &want)
		got, ok := itemList(s)
		if ok && (err != nil || !slices.Equal(got, want) || (got == nil) != (want == nil)) {
			t.Errorf("%q: by hand %v, encoding/json %v %v", s, got, want, err)
		}
		if !ok && err == nil && s != "[ 1]" && s != "null" {
			t.Errorf("%q: refused by hand, read by encoding/json as %v", s, want)
		}
	}
}

// A sender whose claim lapsed and was taken by another ends, gives back
// or renews nothing of the other's claim when it records at last: one
// delivery in flight per subscriber holds.
func TestLateSenderLeavesAnotherClaim(t *testing.T) { eachEngine(t, testLateSenderLeavesAnotherClaim) }

func testLateSenderLeavesAnotherClaim(t *testing.T) {
	ctx := context.Background()
	a, dsn := openTemp(t)
	b := reopen(t, dsn)
	clock := time.Now().UTC()
	a.Now = func() time.Time { return clock }
	b.Now = a.Now
	owedToP(t, a, 4)
	first, err := a.ClaimRuns(ctx, []string{"p"}, 1, 2, time.Minute)
	if err != nil || len(first) != 1 || len(first[0]) != 2 {
		t.Fatalf("a's claim: %v %v", first, err)
	}
	clock = clock.Add(2 * time.Minute) // a's claim lapses; b takes the run again
	second, err := b.ClaimRuns(ctx, []string{"p"}, 1, 2, time.Minute)
	if err != nil || len(second) != 1 || second[0][0].ID != first[0][0].ID {
		t.Fatalf("b's claim after a's lapsed: %v %v", second, err)
	}
	// a records its whole run at last, and gives back or renews what it
	// thinks it holds.
	var done []Finished
	for _, d := range first[0] {
		done = append(done, Finished{Delivery: d, Attempt: Attempt{At: clock, Status: 200}, Outcome: Delivered})
	}
	if _, err := a.Record(ctx, Record{Done: done, Lease: time.Minute, Renew: []string{"p"}, Refill: []string{"p"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Record(ctx, Record{Release: map[string]int64{"p": 0}}); err != nil {
		t.Fatal(err)
	}
	if third, err := a.ClaimRuns(ctx, []string{"p"}, 1, 2, time.Minute); err != nil || len(third) != 0 {
		t.Errorf("claimed while b holds the subscriber: %v %v", third, err)
	}
	if list, _ := b.Deliveries(ctx, "p", 10); len(list) != 4 || list[len(list)-1].Status != Sent {
		t.Errorf("deliveries after a's late record: %+v", list)
	}
}

func TestRecordClaims(t *testing.T) { eachEngine(t, testRecordClaims) }

// A sender's commit claims new subscribers' runs beside its refills: the
// subscriber refilled gets its next run, the others their first, none
// twice, and another process finds them all held.
func testRecordClaims(t *testing.T) {
	ctx := context.Background()
	s, dsn := openTemp(t)
	other := reopen(t, dsn)
	if _, err := s.SaveDocuments(ctx, numberedDocs(0, 6)); err != nil {
		t.Fatal(err)
	}
	var queues = map[string][]int64{}
	for _, id := range []string{"p", "q", "r"} {
		s.AddSubscriber(ctx, id, "all")
		if _, err := s.Fire(ctx, id, Query{}, onePerItem(func(it Item) string { return fmt.Sprint(it.Seq) })); err != nil {
			t.Fatal(err)
		}
		all, _ := s.Deliveries(ctx, id, 20)
		for i := len(all) - 1; i >= 0; i-- {
			queues[id] = append(queues[id], all[i].ID)
		}
	}
	ids := func(run []Delivery) (out []int64) {
		for _, d := range run {
			out = append(out, d.ID)
		}
		return out
	}
	runs, err := s.ClaimRuns(ctx, []string{"p"}, 1, 2, time.Minute)
	if err != nil || len(runs) != 1 {
		t.Fatalf("claim p: %v %v", runs, err)
	}
	var done []Finished
	for _, d := range runs[0] {
		done = append(done, Finished{Delivery: d, Attempt: Attempt{At: s.Now(), Status: 200}, Outcome: Delivered})
	}
	rec, err := s.Record(ctx, Record{Done: done, Lease: time.Minute, Run: 2, Refill: []string{"p"}, Claim: 5, Subscribers: []string{"p", "q", "r"}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]int64{"p": queues["p"][2:4], "q": queues["q"][:2], "r": queues["r"][:2]}
	if len(rec.Runs) != len(want) {
		t.Fatalf("the commit claimed %d runs, want %d: %v", len(rec.Runs), len(want), rec.Runs)
	}
	for id, w := range want {
		if got := ids(rec.Runs[id]); fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("%s: claimed %v, want %v", id, got, w)
		}
		for _, d := range rec.Runs[id] {
			if len(d.Body) == 0 {
				t.Errorf("%s: delivery %d claimed without its body", id, d.ID)
			}
		}
	}
	if again, _ := other.ClaimRuns(ctx, []string{"p", "q", "r"}, 5, 2, time.Minute); len(again) != 0 {
		t.Fatalf("another process claimed %v while every run is held", again)
	}
	// Claim bounds the new runs; the refill is not counted in it.
	if _, err := s.Record(ctx, Record{Release: map[string]int64{"q": 0, "r": 0}, Lease: time.Minute, Run: 2}); err != nil {
		t.Fatal(err)
	}
	rec, err = s.Record(ctx, Record{Lease: time.Minute, Run: 2, Claim: 1, Subscribers: []string{"p", "q", "r"}})
	if err != nil || len(rec.Runs) != 1 || rec.Runs["p"] != nil {
		t.Fatalf("a claim of one more run: %v %v", rec.Runs, err)
	}
}

func TestSentLog(t *testing.T) { eachEngine(t, testSentLog) }

// Successes are recorded in sent_log and the subscriber's sent_through,
// not on their deliveries' rows: every reader says they are sent (with
// the attempt that delivered them) before the log is settled onto the
// rows and after; one whose prefix moved meanwhile (a replay ahead of
// it) is marked on its row at once; a replayed delivery is owed again,
// the head of its queue.
func testSentLog(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	if _, err := s.SaveDocuments(ctx, numberedDocs(0, 8)); err != nil {
		t.Fatal(err)
	}
	s.AddSubscriber(ctx, "p", "all")
	if _, err := s.Fire(ctx, "p", Query{}, onePerItem(func(it Item) string { return fmt.Sprint(it.Seq) })); err != nil {
		t.Fatal(err)
	}
	runs, err := s.ClaimRuns(ctx, []string{"p"}, 1, 4, time.Minute)
	if err != nil || len(runs) != 1 || len(runs[0]) != 4 {
		t.Fatalf("claim: %v %v", runs, err)
	}
	run := runs[0]
	at := s.Now().Add(-time.Second).Truncate(time.Millisecond)
	ok := func(d Delivery) Finished {
		return Finished{Delivery: d, Attempt: Attempt{At: at, Status: 202, Latency: 7 * time.Millisecond, Response: []byte("thanks")}, Outcome: Delivered}
	}
	if _, err := s.Record(ctx, Record{Done: []Finished{ok(run[0]), ok(run[1])}, Lease: time.Minute, Run: 4, Holding: map[string]int64{"p": run[2].ID}}); err != nil {
		t.Fatal(err)
	}
	check := func(when string, sent int) {
		t.Helper()
		dels, err := s.Deliveries(ctx, "p", 20)
		if err != nil || len(dels) != 8 {
			t.Fatalf("%s: %d deliveries, %v", when, len(dels), err)
		}
		n := 0
		for _, d := range dels {
			if d.Status != Sent {
				continue
			}
			n++
			if !d.SentAt.Equal(at) || d.Attempts != 1 || d.LastError != "" {
				t.Errorf("%s: sent delivery %d: sent at %v, %d attempts, error %q", when, d.ID, d.SentAt, d.Attempts, d.LastError)
			}
			as, err := s.Attempts(ctx, d.ID)
			if err != nil || len(as) != 1 || as[0].Status != 202 || as[0].Latency != 7*time.Millisecond || string(as[0].Response) != "thanks" || !as[0].At.Equal(at) {
				t.Errorf("%s: attempts of %d: %+v %v", when, d.ID, as, err)
			}
		}
		if n != sent {
			t.Errorf("%s: %d deliveries sent, want %d", when, n, sent)
		}
		owed, _ := s.OwedBySubscriber(ctx)
		depth, _, _ := s.OutboxDepth(ctx)
		if owed["p"].Deliveries != 8-sent || depth != 8-sent {
			t.Errorf("%s: owed %d, outbox depth %d, want %d", when, owed["p"].Deliveries, depth, 8-sent)
		}
	}
	check("logged", 2)
	// Given back and claimed again, the run starts after what the log
	// says was sent.
	if _, err := s.Record(ctx, Record{Release: map[string]int64{"p": 0}, Lease: time.Minute, Run: 4}); err != nil {
		t.Fatal(err)
	}
	again, err := s.ClaimRuns(ctx, []string{"p"}, 1, 2, time.Minute)
	if err != nil || len(again) != 1 || again[0][0].ID != run[2].ID || again[0][0].Prefix != run[1].ID {
		t.Fatalf("claimed again: %v %v, want the run from %d", again, err, run[2].ID)
	}
	if n, err := s.Settle(ctx); err != nil || n != 2 {
		t.Fatalf("settle: %d, %v; want the 2 logged", n, err)
	}
	check("settled", 2)
	if n, _ := s.Settle(ctx); n != 0 {
		t.Errorf("a second settle found %d", n)
	}

	// The third goes, logged; then the first is replayed while the
	// fourth is in flight: the fourth's prefix moved, so it is marked on
	// its row, and the first is owed again, at the head of the queue.
	if _, err := s.Record(ctx, Record{Done: []Finished{ok(run[2])}, Lease: time.Minute, Run: 4, Holding: map[string]int64{"p": run[3].ID}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Replay(ctx, run[0].WebhookID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Record(ctx, Record{Done: []Finished{ok(run[3])}, Lease: time.Minute, Run: 4}); err != nil {
		t.Fatal(err)
	}
	dels, _ := s.Deliveries(ctx, "p", 20)
	status := map[int64]string{}
	for _, d := range dels {
		status[d.ID] = d.Status
	}
	if status[run[0].ID] != Due || status[run[1].ID] != Sent || status[run[2].ID] != Sent || status[run[3].ID] != Sent {
		t.Errorf("after the replay: %v", status)
	}
	if n, _ := s.Settle(ctx); n != 0 {
		t.Errorf("settle after the replay found %d in the log: the replay settles it, and the fourth went on its row", n)
	}
	heads, err := s.ClaimRuns(ctx, []string{"p"}, 1, 8, time.Minute)
	if err != nil || len(heads) != 1 || heads[0][0].ID != run[0].ID {
		t.Fatalf("after the replay the head is %v (%v), want the replayed %d", heads, err, run[0].ID)
	}
	for _, d := range heads[0][1:] {
		if d.ID <= run[3].ID {
			t.Errorf("delivery %d, sent, claimed again after the replayed one", d.ID)
		}
	}
	owed, _ := s.OwedBySubscriber(ctx)
	if owed["p"].Deliveries != 5 {
		t.Errorf("owed after the replay: %d, want 5 (the replayed one and the 4 never sent)", owed["p"].Deliveries)
	}
}

// AddSubscribers registers what is new in one go, each with its own
// backfill, leaves those registered as they are, and refuses a bad
// backfill; RetryNowAll makes the owed deliveries of the subscribers it
// names due now, and no one else's.
func TestAddSubscribersAndRetryNowAll(t *testing.T) { eachEngine(t, testAddSubscribersAndRetryNowAll) }

func testAddSubscribersAndRetryNowAll(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	clock := startClock(s)
	if _, err := s.SaveDocuments(ctx, numberedDocs(0, 4)); err != nil {
		t.Fatal(err)
	}
	if err := s.AddSubscriber(ctx, "old", "all"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Fire(ctx, "old", Query{}, onePerItem(func(it Item) string { return fmt.Sprint(it.Seq) })); err != nil {
		t.Fatal(err)
	}
	*clock = clock.Add(time.Minute) // the items are a minute old
	err := s.AddSubscribers(ctx, []NewSubscriber{{"old", "0s"}, {"all", "all"}, {"none", "0s"}, {"bad", "soon"}})
	if err == nil || !strings.Contains(err.Error(), `backfill "soon"`) {
		t.Fatalf("a bad backfill: %v, want it named", err)
	}
	if err := s.AddSubscribers(ctx, []NewSubscriber{{"old", "0s"}, {"all", "all"}, {"none", "0s"}}); err != nil {
		t.Fatal(err)
	}
	subs, err := s.Subscribers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(subs) != 3 || subs["old"].Cursor == 0 || subs["all"].Cursor != 0 || subs["none"].Cursor == 0 {
		t.Fatalf("subscribers after AddSubscribers: %+v; want old's cursor kept, all's at 0 and none's past every item", subs)
	}
	build := onePerItem(func(it Item) string { return fmt.Sprint(it.Seq) })
	if _, err := s.Fire(ctx, "all", Query{}, build); err != nil {
		t.Fatal(err)
	}
	// Each subscriber's first delivery fails and waits an hour.
	for _, id := range []string{"old", "all"} {
		dels, err := claim(ctx, s, []string{id}, 1, time.Minute)
		if err != nil || len(dels) == 0 {
			t.Fatalf("claim %s: %d (%v)", id, len(dels), err)
		}
		if _, err := s.Record(ctx, Record{Done: []Finished{{Delivery: dels[0], Attempt: Attempt{At: *clock, Status: 500}, Outcome: Retry, Next: clock.Add(time.Hour)}}}); err != nil {
			t.Fatal(err)
		}
	}
	if dels, err := claim(ctx, s, []string{"old", "all"}, 2, time.Minute); err != nil || len(dels) != 0 {
		t.Fatalf("before RetryNowAll, %d deliveries claimable (%v), want none", len(dels), err)
	}
	n, err := s.RetryNowAll(ctx, []string{"all", "none"})
	if err != nil || n != 4 {
		t.Fatalf("RetryNowAll: %d (%v), want all's 4 owed deliveries", n, err)
	}
	dels, err := claim(ctx, s, []string{"old", "all"}, 2, time.Minute)
	if err != nil || len(dels) != 1 || dels[0].SubscriberID != "all" {
		t.Fatalf("after RetryNowAll of all and none, claimed %+v (%v); want all's head alone, old's still waiting", dels, err)
	}
}

// TestReplicasRegisterSubscribersTogether: replicas starting at once
// register the same subscribers, each in its own order (the deliverer's
// subscribers are a map). On PostgreSQL two such inserts in different
// orders deadlocked and failed a replica's start; registered in the order
// of their ids, every start succeeds.
func TestReplicasRegisterSubscribersTogether(t *testing.T) {
	eachEngine(t, testReplicasRegisterSubscribersTogether)
}

func testReplicasRegisterSubscribersTogether(t *testing.T) {
	ctx := context.Background()
	for round := 0; round < 6; round++ {
		s, dsn := openTemp(t)
		stores := []*Store{s, reopen(t, dsn), reopen(t, dsn), reopen(t, dsn)}
		var subs []NewSubscriber
		for i := 0; i < 40; i++ {
			subs = append(subs, NewSubscriber{ID: fmt.Sprintf("p%02d", i), Backfill: "all"})
		}
		errs := make(chan error, len(stores))
		for i, st := range stores {
			mine := slices.Clone(subs)
			rand.New(rand.NewPCG(uint64(round), uint64(i))).Shuffle(len(mine), func(a, b int) { mine[a], mine[b] = mine[b], mine[a] })
			go func() { errs <- st.AddSubscribers(ctx, mine) }()
		}
		for range stores {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: a replica's registration failed: %v", round, err)
			}
		}
		got, err := s.Subscribers(ctx)
		if err != nil || len(got) != len(subs) {
			t.Fatalf("round %d: %d subscribers registered (%v), want %d", round, len(got), err, len(subs))
		}
	}
}
