package ingest

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mmcdole/gofeed"

	"github.com/crier-hub/crier/internal/testenv"
)

// benchWords are the words of the sample releases (testenv.SampleWords).
var benchWords = sync.OnceValue(func() []string {
	words, err := testenv.SampleWords("../..")
	if err != nil {
		panic(err)
	}
	return words
})

// benchFeed is an RSS feed of 50 distinct releases; round makes every
// round's entries new to the store, each a release of its own (no
// near-duplicate of another round's).
func benchFeed(round int) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Bench</title><link>https://example.org/</link><description>d</description>`)
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&b, "<item><title>Release %d of round %d</title><guid>r%d-%d</guid><link>https://example.org/r/%d/%d</link><pubDate>Mon, 15 Mar 2021 09:00:00 +0000</pubDate><description><![CDATA[<p>GENEVA – ", i, round, round, i, round, i)
		// Words drawn afresh for every release of every round. (Until
		// 2026-12-07 a formula of the round and 33 words chose them: a
		// release had about 33 distinct four-word shingles where a real
		// one has as many as it has words, and round 33 repeated round
		// 0, so that every later round was near-duplicates, merged.)
		rng := rand.New(rand.NewPCG(uint64(round), uint64(i)))
		words := benchWords()
		for w := 0; w < 300; w++ {
			b.WriteString(words[rng.IntN(len(words))])
			b.WriteByte(' ')
			if w%40 == 39 {
				b.WriteString(".</p><p>")
			}
		}
		b.WriteString("</p>]]></description></item>")
	}
	b.WriteString("</channel></rss>")
	return b.Bytes()
}

// BenchmarkFeedIngest runs a 50-entry feed through the whole path (HTTP on
// loopback, decode, parse, normalize, store in SQLite) and, in the same
// run, plain gofeed parsing the same bytes. It reports items per second
// for both and the ratio:
//
//	go test ./internal/ingest -run '^$' -bench FeedIngest -benchtime 20x
func BenchmarkFeedIngest(b *testing.B) {
	// Each round's feed is made before the round is timed: the upstream
	// server only writes bytes, as a real one serving a file would.
	var feed atomic.Pointer[[]byte]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml")
		w.Write(*feed.Load())
	}))
	defer srv.Close()
	in, src := harness(b, "feed", srv.URL)
	// crier serve, which runs sources on their schedules, warms the store
	// as it opens it (the near-duplicate filter among the rest), and so
	// does the bench.
	if err := in.Store.(interface{ Warm(context.Context) error }).Warm(context.Background()); err != nil {
		b.Fatal(err)
	}
	var crier, plain time.Duration
	items := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		body := benchFeed(i)
		feed.Store(&body)
		start := time.Now()
		r := in.Run(context.Background(), src)
		crier += time.Since(start)
		if r.Err != nil || r.Added != 50 { // every release new, stored as an item of its own
			b.Fatalf("round %d: %+v", i, r)
		}
		items += 50
		start = time.Now()
		f, err := gofeed.NewParser().Parse(bytes.NewReader(body))
		plain += time.Since(start)
		if err != nil || len(f.Items) != 50 {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(items)/crier.Seconds(), "crier_items/s")
	b.ReportMetric(float64(items)/plain.Seconds(), "gofeed_items/s")
	b.ReportMetric(crier.Seconds()/plain.Seconds(), "x_gofeed_time")
}
