package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crier-hub/crier/internal/config"
	"github.com/crier-hub/crier/internal/testenv"

	"github.com/crier-hub/crier/internal/store"
)

// The release of the golden HTML page, as another office republishes it:
// plain text inside that office's own frame, with a line saying where it
// first appeared. Another release of that office shares its frame and its
// press contact, and must stay a separate item.
const republished = `Home
Our offices
Media centre
Careers
New Data Shows Record Displacement in the Sahel
GENEVA, 14 March 2021 – The number of people forced from their homes across the central Sahel reached a record high last year, according to new data released today by the International Organization for Migration (IOM), as violence, drought and the COVID-19 pandemic pushed millions of families into precarious situations.
The Displacement Tracking Matrix recorded more than two million internally displaced persons in Burkina Faso, Mali and Niger, an increase of more than a third compared with the previous year. Many of them have been displaced several times and now live in overcrowded sites where access to water, shelter and health care is limited.
“Behind every figure is a family that has lost everything,” said the IOM Regional Director. “Humanitarian partners need sustained funding to reach people before the lean season begins, and governments need support to find durable solutions for displaced communities and the communities hosting them.”
The report also notes that the number of refugees and asylum seekers crossing into neighbouring coastal countries has grown, while border closures linked to the pandemic have left thousands of migrants stranded. IOM has scaled up its response, providing emergency shelter, cash assistance and psychosocial support in the three countries.
The full dataset is available on the DTM portal.
This press release was first published by IOM Switzerland.
For more information, please contact Amy Pope, IOM West Africa, Tel: +221 33 869 6200, Email: apope@iom.int
Follow us
Privacy policy
`

const otherRelease = `Home
Our offices
Media centre
Careers
IOM Opens Migrant Resource Centre in Dakar
DAKAR, 2 May 2021 – The International Organization for Migration (IOM) today opened a migrant resource centre in Dakar that will give young people reliable information on safe migration, jobs and training, as part of a regional effort to counter the misinformation spread by smugglers along the routes to North Africa.
The centre will be run with the national employment agency and will offer career counselling, referrals to vocational courses and small grants for young entrepreneurs who want to start a business at home.
“Young people deserve facts, not rumours, when they decide about their future,” said the IOM Chief of Mission in Senegal, adding that the centre will also welcome returning migrants who need support to rebuild their lives.
For more information, please contact Amy Pope, IOM West Africa, Tel: +221 33 869 6200, Email: apope@iom.int
Follow us
Privacy policy
`

func TestRepublishedReleaseIsOneItem(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ch, wa := filepath.Join(dir, "ch"), filepath.Join(dir, "wa")
	os.Mkdir(ch, 0o755)
	os.Mkdir(wa, 0o755)
	page, err := os.ReadFile("../normalize/testdata/golden/iom-ch/2021-03-14-flows.html")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(ch, "flows.html"), page, 0o644)
	os.WriteFile(filepath.Join(wa, "sahel-displacement.txt"), []byte(republished), 0o644)
	os.WriteFile(filepath.Join(wa, "dakar-centre.txt"), []byte(otherRelease), 0o644)
	doc := "[[sources]]\nid = \"iom-ch\"\nkind = \"dir\"\npath = \"ch\"\nlanguage = \"en\"\n" +
		"[[sources]]\nid = \"iom-wa\"\nkind = \"dir\"\npath = \"wa\"\nlanguage = \"en\"\ncountry = \"SN\"\n"
	cfg, st := testenv.New(t, dir, doc)
	in := New(cfg, st, testenv.Log())
	for _, src := range cfg.Sources {
		if r := in.Run(ctx, src); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	items, err := st.Items(ctx, store.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 {
		for _, it := range items {
			t.Logf("item %q sources %v", it.Title, it.Sources)
		}
		t.Fatalf("got %d items, want 2: the Sahel release once, the Dakar release once", len(items))
	}
	for _, it := range items {
		switch {
		case strings.Contains(it.Title, "Sahel"):
			if strings.Join(it.Sources, ",") != "iom-ch,iom-wa" {
				t.Errorf("Sahel release sources: got %v, want [iom-ch iom-wa]", it.Sources)
			}
		case strings.Contains(it.Title, "Dakar"):
			if strings.Join(it.Sources, ",") != "iom-wa" {
				t.Errorf("Dakar release sources: got %v, want [iom-wa]", it.Sources)
			}
			if it.City != "Dakar" || it.Country != "SN" {
				t.Errorf("Dakar release place: %q %q", it.City, it.Country)
			}
			if len(it.Contacts) != 1 || it.Contacts[0].Email != "apope@iom.int" {
				t.Errorf("Dakar contacts: %+v", it.Contacts)
			}
			for _, frame := range []string{"Our offices", "Follow us", "Privacy policy"} {
				if strings.Contains(it.ContentText, frame) {
					t.Errorf("frame %q left in the Dakar body", frame)
				}
			}
		default:
			t.Errorf("unexpected item %q", it.Title)
		}
	}
}

// A run stores its releases as they are made in one transaction, committed
// once it holds saveChunk releases or has been open SaveHold: a small run
// is one commit (the feeds' generation moves once), a large one a few, so
// that the store's other writers wait for one transaction at most, not
// for the whole run; a transaction held too long is committed at the next
// Save; and every release of the run is stored and counted.
func TestRunStoredInBoundedTransactions(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		n           int
		hold        time.Duration
		least, most int
	}{
		{50, time.Hour, 1, 1},                                    // one transaction
		{2*saveChunk + 50, time.Hour, 2, 3},                      // bounded in releases (parts of 113)
		{2*saveChunk + 50, time.Nanosecond, 4, 2*saveChunk + 50}, // bounded in time: a commit a Save (of 113 at most)
	} {
		cfg, st := distinctReleases(t, c.n)
		in := New(cfg, st, testenv.Log())
		in.SaveHold = c.hold
		gen := st.Generation()
		r := in.Run(ctx, cfg.Sources[0])
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		if r.Added+r.Merged != c.n {
			t.Errorf("%d releases: %d added and %d merged", c.n, r.Added, r.Merged)
		}
		items, err := st.Items(ctx, store.Query{})
		if err != nil || len(items) != r.Added {
			t.Errorf("%d releases: %d items stored (%v), %d reported added", c.n, len(items), err, r.Added)
		}
		if commits := int(st.Generation() - gen); commits < c.least || commits > c.most {
			t.Errorf("a run of %d releases, transactions held at most %v: %d commits, want %d to %d", c.n, c.hold, commits, c.least, c.most)
		}
	}
}

