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
	"testing"
	"time"

	"github.com/crier-hub/crier/webhooks"
)

// The tests that run crier as a process share these: the binary, a
// folder of releases, and partners that record what reaches them.

var crashWords = strings.Fields(`migration migrants border health refugees asylum shelter water families support government
partners funding programme centre training employment housing schools children women return reintegration displacement
floods drought violence camps registration data survey report conference ministry office coast river valley market`)

// partnerSecret signs every test partner's deliveries.
const partnerSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

var built struct {
	once sync.Once
	dir  string // removed by TestMain
	bin  string
	err  error
	out  []byte
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// crierBinary builds the crier binary once for the test process.
func crierBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the crier binary; skipped with -short")
	}
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "crier-bin-")
		if built.err != nil {
			return
		}
		built.bin = filepath.Join(built.dir, "crier")
		built.out, built.err = exec.Command("go", "build", "-o", built.bin, ".").CombinedOutput()
	})
	if built.err != nil {
		t.Fatalf("build: %v\n%s", built.err, built.out)
	}
	return built.bin
}

// startServe runs `crier serve` (the binary from crierBinary) on cfg,
// written to dir/name.toml, its log going to dir/name.log. When the test
// ends the process is killed if it still runs, and a failed test prints
// the log's last lines.
func startServe(t *testing.T, bin, dir, name, cfg string) *exec.Cmd {
	t.Helper()
	path := filepath.Join(dir, name+".toml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--config", path)
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil { // not waited for by the test
			cmd.Process.Kill()
			cmd.Wait()
		}
		logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logFile.Name())
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			t.Logf("%s's last lines:\n%s", name, strings.Join(lines[max(0, len(lines)-20):], "\n"))
		}
	})
	return cmd
}

// writeReleases writes n releases of random words into a new folder of
// dir and returns its path.
func writeReleases(t *testing.T, dir string, n int, seed int64) string {
	t.Helper()
	releases := filepath.Join(dir, "releases")
	if err := os.Mkdir(releases, 0o755); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(seed))
	word := func() string { return crashWords[rng.Intn(len(crashWords))] }
	for i := 0; i < n; i++ {
		var b strings.Builder
		fmt.Fprintf(&b, "Release %d about %s and %s\n\nGENEVA – ", i, word(), word())
		for w := 0; w < 120; w++ {
			b.WriteString(word() + " ")
		}
		if err := os.WriteFile(filepath.Join(releases, fmt.Sprintf("r%03d.txt", i)), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return releases
}

// partner is a slow webhook receiver that records, per item, the
// webhook-ids it arrived under, and counts requests that overlapped or
// failed verification.
type partner struct {
	mu       sync.Mutex
	pairs    map[string]map[string]bool // item id -> webhook-ids
	posts    int
	inFlight int
	overlaps int
	unsigned int
}

// newPartner starts a partner that takes delay over each request, and
// returns it with the subscriber's config.toml entry under id.
func newPartner(t *testing.T, id string, delay time.Duration) (*partner, string) {
	p := &partner{pairs: map[string]map[string]bool{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.inFlight++
		if p.inFlight > 1 {
			p.overlaps++
		}
		p.mu.Unlock()
		body, _ := io.ReadAll(r.Body)
		time.Sleep(delay)
		ok := webhooks.Verify([]string{partnerSecret}, r.Header, body, time.Now()) == nil
		var pl webhooks.Payload
		json.Unmarshal(body, &pl)
		p.mu.Lock()
		defer p.mu.Unlock()
		p.inFlight--
		if !ok {
			p.unsigned++
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
	t.Cleanup(srv.Close)
	return p, fmt.Sprintf("[[subscribers]]\nid = %q\nurl = %q\nsecret = %q\nschedule = \"@every 1s\"\nbackfill = \"all\"\n", id, srv.URL, partnerSecret)
}

// newPartners starts n partners, p0 to p(n-1), each taking delay over a
// request, and returns them with their subscribers' config.toml entries.
func newPartners(t *testing.T, n int, delay time.Duration) ([]*partner, string) {
	var partners []*partner
	var subs strings.Builder
	for i := 0; i < n; i++ {
		p, entry := newPartner(t, fmt.Sprintf("p%d", i), delay)
		partners = append(partners, p)
		subs.WriteString(entry)
	}
	return partners, subs.String()
}

// tally sums the partners' posts and (item, partner) pairs.
func tally(partners []*partner) (posts, pairs int) {
	for _, p := range partners {
		p.mu.Lock()
		posts += p.posts
		pairs += len(p.pairs)
		p.mu.Unlock()
	}
	return posts, pairs
}

// checkPartners fails the test for a request that was not signed, two
// requests in flight to one partner (when serial), or an item that
// arrived under more than one webhook-id.
func checkPartners(t *testing.T, partners []*partner, serial bool) {
	t.Helper()
	for i, p := range partners {
		p.mu.Lock()
		if p.unsigned > 0 {
			t.Errorf("partner p%d got %d requests that failed verification", i, p.unsigned)
		}
		if serial && p.overlaps > 0 {
			t.Errorf("partner p%d had two requests in flight %d times", i, p.overlaps)
		}
		for item, ids := range p.pairs {
			if len(ids) != 1 {
				t.Errorf("partner p%d got item %s under %d webhook-ids", i, item, len(ids))
			}
		}
		p.mu.Unlock()
	}
}
