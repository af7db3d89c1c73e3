// Command scale builds a store through crier's own ingest (a feed source
// served on loopback, read by internal/ingest as `crier serve` reads it)
// and measures, at each size asked for, what the issue "flat at a million
// items" lists: every feed route rendered uncached (median of several
// renders), the index page and the OPML, 50 new releases into a source
// with a long history, and opening the store. It prints a table with the
// ratio of each figure to the one at the first size, and after each
// route's time how many entries its answer had:
//
//	go run ./bench/scale -sizes 10000,1000000
//
// The store grows through the sizes, and a copy of it is kept at every
// size but the last; then all are opened at once and measured side by
// side, the sizes taken in turn at every repetition, so that the
// machine's drift falls on all of them alike. The stores are kept in
// -dir (default a temporary folder, removed after) so that a later run
// can start from them.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/crier-hub/crier/internal/config"
	"github.com/crier-hub/crier/internal/ingest"
	"github.com/crier-hub/crier/internal/minhash"
	"github.com/crier-hub/crier/internal/publish"
	"github.com/crier-hub/crier/internal/store"
	"github.com/crier-hub/crier/internal/testenv"
)

// vocab is the words releases are drawn from: those of the sample
// releases (testenv.SampleWords), as often as they appear there. (Until
// 2026-12-07, 72 words: a search index of 72 terms, far cheaper to keep
// than a real one.)
var vocab []string

// places are datelines and how often each appears (per mille): common,
// middling and rare countries.
var places = []struct {
	city string
	per  int
}{{"GENEVA", 300}, {"BRUSSELS", 250}, {"PARIS", 200}, {"MADRID", 150}, {"NAIROBI", 90}, {"SANAA", 9}, {"NOUAKCHOTT", 1}}

// round is one feed document: per entries, each a distinct release.
func round(source string, r, per int) []byte {
	rng := rand.New(rand.NewPCG(uint64(r), uint64(len(source))))
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>scale</title><link>https://example.org/</link><description>d</description>`)
	for i := 0; i < per; i++ {
		p := rng.IntN(1000)
		city := places[len(places)-1].city
		for _, pl := range places {
			if p < pl.per {
				city = pl.city
				break
			}
			p -= pl.per
		}
		lang := "en"
		switch x := rng.IntN(100); {
		case x < 15:
			lang = "fr"
		case x < 40:
			lang = "es"
		}
		fmt.Fprintf(&b, "<item><title>%s release %d-%d</title><guid>%s-%d-%d</guid><link>https://example.org/%s/%d/%d</link><pubDate>%s</pubDate><description><![CDATA[<p>%s – ",
			source, r, i, source, r, i, source, r, i, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r*per+i)*time.Minute).Format(time.RFC1123Z), city)
		if rng.IntN(100) < 3 {
			b.WriteString("climate ")
		}
		if lang != "en" {
			b.WriteString(map[string]string{"fr": "les réfugiés de la région et des villes pour le pays ", "es": "los refugiados de la región y de las ciudades para el país "}[lang])
		}
		for w := 0; w < 120; w++ {
			b.WriteString(vocab[rng.IntN(len(vocab))])
			b.WriteByte(' ')
		}
		b.WriteString("</p>]]></description></item>")
	}
	b.WriteString("</channel></rss>")
	return []byte(b.String())
}

func main() {
	sizes := flag.String("sizes", "10000,1000000", "store sizes to measure at, in items, ascending")
	dir := flag.String("dir", "", "folder for the store (kept); default a temporary one, removed")
	reps := flag.Int("reps", 7, "renders per route; the median is reported")
	flag.Parse()
	var err error
	if vocab, err = testenv.SampleWords("."); err != nil {
		fmt.Fprintln(os.Stderr, "bench/scale:", err)
		os.Exit(1)
	}
	var want []int
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			fmt.Fprintln(os.Stderr, "bench/scale: -sizes takes item counts such as 10000,1000000")
			os.Exit(2)
		}
		want = append(want, n)
	}
	if err := run(*dir, want, *reps); err != nil {
		fmt.Fprintln(os.Stderr, "bench/scale:", err)
		os.Exit(1)
	}
}