// cancelOnStored calls cancel once a run's first commit is counted (the
// "document stored" debug record comes after the commit).
type cancelOnStored struct {
	cancel func()
}

func (h cancelOnStored) Enabled(context.Context, slog.Level) bool { return true }
func (h cancelOnStored) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "document stored" {
		h.cancel()
	}
	return nil
}
func (h cancelOnStored) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h cancelOnStored) WithGroup(string) slog.Handler      { return h }

// A run cancelled between its transactions returns at once with the
// cancellation, keeps what it committed and nothing after, and records no
// validators: the makers stop, and the store waits for no one.
func TestCancelledRunKeepsWhatItCommitted(t *testing.T) {
	n := 3*saveChunk + 50
	cfg, st := distinctReleases(t, n)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in := New(cfg, st, slog.New(cancelOnStored{cancel}))
	in.SaveHold = time.Hour
	r := in.Run(ctx, cfg.Sources[0])
	if !errors.Is(r.Err, context.Canceled) {
		t.Fatalf("a cancelled run: %v, want the cancellation", r.Err)
	}
	items, err := st.Items(context.Background(), store.Query{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	// The first transaction holds saveChunk releases and at most one
	// Save's more; none after it is kept.
	if len(items) < saveChunk || len(items) >= 2*saveChunk {
		t.Errorf("a run cancelled after its first commit kept %d of %d releases, want its first transaction's (%d to %d)", len(items), n, saveChunk, 2*saveChunk-1)
	}
	// The next run stores the rest.
	in.Log = testenv.Log()
	r = in.Run(context.Background(), cfg.Sources[0])
	if r.Err != nil || r.Added != n-len(items) {
		t.Errorf("the next run: %d added (%v), want %d", r.Added, r.Err, n-len(items))
	}
}

// A store that fails in the middle of a run (here, closed under it) ends
// the run with the store's error: the makers stop, and nothing waits
// for them.
func TestRunEndsWhenTheStoreFails(t *testing.T) {
	n := 2 * saveAhead // more than the makers may hold: they must be stopped
	cfg, st := distinctReleases(t, n)
	var once sync.Once
	in := New(cfg, st, slog.New(cancelOnStored{func() { once.Do(func() { st.Close() }) }}))
	in.SaveHold = time.Hour
	done := make(chan Report)
	go func() { done <- in.Run(context.Background(), cfg.Sources[0]) }()
	select {
	case r := <-done:
		if r.Err == nil || r.Added >= n {
			t.Errorf("a run whose store closed after its first commit: %d added, error %v; want the store's error", r.Added, r.Err)
		}
	case <-time.After(time.Minute):
		t.Fatal("a run whose store failed did not end")
	}
}

// A maker held up on the first release of a long run, while the others
// fill the makers' room with later ones, still makes it, and the run
// ends: the store, which needs that release first, is never left waiting
// for one that cannot get room.
func TestMakerHeldUpDoesNotStallTheRun(t *testing.T) {
	n := saveAhead + saveChunk
	cfg, st := distinctReleases(t, n)
	in := New(cfg, st, testenv.Log())
	defer func() { makeHook = nil }()
	makeHook = func(i int) {
		if i == 0 {
			time.Sleep(300 * time.Millisecond) // the other makers run ahead meanwhile
		}
	}
	done := make(chan Report)
	go func() { done <- in.Run(context.Background(), cfg.Sources[0]) }()
	select {
	case r := <-done:
		if r.Err != nil || r.Added+r.Merged != n {
			t.Errorf("a run whose first release was made last: %d added, %d merged, error %v; want all %d", r.Added, r.Merged, r.Err, n)
		}
	case <-time.After(time.Minute):
		t.Fatal("a run whose first maker was held up never ended")
	}
}

// distinctReleases is a store and a dir source "s" of n releases, each of
// its own (no two are copies).
func distinctReleases(t *testing.T, n int) (*config.Config, *store.Store) {
	t.Helper()
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "r"), 0o755)
	for i := 0; i < n; i++ {
		body := fmt.Sprintf("Release %d\n\nGENEVA, 14 March 2021 – Release number %d of this run says something of its own: %d.\n", i, i, i*7919)
		if err := os.WriteFile(filepath.Join(dir, "r", fmt.Sprintf("r%04d.txt", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return testenv.New(t, dir, "[[sources]]\nid = \"s\"\nkind = \"dir\"\npath = \"r\"\nlanguage = \"en\"\n")
}
