package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crier-hub/crier/internal/pgtest"
	"github.com/crier-hub/crier/internal/store"
)

// TestReplicasShareOnePostgres runs three `crier serve` processes with one
// config on one PostgreSQL database, fans 120 items out to three slow
// partners, SIGKILLs one replica in the middle, and checks at the
// partners: every (item, partner) pair arrived, each under one webhook-id,
// never two requests in flight to one partner, and every replica answers
// the same feed with the same bytes and ETag.
func TestReplicasShareOnePostgres(t *testing.T) {
	dsn := pgtest.Temp(t) // skips without CRIER_TEST_POSTGRES
	bin := crierBinary(t)
	dir := t.TempDir()
	const nItems, nPartners = 120, 3
	releases := writeReleases(t, dir, nItems, 11)
	partners, subs := newPartners(t, nPartners, 20*time.Millisecond) // slow partners
	var addrs []string
	var cmds []*exec.Cmd
	for r := 0; r < 3; r++ {
		addr := freePort(t)
		addrs = append(addrs, addr)
		cfg := fmt.Sprintf("[server]\nlisten = %q\nbase_url = \"http://feeds.example\"\n[storage]\ndriver = \"postgres\"\ndsn = %q\n"+
			"[webhooks]\ntimeout = \"2s\"\nmax_body = \"3KiB\"\nallow_private_targets = true\n"+
			"[[sources]]\nid = \"s\"\nkind = \"dir\"\npath = %q\nlanguage = \"en\"\nschedule = \"@every 1h\"\n%s", addr, dsn, releases, subs)
		cmds = append(cmds, startServe(t, bin, dir, fmt.Sprintf("replica%d", r), cfg))
	}
	count := func() (int, int) { return tally(partners) }
	db, err := store.Open(context.Background(), "postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The kill lands in the fan-out, after the source's run is recorded:
	// a run killed midway is taken over only when its lease lapses (a
	// minute; the store and ingest tests cover it).
	ingested := func() bool {
		st, err := db.SourceState(context.Background(), "s")
		return err == nil && !st.LastSuccess.IsZero()
	}
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if posts, _ := count(); posts >= 30 && ingested() {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmds[0].Process.Kill() // SIGKILL, mid fan-out
	cmds[0].Wait()
	_, pairsAtKill := count()
	if pairsAtKill >= nItems*nPartners {
		t.Fatalf("every pair was delivered before the kill: the test did not interrupt a fan-out")
	}
	for time.Now().Before(deadline) {
		if _, pairs := count(); pairs == nItems*nPartners {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The replicas still up answer the same feed with the same bytes.
	var bodies, tags []string
	for _, addr := range addrs[1:] {
		resp, err := http.Get("http://" + addr + "/feeds/all.atom")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		bodies, tags = append(bodies, string(b)), append(tags, resp.Header.Get("ETag"))
	}
	if bodies[0] != bodies[1] || tags[0] != tags[1] || !strings.Contains(bodies[0], "<entry") {
		t.Errorf("replicas answer different feeds: ETags %v", tags)
	}
	for _, c := range cmds[1:] {
		c.Process.Signal(syscall.SIGTERM)
		if err := c.Wait(); err != nil {
			t.Errorf("serve after SIGTERM: %v", err)
		}
	}
	posts, pairs := count()
	t.Logf("replica 0 killed after %d pairs; in the end %d posts, %d of %d pairs", pairsAtKill, posts, pairs, nItems*nPartners)
	if pairs != nItems*nPartners {
		t.Fatalf("%d of %d (item, partner) pairs delivered", pairs, nItems*nPartners)
	}
	checkPartners(t, partners, true)
}