// cpuProfile, when set, profiles the 50-release run.
var cpuProfile = flag.String("cpuprofile", "", "write a CPU profile of the second half of the 50-release runs to this file")

// mergeAfter, when set, stores that many more releases (in 500-release
// runs) and then times
// the merge of the near-duplicate keys waiting (store.MergeBands), which
// runs in the background once as many keys wait as the store has items.
var mergeAfter = flag.Int("merge-after", 0, "store this many more releases, then time the merge of the waiting near-duplicate keys")

func timeMerge(ctx context.Context, last *target, rounds *atomic.Int64, n int) error {
	if _, err := timedRuns(ctx, []*target{last}, rounds, 500, (n+499)/500); err != nil {
		return err
	}
	st := last.st
	waiting, err := st.BandsWaiting(ctx)
	if err != nil {
		return err
	}
	t := time.Now()
	if err := st.MergeBands(ctx); err != nil {
		return err
	}
	took := time.Since(t)
	fmt.Printf("merged %d waiting near-duplicate keys (%d releases' worth) in %v: %.1f ms per 50 releases\n",
		waiting, waiting/minhash.Bands, took.Round(time.Millisecond), float64(took.Milliseconds())*50/float64(waiting/minhash.Bands))
	return nil
}

// settle, when set, merges the near-duplicate keys the build left waiting
// before anything is measured at each size.
var settle = flag.Bool("settle", false, "merge the near-duplicate keys the build left waiting before measuring")

// mergeDuring starts a merge of the waiting near-duplicate keys as the
// 50-release runs begin, as one started by the store's own growth would.
var mergeDuring = flag.Bool("merge-during", false, "merge the waiting near-duplicate keys in the background while the 50-release runs are timed")

// verbose prints every run's time.
var verbose = flag.Bool("v", false, "print every run's time")

// perRun is how many new releases the feed source serves each run.
var perRun atomic.Int64

// figures are one size's measurements, by name.
type figures map[string]time.Duration

func run(dir string, sizes []int, reps int) error {
	ctx := context.Background()
	if dir == "" {
		d, err := os.MkdirTemp("", "crier-bench-scale-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	var rounds atomic.Int64
	// Rounds number the feed's entries: start where no earlier run of the
	// benchmark on a kept store has been.
	rounds.Store(time.Now().UnixMilli())
	feed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml")
		w.Write(round(strings.TrimPrefix(r.URL.Path, "/"), int(rounds.Load()), int(perRun.Load())))
	}))
	defer feed.Close()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	main := filepath.Join(dir, "crier.db")
	cfg, err := configFor(main, feed.URL)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	// The store grows through each size; a copy of it is kept at every
	// size but the last, so that all sizes are measured side by side.
	var dbs []string
	for i, size := range sizes {
		db := main
		if i < len(sizes)-1 {
			db = filepath.Join(dir, fmt.Sprintf("at-%d", size), "crier.db")
		}
		dbs = append(dbs, db)
		if _, err := os.Stat(db); err == nil && db != main {
			continue // kept from an earlier run
		}
		if err := build(ctx, cfg, log, &rounds, size); err != nil {
			return err
		}
		if db != main {
			if err := copyStore(main, db); err != nil {
				return err
			}
		}
	}
	// A build leaves gigabytes of written pages for the kernel to write
	// back. They go to disk before anything is measured: the store is
	// measured at its size, not during the writeback of its build.
	dirty, start := dirtyKB(), time.Now()
	flushWrites()
	if *verbose {
		fmt.Fprintf(os.Stderr, "written pages flushed before measuring: %d kB in %v\n", dirty, time.Since(start).Round(time.Millisecond))
	}
	var targets []*target
	defer func() {
		for _, t := range targets {
			t.close()
		}
	}()
	for _, db := range dbs {
		c, err := configFor(db, feed.URL)
		if err != nil {
			return err
		}
		t, err := open(ctx, c, log)
		if err != nil {
			return err
		}
		targets = append(targets, t)
	}
	if err := measure(ctx, targets, reps, &rounds); err != nil {
		return err
	}
	var results []figures
	for _, t := range targets {
		results = append(results, t.f)
	}
	print(results)
	return nil
}

