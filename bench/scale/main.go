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
// The store is kept in -dir (default a temporary folder, removed after)
// so that a later run can start from it.
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

func timeMerge(ctx context.Context, st *store.Store, in *ingest.Ingester, src config.Source, rounds *atomic.Int64, n int) error {
	if _, err := timedRuns(ctx, in, src, rounds, 500, (n+499)/500); err != nil {
		return err
	}
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

// mergeDuring starts a merge of the waiting near-duplicate keys as the
// 50-release runs begin, as one started by the store's own growth would.
// settle, when set, merges the near-duplicate keys the build left waiting
// before anything is measured at each size.
var settle = flag.Bool("settle", false, "merge the near-duplicate keys the build left waiting before measuring")

var mergeDuring = flag.Bool("merge-during", false, "merge the waiting near-duplicate keys in the background while the 50-release runs are timed")

// verbose prints every run's time.
var verbose = flag.Bool("v", false, "print every run's time")

// merges reads the measured store's merge activity, for -v.
var merges func() store.MergeActivity

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
`, filepath.Join(dir, "crier.db"), feed.URL, feed.URL, feed.URL)
	cfg, err := config.Parse(filepath.Join(dir, "config.toml"), []byte(doc))
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var results []figures
	for _, size := range sizes {
		perRun.Store(500)
		st, err := store.Open(ctx, cfg.Storage.Driver, cfg.Storage.DSN)
		if err != nil {
			return err
		}
		in := ingest.New(cfg, st, log)
		src := func(id string) config.Source {
			for _, s := range cfg.Sources {
				if s.ID == id {
					return s
				}
			}
			panic(id)
		}
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
			rep := in.Run(ctx, src(id))
			if rep.Err != nil {
				return fmt.Errorf("ingest round %d: %w", r, rep.Err)
			}
			have += rep.Added
			if r%100 == 0 {
				fmt.Fprintf(os.Stderr, "\r%d items, %.0f items/s", have, float64(have)/time.Since(start).Seconds())
			}
		}
		fmt.Fprintf(os.Stderr, "\r%d items stored\n", have)
		st.Close()
		f, err := measure(ctx, cfg, log, reps, &rounds, src("history"))
		if err != nil {
			return err
		}
		f["items"] = time.Duration(have)
		results = append(results, f)
	}
	print(sizes, results)
	return nil
}

// measure opens the store as `crier serve` does and times each route and
// a 50-release run.
func measure(ctx context.Context, cfg *config.Config, log *slog.Logger, reps int, rounds *atomic.Int64, history config.Source) (figures, error) {
	f := figures{}
	start := time.Now()
	st, err := store.Open(ctx, cfg.Storage.Driver, cfg.Storage.DSN)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	f["open the store"] = time.Since(start)
	start = time.Now()
	if err := st.Warm(ctx); err != nil {
		return nil, err
	}
	f["warm the lookup indexes"] = time.Since(start)
	if *settle {
		// The near-duplicate keys the build left waiting, merged before
		// anything is timed: the store as a daemon has it once its merge
		// caught up, not beside the merge.
		waiting, err := st.BandsWaiting(ctx)
		if err != nil {
			return nil, err
		}
		start = time.Now()
		if err := st.MergeBands(ctx); err != nil {
			return nil, err
		}
		took := time.Since(start)
		f["merge the waiting keys first (-settle)"] = took
		fmt.Fprintf(os.Stderr, "settled: %d waiting keys merged in %v\n", waiting, took.Round(time.Millisecond))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: publish.New(cfg, st, log).Handler()}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String()
	// The oldest page of the small source: its before= cursor comes from
	// walking its archive links would take long; the lowest arrival number
	// above which it has one page is found from the JSON feed's _crier.
	small, err := st.Items(ctx, store.Query{Sources: []string{"small"}, BySeq: true, Limit: 51})
	if err != nil {
		return nil, err
	}
	smallLast := "/feeds/source/small.atom"
	if len(small) == 51 {
		smallLast += "?before=" + strconv.FormatInt(small[50].Seq, 10)
	}
	routes := []struct{ name, path string }{
		{"GET /", "/"},
		{"GET /feeds.opml", "/feeds.opml"},
		{"/feeds/all.atom", "/feeds/all.atom"},
		{"/feeds/country/fr.atom (20%)", "/feeds/country/fr.atom"},
		{"/feeds/country/mr.atom (0.1%)", "/feeds/country/mr.atom"},
		// As many entries at every size as the rare feeds have at 10,000
		// items: the store's size alone, not the page's.
		{"/feeds/country/mr.atom?limit=10", "/feeds/country/mr.atom?limit=10"},
		{"small source, last archive page", smallLast},
		{"?country=mr,ye&topic=climate&lang=fr", "/feeds/all.atom?country=mr,ye&topic=climate&lang=fr"},
		{"/feeds/language/fr.json", "/feeds/language/fr.json"},
		{"search ?q=climate (3%)", "/feeds/all.atom?q=climate"},
		{"search ?q=migrants (common word)", "/feeds/all.atom?q=migrants"},
		{"search ?q=refugies+migrants&country=fr", "/feeds/all.atom?q=r%C3%A9fugi%C3%A9s+migrants&country=fr"},
	}
	client := &http.Client{}
	for _, r := range routes {
		var took []time.Duration
		for i := 0; i < reps; i++ {
			t := time.Now()
			resp, err := client.Get(base + r.path)
			if err != nil {
				return nil, err
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			f[entriesKey+r.name] = time.Duration(entries(body))
			took = append(took, time.Since(t))
			if resp.StatusCode != 200 {
				return nil, fmt.Errorf("%s: %s", r.path, resp.Status)
			}
		}
		slices.Sort(took)
		f[r.name] = took[len(took)/2]
	}
	// 50 new releases into the source with the longest history, reps
	// times: the first run after opening the store reads its indexes from
	// disk; the median is the steady state of a running server.
	in := ingest.New(cfg, st, log)
	merges = st.MergeActivity
	if *mergeDuring {
		waiting, err := st.BandsWaiting(ctx)
		if err != nil {
			return nil, err
		}
		merged := make(chan struct{})
		defer func() { <-merged }() // its line printed before the figures
		go func() {
			defer close(merged)
			t := time.Now()
			err := st.MergeBands(ctx)
			m := st.MergeActivity()
			fmt.Fprintf(os.Stderr, "merge of %d waiting near-duplicate keys beside the runs: %v (%v), %d chunks holding the writer %v, the longest %v\n",
				waiting, time.Since(t).Round(time.Millisecond), err, m.Chunks, m.Held.Round(time.Millisecond), m.Longest.Round(time.Millisecond))
		}()
	}
	runs, err := timedRuns(ctx, in, history, rounds, 50, reps/2)
	if err != nil {
		return nil, err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return nil, err
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	more, err := timedRuns(ctx, in, history, rounds, 50, reps-reps/2)
	if err != nil {
		return nil, err
	}
	runs = append(runs, more...)
	f["a run of 50 new releases, first"] = runs[0]
	slices.Sort(runs)
	f["a run of 50 new releases, median"] = runs[len(runs)/2]
	// The ingest rate: runs of 500 new releases, as the store was built.
	big, err := timedRuns(ctx, in, history, rounds, 500, 3)
	if err != nil {
		return nil, err
	}
	slices.Sort(big)
	f["a run of 500 new releases (ingest rate), median"] = big[1]
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "VmRSS:") {
				fmt.Fprintln(os.Stderr, "resident memory after the runs:", strings.TrimSpace(strings.TrimPrefix(line, "VmRSS:")))
			}
		}
	}
	if *mergeAfter > 0 {
		if err := timeMerge(ctx, st, in, history, rounds, *mergeAfter); err != nil {
			return nil, err
		}
	}
	return f, nil
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

func print(sizes []int, results []figures) {
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

// timedRuns runs src n times, the feed serving size new releases each
// time, and returns how long each run took.
func timedRuns(ctx context.Context, in *ingest.Ingester, src config.Source, rounds *atomic.Int64, size, n int) ([]time.Duration, error) {
	perRun.Store(int64(size))
	var took []time.Duration
	var during []string // merge chunks during each run, for -v
	for i := 0; i < n; i++ {
		rounds.Add(1)
		var before store.MergeActivity
		if merges != nil {
			before = merges()
		}
		t := time.Now()
		rep := in.Run(ctx, src)
		took = append(took, time.Since(t))
		if merges != nil {
			after := merges()
			if c, sc := after.Chunks-before.Chunks, after.Search.Chunks-before.Search.Chunks; c > 0 || sc > 0 {
				during = append(during, fmt.Sprintf("run %d: %d key merge chunks, %v of the writer; %d search-index merge chunks, %v",
					i+1, c, (after.Held-before.Held).Round(time.Millisecond), sc, (after.Search.Held-before.Search.Held).Round(time.Millisecond)))
			}
		}
		if rep.Err != nil {
			return nil, rep.Err
		}
		if rep.Added != size {
			return nil, fmt.Errorf("a %d-release run added %d", size, rep.Added)
		}
	}
	if *verbose {
		fmt.Fprintf(os.Stderr, "%d-release runs: %v\n", size, took)
		for _, d := range during {
			fmt.Fprintln(os.Stderr, "  ", d)
		}
		if merges != nil {
			m := merges()
			fmt.Fprintf(os.Stderr, "   merges since opening: keys %d chunks, %v of the writer, the longest %v; search index %d chunks, %v, the longest %v\n",
				m.Chunks, m.Held.Round(time.Millisecond), m.Longest.Round(time.Millisecond), m.Search.Chunks, m.Search.Held.Round(time.Millisecond), m.Search.Longest.Round(time.Millisecond))
		}
	}
	return took, nil
}
