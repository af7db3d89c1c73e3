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

	"github.com/crier-hub/crier/webhooks"
)

var crashWords = strings.Fields(`migration migrants border health refugees asylum shelter water families support government
partners funding programme centre training employment housing schools children women return reintegration displacement
floods drought violence camps registration data survey report conference ministry office coast river valley market`)

// TestCrashDuringFanOut kills crier with SIGKILL while it delivers many
// items to several receivers, starts it again, and checks that every
// (item, subscriber) pair arrives at least once, and that a pair arriving
// twice arrives under the same webhook-id.
func TestCrashDuringFanOut(t *testing.T) {
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
	rng := rand.New(rand.NewSource(7))
	const nItems = 60
	for i := 0; i < nItems; i++ {
		var b strings.Builder
		fmt.Fprintf(&b, "Release %d about %s and %s\n\nGENEVA – ", i, crashWords[rng.Intn(len(crashWords))], crashWords[rng.Intn(len(crashWords))])
		for w := 0; w < 120; w++ {
			b.WriteString(crashWords[rng.Intn(len(crashWords))] + " ")
		}
		os.WriteFile(filepath.Join(releases, fmt.Sprintf("r%02d.txt", i)), []byte(b.String()), 0o644)
	}
	type record struct {
		mu    sync.Mutex
		pairs map[string]map[string]bool // item id -> webhook-ids
		posts int
	}
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	var recs []*record
	var subs strings.Builder
	for i := 0; i < 3; i++ {
		rec := &record{pairs: map[string]map[string]bool{}}
		recs = append(recs, rec)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			if err := webhooks.Verify([]string{secret}, r.Header, body, time.Now()); err != nil {
				t.Errorf("signature: %v", err)
			}
			time.Sleep(40 * time.Millisecond) // a partner that takes its time
			var p webhooks.Payload
			json.Unmarshal(body, &p)
			rec.mu.Lock()
			rec.posts++
			for _, it := range p.Data.Items {
				if rec.pairs[it.ID] == nil {
					rec.pairs[it.ID] = map[string]bool{}
				}
				rec.pairs[it.ID][r.Header.Get("webhook-id")] = true
			}
			rec.mu.Unlock()
		}))
		defer srv.Close()
		fmt.Fprintf(&subs, "[[subscribers]]\nid = \"p%d\"\nurl = %q\nsecret = %q\nschedule = \"@every 1s\"\nbackfill = \"all\"\n", i, srv.URL, secret)
	}
	addr := freePort(t)
	cfg := fmt.Sprintf("[server]\nlisten = %q\n[webhooks]\ntimeout = \"2s\"\nmax_body = \"3KiB\"\nallow_private_targets = true\n"+
		"[[sources]]\nid = \"s\"\nkind = \"dir\"\npath = \"releases\"\nlanguage = \"en\"\nschedule = \"@every 1h\"\n%s", addr, subs.String())
	os.WriteFile(filepath.Join(dir, "config.toml"), []byte(cfg), 0o644)
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "serve", "--config", filepath.Join(dir, "config.toml"))
		cmd.Stderr = io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	total := func() (posts, pairs int) {
		for _, r := range recs {
			r.mu.Lock()
			posts += r.posts
			pairs += len(r.pairs)
			r.mu.Unlock()
		}
		return
	}
	cmd := start()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if posts, _ := total(); posts >= 10 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Kill() // SIGKILL, mid fan-out
	cmd.Wait()
	postsAtKill, pairsAtKill := total()
	if pairsAtKill >= 3*nItems {
		t.Fatalf("every pair was delivered before the kill (%d): the test did not interrupt a fan-out", pairsAtKill)
	}
	cmd = start()
	for time.Now().Before(deadline) {
		if _, pairs := total(); pairs == 3*nItems {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("serve after SIGTERM: %v, want a clean exit", err)
	}
	posts, pairs := total()
	t.Logf("killed after %d posts (%d pairs); in the end %d posts, %d of %d pairs", postsAtKill, pairsAtKill, posts, pairs, 3*nItems)
	if pairs != 3*nItems {
		t.Fatalf("%d of %d (item, subscriber) pairs delivered", pairs, 3*nItems)
	}
	for i, r := range recs {
		for item, ids := range r.pairs {
			if len(ids) != 1 {
				t.Errorf("subscriber p%d got item %s under %d webhook-ids", i, item, len(ids))
			}
		}
	}
}