// dirtyKB is how many kB of written pages wait for the kernel to write
// them back (Linux's /proc/meminfo), or -1 where that is not known.
func dirtyKB() int {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "Dirty:" {
			if n, err := strconv.Atoi(f[1]); err == nil {
				return n
			}
		}
	}
	return -1
}

// configFor is the benchmark's configuration, its store in db.
func configFor(db, feedURL string) (*config.Config, error) {
	doc := fmt.Sprintf(`[server]
base_url = "http://127.0.0.1"
[storage]
dsn = %q
[fetch]
allow_private_targets = true   # the feed source is on loopback
[feeds]
cache_size = "1"   # nothing kept: every request renders
[[sources]]
id = "big"
kind = "feed"
url = "%s/big"
language = "en"
[[sources]]
id = "small"
kind = "feed"
url = "%s/small"
language = "en"
[[sources]]
id = "history"
kind = "feed"
url = "%s/history"
language = "en"
[[topics]]
slug = "climate"
name = "Climate"
[topics.keywords]
en = ["climate"]
fr = ["climat"]
es = ["clima"]
`, db, feedURL, feedURL, feedURL)
	return config.Parse(filepath.Join(filepath.Dir(db), "config.toml"), []byte(doc))
}

// source is the configured source id.
func source(cfg *config.Config, id string) config.Source {
	for _, s := range cfg.Sources {
		if s.ID == id {
			return s
		}
	}
	panic(id)
}

// build grows the store of cfg to size items through crier's ingest, in
// runs of 500 new releases: one in ten from the source with a long
// history, one in a hundred from a small one.
func build(ctx context.Context, cfg *config.Config, log *slog.Logger, rounds *atomic.Int64, size int) error {
	perRun.Store(500)
	st, err := store.Open(ctx, cfg.Storage.Driver, cfg.Storage.DSN)
	if err != nil {
		return err
	}
	defer st.Close()
	in := ingest.New(cfg, st, log)
	have, err := st.ItemCount(ctx)
	if err != nil {
		return err
	}
	start := time.Now()
	for have < size {
		r := rounds.Add(1)
		id := "big"
		switch {
		case r%100 == 0:
			id = "small" // one item in a hundred (a small office)
		case r%10 == 0:
			id = "history"
		}
		rep := in.Run(ctx, source(cfg, id))
		if rep.Err != nil {
			return fmt.Errorf("ingest round %d: %w", r, rep.Err)
		}
		have += rep.Added
		if r%100 == 0 {
			fmt.Fprintf(os.Stderr, "\r%d items, %.0f items/s", have, float64(have)/time.Since(start).Seconds())
		}
	}
	fmt.Fprintf(os.Stderr, "\r%d items stored\n", have)
	return nil
}

