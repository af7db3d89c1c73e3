package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crier-hub/crier/internal/pgtest"
)

// These two tests wait out crier's real timers (a minute's backoff, a
// minute's lease), so they run beside each other and the other parallel
// tests rather than one after the other.

// retriedBodies are three releases' bodies, different enough not to be
// taken for copies of one release.
var retriedBodies = []string{
	`GENEVA – The office opened a centre for families who left their homes after the floods in the north, with water, shelter and schooling for the children, and asked its partners for support before the rains return next month.`,
	`NAIROBI – A survey of two thousand young workers found that most would stay in their home towns if training, small loans and advice were there; the ministry of labour will start a programme with employers in March.`,
	`LIMA – Health teams reached the highland villages cut off by the landslides last week, bringing vaccines, medicine and tents, while engineers from the regional government began clearing the only road into the valley.`,
}

// sourceFeed is an RSS feed of the first n of retriedBodies.
func sourceFeed(n int) []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Office</title><link>https://office.example/</link><description>d</description>`)
	for i, body := range retriedBodies[:n] {
		fmt.Fprintf(&b, `<item><title>Retried release %d</title><guid>retried-%d</guid><link>https://office.example/r/%d</link>`+
			`<pubDate>Mon, 15 Mar 2021 09:00:00 +0000</pubDate><description><![CDATA[<p>%s</p>]]></description></item>`, i, i, i, body)
	}
	b.WriteString(`</channel></rss>`)
	return []byte(b.String())
}

// A source that fails is tried again when its backoff ends (a minute
// after the first failure), not at its next tick an hour later, and not
// in a loop before that.
func TestFailedSourceRetriedWhenItsBackoffEnds(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var hits []time.Time
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits = append(hits, time.Now())
		n := len(hits)
		mu.Unlock()
		if n == 1 {
			http.Error(w, "the office's server is down for maintenance", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/rss+xml")
		w.Write(sourceFeed(2))
	}))
	defer src.Close()
	addr := freePort(t)
	dir := t.TempDir()
	path := writeConfig(t, fmt.Sprintf("[server]\nlisten = %q\n[storage]\ndsn = %q\n[fetch]\nallow_private_targets = true\n"+
		"[[sources]]\nid = \"office\"\nkind = \"feed\"\nurl = %q\nlanguage = \"en\"\nschedule = \"@every 1h\"\n",
		addr, filepath.Join(dir, "crier.db"), src.URL))
	var logs syncBuffer
	a := &app{configPath: path, stdout: io.Discard, stderr: io.Discard, log: slog.New(slog.NewTextHandler(&logs, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.serve(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	start := time.Now()
	if n := feedHas(addr, 2, start.Add(150*time.Second)); n != 2 {
		t.Fatalf("after %v the feed has %d entries, want the 2 of the retried run; log:\n%s", time.Since(start).Round(time.Second), n, logs.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(hits) != 2 {
		t.Fatalf("the source was asked %d times, want 2 (the failure and the retry)", len(hits))
	}
	// The backoff after a first failure is a minute: a retry sooner is a
	// loop, and one much later waited for something else.
	wait := hits[1].Sub(hits[0])
	t.Logf("retried %v after the failure", wait.Round(time.Millisecond))
	if wait < 55*time.Second || wait > 120*time.Second {
		t.Errorf("retried %v after the failure, want about a minute (the first backoff)", wait.Round(time.Second))
	}
	if !strings.Contains(logs.String(), "source failed") || !strings.Contains(logs.String(), "503") {
		t.Errorf("the failure was not logged with its cause:\n%s", logs.String())
	}
}

// A replica killed while it runs a source leaves the run's lease behind;
// another replica, refused at its tick while the lease held, runs the
// source when the lease lapses (about a minute), not at the next tick an
// hour later.
func TestKilledReplicasRunTakenOver(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Temp(t) // skips without CRIER_TEST_POSTGRES
	bin := crierBinary(t)
	var mu sync.Mutex
	hits := 0
	first := make(chan struct{})
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		n := hits
		mu.Unlock()
		if n == 1 {
			// The first replica's run hangs here until it is killed.
			close(first)
			<-r.Context().Done()
			return
		}
		w.Header().Set("Content-Type", "application/rss+xml")
		w.Write(sourceFeed(3))
	}))
	// Closed after the replicas are killed (cleanups run last first): the
	// hanging request ends only with its replica.
	t.Cleanup(src.Close)
	dir := t.TempDir()
	var addrs []string
	var cmds []*exec.Cmd
	start := func(r int) {
		addr := freePort(t)
		addrs = append(addrs, addr)
		cfg := fmt.Sprintf("[server]\nlisten = %q\n[storage]\ndriver = \"postgres\"\ndsn = %q\n[fetch]\nallow_private_targets = true\n"+
			"[[sources]]\nid = \"office\"\nkind = \"feed\"\nurl = %q\nlanguage = \"en\"\nschedule = \"@every 1h\"\n", addr, dsn, src.URL)
		cmds = append(cmds, startServe(t, bin, dir, fmt.Sprintf("replica%d", r), cfg))
	}
	start(0)
	select {
	case <-first:
	case <-time.After(60 * time.Second):
		t.Fatal("the first replica never asked the source")
	}
	// The second replica starts while the first holds the run: its
	// start-up run is refused, and it waits for the lease to lapse.
	start(1)
	if n := feedHas(addrs[1], 0, time.Now().Add(60*time.Second)); n != 0 {
		t.Fatalf("the second replica's feed has %d entries before any run finished", n)
	}
	time.Sleep(2 * time.Second) // its start-up run is over: refused
	killed := time.Now()
	cmds[0].Process.Kill() // SIGKILL, mid-run: the lease stays behind
	cmds[0].Wait()
	if n := feedHas(addrs[1], 3, killed.Add(150*time.Second)); n != 3 {
		t.Fatalf("%v after the kill the second replica's feed has %d entries, want 3", time.Since(killed).Round(time.Second), n)
	}
	t.Logf("the run was taken over %v after the kill", time.Since(killed).Round(time.Second))
	mu.Lock()
	defer mu.Unlock()
	if hits != 2 {
		t.Errorf("the source was asked %d times, want 2 (the killed run and the one that took it over)", hits)
	}
}
