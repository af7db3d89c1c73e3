package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/crier-hub/crier/internal/pgtest"
	"github.com/crier-hub/crier/webhooks"
)

// TestReplicasShareOnePostgres runs three `crier serve` processes with one
// config on one PostgreSQL database, fans 120 items out to three slow
// partners, SIGKILLs one replica in the middle, and checks at the
// partners: every (item, partner) pair arrived, each under one webhook-id,
// never two requests in flight to one partner, and every replica answers
// the same feed with the same bytes and ETag.
func TestReplicasShareOnePostgres(t *testing.T) {
	dsn := pgtest.Temp(t) // skips without CRIER_TEST_POSTGRES
	if testing.Short() {
		t.Skip("builds and runs the crier binary; skipped with -short")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "crier")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	releases := filepath.Join(dir, "releases")
	os.Mkdir(releases, 0o755)
	rng := rand.New(rand.NewSource(11))
	const nItems, nPartners = 120, 3
	for i := 0; i < nItems; i++ {
		var b strings.Builder
		fmt.Fprintf(&b, "Release %d about %s\n\nGENEVA – ", i, crashWords[rng.Intn(len(crashWords))])
		for w := 0; w < 120; w++ {
			b.WriteString(crashWords[rng.Intn(len(crashWords))] + " ")
		}
		os.WriteFile(filepath.Join(releases, fmt.Sprintf("r%03d.txt", i)), []byte(b.String()), 0o644)
	}
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	type partner struct {
		mu       sync.Mutex
		pairs    map[string]map[string]bool // item id -> webhook-ids
		inFlight int
		overlaps int
		posts    int
	}
	var partners []*partner
	var subs strings.Builder
	for i := 0; i < nPartners; i++ {
		p := &partner{pairs: map[string]map[string]bool{}}
		partners = append(partners, p)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p.mu.Lock()
			p.inFlight++
			if p.inFlight > 1 {
				p.overlaps++
			}
			p.mu.Unlock()
			body, _ := io.ReadAll(r.Body)
			time.Sleep(20 * time.Millisecond) // a slow partner
			ok := webhooks.Verify([]string{secret}, r.Header, body, time.Now()) == nil
			var pl webhooks.Payload
			json.Unmarshal(body, &pl)
			p.mu.Lock()
			defer p.mu.Unlock()
			p.inFlight--
			if !ok {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			p.posts++
			for _, it := range pl.Data.Items {
				if p.pairs[it.ID] == nil {
					p.pairs[it.ID] = map[string]bool{}
				}
				p.pairs[it.ID][r.Header.Get("webhook-id")] = true
			}
		}))
		defer srv.Close()
		fmt.Fprintf(&subs, "[[subscribers]]\nid = \"p%d\"\nurl = %q\nsecret = %q\nschedule = \"@every 1s\"\nbackfill = \"all\"\n", i, srv.URL, secret)
	}
	var addrs []string
	var cmds []*exec.Cmd
	for r := 0; r < 3; r++ {
		addr := freePort(t)
		addrs = append(addrs, addr)
		cfg := fmt.Sprintf("[server]\nlisten = %q\nbase_url = \"http://feeds.example\"\n[storage]\ndriver = \"postgres\"\ndsn = %q\n"+
			"[webhooks]\ntimeout = \"2s\"\nmax_body = \"3KiB\"\nallow_private_targets = true\n"+
			"[[sources]]\nid = \"s\"\nkind = \"dir\"\npath = %q\nlanguage = \"en\"\nschedule = \"@every 1h\"\n%s", addr, dsn, releases, subs.String())
		path := filepath.Join(dir, fmt.Sprintf("replica%d.toml", r))
		os.WriteFile(path, []byte(cfg), 0o644)
		cmd := exec.Command(bin, "serve", "--config", path)
		cmd.Stderr = io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	defer func() {
		for _, c := range cmds {
			c.Process.Kill()
			c.Wait()
		}
	}()
	count := func() (posts, pairs int) {
		for _, p := range partners {
			p.mu.Lock()
			posts += p.posts
			pairs += len(p.pairs)
			p.mu.Unlock()
		}
		return
	}
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if posts, _ := count(); posts >= 30 {
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
	cmds = nil
	posts, pairs := count()
	t.Logf("replica 0 killed after %d pairs; in the end %d posts, %d of %d pairs", pairsAtKill, posts, pairs, nItems*nPartners)
	if pairs != nItems*nPartners {
		t.Fatalf("%d of %d (item, partner) pairs delivered", pairs, nItems*nPartners)
	}
	for i, p := range partners {
		if p.overlaps > 0 {
			t.Errorf("partner p%d had two requests in flight %d times", i, p.overlaps)
		}
		for item, ids := range p.pairs {
			if len(ids) != 1 {
				t.Errorf("partner p%d got item %s under %d webhook-ids", i, item, len(ids))
			}
		}
	}
}