// copyStore copies the closed SQLite store at from (its file and any
// journal beside it) to to.
func copyStore(from, to string) error {
	if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
		return err
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(from + suffix)
		if os.IsNotExist(err) && suffix != "" {
			continue
		}
		if err != nil {
			return err
		}
		if err := os.WriteFile(to+suffix, b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// target is a store being measured, opened as crier serve opens it, with
// its own HTTP server.
type target struct {
	st      *store.Store
	srv     *http.Server
	base    string
	in      *ingest.Ingester
	history config.Source
	small   string // the small source's oldest archive page
	f       figures
}

// open opens, warms and serves the store of cfg.
func open(ctx context.Context, cfg *config.Config, log *slog.Logger) (*target, error) {
	t := &target{f: figures{}, history: source(cfg, "history")}
	start := time.Now()
	st, err := store.Open(ctx, cfg.Storage.Driver, cfg.Storage.DSN)
	if err != nil {
		return nil, err
	}
	t.st = st
	t.f["open the store"] = time.Since(start)
	have, err := st.ItemCount(ctx)
	if err != nil {
		st.Close()
		return nil, err
	}
	t.f["items"] = time.Duration(have)
	start = time.Now()
	if err := st.Warm(ctx); err != nil {
		st.Close()
		return nil, err
	}
	t.f["warm the lookup indexes"] = time.Since(start)
	if *verbose {
		n, _, err := st.SearchBacklog(ctx)
		if err != nil {
			st.Close()
			return nil, err
		}
		fmt.Fprintf(os.Stderr, "%d items: %d wait for the search index after opening\n", have, n)
	}
	if *settle {
		// The near-duplicate keys the build left waiting, merged before
		// anything is timed.
		waiting, err := st.BandsWaiting(ctx)
		if err != nil {
			st.Close()
			return nil, err
		}
		start = time.Now()
		if err := st.MergeBands(ctx); err != nil {
			st.Close()
			return nil, err
		}
		took := time.Since(start)
		t.f["merge the waiting keys first (-settle)"] = took
		fmt.Fprintf(os.Stderr, "settled: %d waiting keys merged in %v\n", waiting, took.Round(time.Millisecond))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		st.Close()
		return nil, err
	}
	t.srv = &http.Server{Handler: publish.New(cfg, st, log).Handler()}
	go t.srv.Serve(ln)
	t.base = "http://" + ln.Addr().String()
	t.in = ingest.New(cfg, st, log)
	// The oldest page of the small source: its before= cursor comes from
	// the arrival number above which it has one page.
	small, err := st.Items(ctx, store.Query{Sources: []string{"small"}, BySeq: true, Limit: 51})
	if err != nil {
		t.close()
		return nil, err
	}
	t.small = "/feeds/source/small.atom"
	if len(small) == 51 {
		t.small += "?before=" + strconv.FormatInt(small[50].Seq, 10)
	}
	return t, nil
}

func (t *target) close() {
	t.srv.Close()
	t.st.Close()
}

// measure times every route and the runs of new releases on every
// target, taking the targets in turn at each repetition, so that the
// machine's drift (up to twice as fast or slow within the hour) falls on
// all sizes alike.
func measure(ctx context.Context, targets []*target, reps int, rounds *atomic.Int64) error {
	routes := []struct{ name, path string }{
		{"GET /", "/"},
		{"GET /feeds.opml", "/feeds.opml"},
		{"/feeds/all.atom", "/feeds/all.atom"},
		{"/feeds/country/fr.atom (20%)", "/feeds/country/fr.atom"},
		{"/feeds/country/mr.atom (0.1%)", "/feeds/country/mr.atom"},
		// As many entries at every size as the rare feeds have at 10,000
		// items: the store's size alone, not the page's.
		{"/feeds/country/mr.atom?limit=10", "/feeds/country/mr.atom?limit=10"},
		{"small source, last archive page", ""},
		{"?country=mr,ye&topic=climate&lang=fr", "/feeds/all.atom?country=mr,ye&topic=climate&lang=fr"},
		{"/feeds/language/fr.json", "/feeds/language/fr.json"},
		{"search ?q=climate (3%)", "/feeds/all.atom?q=climate"},
		{"search ?q=migrants (common word)", "/feeds/all.atom?q=migrants"},
		{"search ?q=refugies+migrants&country=fr", "/feeds/all.atom?q=r%C3%A9fugi%C3%A9s+migrants&country=fr"},
		// A phrase (the French releases'), checked on each item that holds
		// its words (the SQLite index keeps no positions).
		{`search ?q="refugies de la region" (15%)`, "/feeds/all.atom?q=%22r%C3%A9fugi%C3%A9s+de+la+r%C3%A9gion%22"},
	}
	client := &http.Client{}
	for _, r := range routes {
		took := make([][]time.Duration, len(targets))
		for i := 0; i < reps; i++ {
			for k, t := range targets {
				path := r.path
				if path == "" {
					path = t.small
				}
				start := time.Now()
				resp, err := client.Get(t.base + path)
				if err != nil {
					return err
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				took[k] = append(took[k], time.Since(start))
				if resp.StatusCode != 200 {
					return fmt.Errorf("%s: %s", path, resp.Status)
				}
				t.f[entriesKey+r.name] = time.Duration(entries(body))
			}
		}
		for k, t := range targets {
			if *verbose { // the first render, and the slowest, which the median hides
				fmt.Fprintf(os.Stderr, "%d items, %s: first %v, slowest %v\n", int(t.f["items"]), r.name,
					took[k][0].Round(time.Microsecond), slices.Max(took[k]).Round(time.Microsecond))
			}
			slices.Sort(took[k])
			t.f[r.name] = took[k][len(took[k])/2]
		}
	}
	last := targets[len(targets)-1]
	if *mergeDuring {
		waiting, err := last.st.BandsWaiting(ctx)
		if err != nil {
			return err
		}
		merged := make(chan struct{})
		defer func() { <-merged }() // its line printed before the figures
		go func() {
			defer close(merged)
			t := time.Now()
			err := last.st.MergeBands(ctx)
			m := last.st.MergeActivity()
			fmt.Fprintf(os.Stderr, "merge of %d waiting near-duplicate keys beside the runs: %v (%v), %d chunks holding the writer %v, the longest %v\n",
				waiting, time.Since(t).Round(time.Millisecond), err, m.Chunks, m.Held.Round(time.Millisecond), m.Longest.Round(time.Millisecond))
		}()
	}
	// 50 new releases into the source with the longest history, reps
	// times: the first run after opening the store reads its indexes from
	// disk; the median is the steady state of a running server.
	runs, err := timedRuns(ctx, targets, rounds, 50, reps/2)
	if err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	more, err := timedRuns(ctx, targets, rounds, 50, reps-reps/2)
	if err != nil {
		return err
	}
	for k, t := range targets {
		r := append(runs[k], more[k]...)
		t.f["a run of 50 new releases, first"] = r[0]
		slices.Sort(r)
		t.f["a run of 50 new releases, median"] = r[len(r)/2]
	}
	// The ingest rate: runs of 500 new releases, as the store was built.
	big, err := timedRuns(ctx, targets, rounds, 500, 3)
	if err != nil {
		return err
	}
	for k, t := range targets {
		slices.Sort(big[k])
		t.f["a run of 500 new releases (ingest rate), median"] = big[k][1]
	}
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "VmRSS:") {
				fmt.Fprintln(os.Stderr, "resident memory after the runs, all stores:", strings.TrimSpace(strings.TrimPrefix(line, "VmRSS:")))
			}
		}
	}
	if *mergeAfter > 0 {
		if err := timeMerge(ctx, last, rounds, *mergeAfter); err != nil {
			return err
		}
	}
	return nil
}

// entriesKey prefixes the figure that holds, as a count, how many
// entries a route's answer had.
const entriesKey = "#"

// entries counts the entries of an Atom or RSS feed, or the items of a
// JSON Feed.
func entries(body []byte) int {
	var jf struct {
		Items []json.RawMessage `json:"items"`
	}
	if json.Unmarshal(body, &jf) == nil {
		return len(jf.Items)
	}
	return bytes.Count(body, []byte("<entry>")) + bytes.Count(body, []byte("<entry ")) + bytes.Count(body, []byte("<item>"))
}

func print(results []figures) {
	var names []string
	for k := range results[0] {
		if k != "items" && !strings.HasPrefix(k, entriesKey) {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	fmt.Printf("%-40s", "what")
	for _, r := range results {
		fmt.Printf(" %16s", fmt.Sprintf("%d items", int(r["items"])))
	}
	fmt.Printf(" %8s\n", "ratio")
	for _, n := range names {
		fmt.Printf("%-40s", n)
		for _, r := range results {
			cell := r[n].Round(10 * time.Microsecond).String()
			if c, ok := r[entriesKey+n]; ok {
				cell += fmt.Sprintf(" (%d)", int(c))
			}
			fmt.Printf(" %16s", cell)
		}
		last := results[len(results)-1][n]
		fmt.Printf(" %8.2f\n", float64(last)/float64(results[0][n]))
	}
}

// timedRuns runs each target's source with a long history n times, the
// targets in turn, the feed serving size new releases each time, and
// returns how long each target's runs took.
func timedRuns(ctx context.Context, targets []*target, rounds *atomic.Int64, size, n int) ([][]time.Duration, error) {
	perRun.Store(int64(size))
	took := make([][]time.Duration, len(targets))
	during := make([][]string, len(targets)) // merge chunks during each run, for -v
	for i := 0; i < n; i++ {
		for k, t := range targets {
			rounds.Add(1)
			before := t.st.MergeActivity()
			var gcBefore, gcAfter runtime.MemStats
			if *verbose {
				runtime.ReadMemStats(&gcBefore)
			}
			start := time.Now()
			rep := t.in.Run(ctx, t.history)
			took[k] = append(took[k], time.Since(start))
			after := t.st.MergeActivity()
			if c, sc := after.Chunks-before.Chunks, after.Search.Chunks-before.Search.Chunks; c > 0 || sc > 0 {
				during[k] = append(during[k], fmt.Sprintf("run %d: %d key merge chunks, %v of the writer; %d search-index merge chunks, %v",
					i+1, c, (after.Held-before.Held).Round(time.Millisecond), sc, (after.Search.Held-before.Search.Held).Round(time.Millisecond)))
			}
			if *verbose {
				// Collections during the run: the process holds every
				// size's store, and a collection over a large heap takes
				// a core's share from the runs while it marks.
				runtime.ReadMemStats(&gcAfter)
				if n := gcAfter.NumGC - gcBefore.NumGC; n > 0 {
					during[k] = append(during[k], fmt.Sprintf("run %d: %d garbage collections, %v paused, heap %d MiB after",
						i+1, n, time.Duration(gcAfter.PauseTotalNs-gcBefore.PauseTotalNs).Round(time.Microsecond), gcAfter.HeapAlloc>>20))
				}
			}
			if rep.Err != nil {
				return nil, rep.Err
			}
			if rep.Added != size {
				return nil, fmt.Errorf("a %d-release run added %d", size, rep.Added)
			}
		}
	}
	if *verbose {
		for k, t := range targets {
			fmt.Fprintf(os.Stderr, "%d items, %d-release runs: %v\n", int(t.f["items"]), size, took[k])
			for _, d := range during[k] {
				fmt.Fprintln(os.Stderr, "  ", d)
			}
			m := t.st.MergeActivity()
			fmt.Fprintf(os.Stderr, "   merges since opening: keys %d chunks, %v of the writer, the longest %v; search index %d chunks, %v, the longest %v; indexing for search %d transactions, %v, the longest %v\n",
				m.Chunks, m.Held.Round(time.Millisecond), m.Longest.Round(time.Millisecond), m.Search.Chunks, m.Search.Held.Round(time.Millisecond), m.Search.Longest.Round(time.Millisecond),
				m.Index.Chunks, m.Index.Held.Round(time.Millisecond), m.Index.Longest.Round(time.Millisecond))
		}
	}
	return took, nil
}
