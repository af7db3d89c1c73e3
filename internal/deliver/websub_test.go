package deliver

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crier-hub/crier/internal/testenv"

	"github.com/crier-hub/crier/internal/config"
	"github.com/crier-hub/crier/internal/ingest"
	"github.com/crier-hub/crier/internal/publish"
	"github.com/crier-hub/crier/internal/websub"
)

// hubSetup serves the hub over an empty store with one dir source whose
// folder the test fills later.
func hubSetup(t *testing.T, allowPrivate bool) (*websub.Hub, *Deliverer, *ingest.Ingester, config.Source, string, string) {
	t.Helper()
	dir := t.TempDir()
	rel := filepath.Join(dir, "releases")
	os.Mkdir(rel, 0o755)
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	doc := "[server]\nbase_url = \"" + base + "\"\n[webhooks]\ntimeout = \"2s\"\n"
	if allowPrivate {
		doc += "allow_private_targets = true\n"
	}
	doc += "[[sources]]\nid = \"s\"\nkind = \"dir\"\npath = \"releases\"\nlanguage = \"fr\"\ncountry = \"BE\"\n"
	cfg, st := testenv.New(t, dir, doc)
	pub := publish.New(cfg, st, quiet())
	hub := websub.NewHub(cfg, st, pub, quiet())
	srv.Config.Handler = pub.Handler(func(mux *http.ServeMux) { mux.Handle("POST /websub", hub) })
	srv.Start()
	t.Cleanup(srv.Close)
	d := New(cfg, st, quiet())
	return hub, d, ingest.New(cfg, st, quiet()), cfg.Sources[0], base, rel
}

type callback struct {
	mu       sync.Mutex
	echo     bool
	status   int
	verified []url.Values
	pushes   []*http.Request
	bodies   [][]byte
	srv      *httptest.Server
}

func newCallback(t *testing.T) *callback {
	cb := &callback{echo: true, status: 200}
	cb.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cb.mu.Lock()
		defer cb.mu.Unlock()
		if r.Method == http.MethodGet {
			cb.verified = append(cb.verified, r.URL.Query())
			if cb.echo {
				io.WriteString(w, r.URL.Query().Get("hub.challenge"))
			} else {
				io.WriteString(w, "no")
			}
			return
		}
		body, _ := io.ReadAll(r.Body)
		cb.pushes = append(cb.pushes, r)
		cb.bodies = append(cb.bodies, body)
		w.WriteHeader(cb.status)
	}))
	t.Cleanup(cb.srv.Close)
	return cb
}

func postForm(t *testing.T, hub string, form url.Values) (int, string) {
	resp, err := http.PostForm(hub, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestWebSubEveryStep(t *testing.T) {
	pub, d, in, src, base, rel := hubSetup(t, true)
	ctx := context.Background()
	cb := newCallback(t)
	topic := base + "/feeds/country/be.atom"
	form := url.Values{"hub.mode": {"subscribe"}, "hub.topic": {topic}, "hub.callback": {cb.srv.URL + "/cb?x=1"},
		"hub.secret": {"s3cret"}, "hub.lease_seconds": {"99999999"}}
	if code, body := postForm(t, base+"/websub", form); code != 202 {
		t.Fatalf("subscribe: %d %s", code, body)
	}
	pub.Wait()
	subs, _ := concrete(d.Store).WebSubs(ctx)
	if len(subs) != 1 || len(cb.verified) != 1 {
		t.Fatalf("after verification: %d subscriptions, %d verification requests", len(subs), len(cb.verified))
	}
	v := cb.verified[0]
	if v.Get("hub.mode") != "subscribe" || v.Get("hub.topic") != topic || v.Get("x") != "1" || v.Get("hub.lease_seconds") != "2592000" {
		t.Errorf("verification request: %v (lease must be bounded to 30 days)", v)
	}
	// New content: two releases arrive; the subscriber gets them, signed.
	for _, f := range []string{"000_dc35ab031d5b7d0b.txt", "003_244682e4741be058.txt"} {
		b, _ := os.ReadFile(filepath.Join("../../testdata/releases", f))
		os.WriteFile(filepath.Join(rel, f), b, 0o644)
	}
	if r := in.Run(ctx, src); r.Added != 2 {
		t.Fatalf("ingest: %+v", r)
	}
	if n, err := pub.Fire(ctx); err != nil || n != 1 {
		t.Fatalf("FireWebSub: %d, %v", n, err)
	}
	if _, delivered, _ := d.SendDue(ctx); delivered != 1 {
		t.Fatal("content not distributed")
	}
	req, body := cb.pushes[0], cb.bodies[0]
	if got, want := req.Header.Get("X-Hub-Signature"), "sha256="+websub.Signature("s3cret", body); got != want {
		t.Errorf("X-Hub-Signature %q, want %q", got, want)
	}
	if !strings.HasPrefix(req.Header.Get("Content-Type"), "application/atom+xml") || strings.Count(string(body), "<entry") != 2 {
		t.Errorf("content: %s, %d entries", req.Header.Get("Content-Type"), strings.Count(string(body), "<entry"))
	}
	links := strings.Join(req.Header.Values("Link"), ", ")
	if !strings.Contains(links, `rel="hub"`) || !strings.Contains(links, "<"+topic+`>; rel="self"`) {
		t.Errorf("Link headers: %s", links)
	}
	if n, _ := pub.Fire(ctx); n != 0 {
		t.Error("nothing new, but content was fired again")
	}
	// A 410 ends the subscription.
	b, _ := os.ReadFile("../../testdata/releases/004_3ddd9c1bccf19f9a.txt")
	os.WriteFile(filepath.Join(rel, "004.txt"), b, 0o644)
	os.WriteFile(filepath.Join(rel, "002.txt"), mustRead(t, "../../testdata/releases/002_5a2f6f364a3714b2.txt"), 0o644)
	in.Run(ctx, src)
	cb.mu.Lock()
	cb.status = 410
	cb.mu.Unlock()
	pub.Fire(ctx)
	d.SendDue(ctx)
	if subs, _ := concrete(d.Store).WebSubs(ctx); len(subs) != 0 {
		t.Error("410 did not end the subscription")
	}
	// Subscribe again, then unsubscribe.
	postForm(t, base+"/websub", form)
	pub.Wait()
	form.Set("hub.mode", "unsubscribe")
	postForm(t, base+"/websub", form)
	pub.Wait()
	if subs, _ := concrete(d.Store).WebSubs(ctx); len(subs) != 0 {
		t.Error("unsubscribe did not end the subscription")
	}
}

func mustRead(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWebSubRefusals(t *testing.T) {
	pub, d, _, _, base, _ := hubSetup(t, true)
	cb := newCallback(t)
	cb.echo = false
	topic := base + "/feeds/all.json"
	form := url.Values{"hub.mode": {"subscribe"}, "hub.topic": {topic}, "hub.callback": {cb.srv.URL}}
	if code, _ := postForm(t, base+"/websub", form); code != 202 {
		t.Fatalf("subscribe: %d", code)
	}
	pub.Wait()
	if subs, _ := concrete(d.Store).WebSubs(context.Background()); len(subs) != 0 || len(cb.verified) != 1 {
		t.Errorf("a callback that did not echo the challenge: %d subscriptions stored", len(subs))
	}
	for name, f := range map[string]url.Values{
		"bad mode":      {"hub.mode": {"watch"}, "hub.topic": {topic}, "hub.callback": {cb.srv.URL}},
		"foreign topic": {"hub.mode": {"subscribe"}, "hub.topic": {"https://elsewhere.example/feed"}, "hub.callback": {cb.srv.URL}},
		"unknown feed":  {"hub.mode": {"subscribe"}, "hub.topic": {base + "/feeds/topic/nope.atom"}, "hub.callback": {cb.srv.URL}},
		"ftp callback":  {"hub.mode": {"subscribe"}, "hub.topic": {topic}, "hub.callback": {"ftp://x.example/"}},
		"long secret":   {"hub.mode": {"subscribe"}, "hub.topic": {topic}, "hub.callback": {cb.srv.URL}, "hub.secret": {strings.Repeat("s", 200)}},
	} {
		if code, body := postForm(t, base+"/websub", f); code != 400 || strings.Count(strings.TrimSpace(body), "\n") != 0 {
			t.Errorf("%s: %d %q, want 400 with one line", name, code, body)
		}
	}
	// Private callbacks are refused when private targets are not allowed.
	_, d2, _, _, base2, _ := hubSetup(t, false)
	code, body := postForm(t, base2+"/websub", url.Values{"hub.mode": {"subscribe"}, "hub.topic": {base2 + "/feeds/all.atom"}, "hub.callback": {cb.srv.URL}})
	if code != 400 || !strings.Contains(body, "not a public address") {
		t.Errorf("private callback: %d %q", code, body)
	}
	if subs, _ := concrete(d2.Store).WebSubs(context.Background()); len(subs) != 0 {
		t.Error("a private callback was stored")
	}
}

// Hostile subscription requests: a huge lease, a callback with a fragment,
// a callback host that hangs, many requests to a keep-alive callback, and
// a private callback whose address must not be told.
func TestWebSubHostileRequests(t *testing.T) {
	pub, d, _, _, base, _ := hubSetup(t, true)
	ctx := context.Background()
	cb := newCallback(t)
	topic := base + "/feeds/all.atom"
	form := url.Values{"hub.mode": {"subscribe"}, "hub.topic": {topic}, "hub.callback": {cb.srv.URL + "/cb#frag"},
		"hub.lease_seconds": {"9223372036854775807"}}
	if code, body := postForm(t, base+"/websub", form); code != 202 {
		t.Fatalf("subscribe: %d %s", code, body)
	}
	pub.Wait()
	subs, _ := concrete(d.Store).WebSubs(ctx)
	if len(subs) != 1 || len(cb.verified) != 1 {
		t.Fatalf("a callback with a fragment: %d subscriptions, %d verifications", len(subs), len(cb.verified))
	}
	if got := cb.verified[0].Get("hub.lease_seconds"); got != "2592000" {
		t.Errorf("lease_seconds near 2^63 became %s, want the 30-day maximum", got)
	}
	// A callback host that never answers holds its own slots only.
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer hang.Close()
	hangForm := url.Values{"hub.mode": {"subscribe"}, "hub.topic": {topic}, "hub.callback": {hang.URL + "/x"}}
	refused := 0
	for i := 0; i < 40; i++ {
		hangForm.Set("hub.callback", hang.URL+"/x"+strconv.Itoa(i))
		if code, _ := postForm(t, base+"/websub", hangForm); code == 503 {
			refused++
		}
	}
	if refused < 30 {
		t.Errorf("a hanging callback host got %d of 40 verifications started", 40-refused)
	}
	other := newCallback(t)
	// Another host (localhost instead of 127.0.0.1) is still served.
	otherURL := strings.Replace(other.srv.URL, "127.0.0.1", "localhost", 1)
	if code, body := postForm(t, base+"/websub", url.Values{"hub.mode": {"subscribe"}, "hub.topic": {topic}, "hub.callback": {otherURL}}); code != 202 {
		t.Errorf("a real subscriber while another host hangs: %d %s", code, body)
	}
	hang.CloseClientConnections()
	pub.Wait()
	// Many requests to a keep-alive callback do not leave connections
	// and goroutines behind.
	before := runtime.NumGoroutine()
	for i := 0; i < 150; i++ {
		form.Set("hub.callback", cb.srv.URL+"/cb"+strconv.Itoa(i))
		postForm(t, base+"/websub", form)
		if i%2 == 1 {
			pub.Wait()
		}
	}
	pub.Wait()
	http.DefaultClient.CloseIdleConnections()
	time.Sleep(100 * time.Millisecond)
	if after := runtime.NumGoroutine(); after > before+20 {
		t.Errorf("goroutines: %d before 150 verifications, %d after", before, after)
	}
	// Private callbacks: refused without saying where the name leads.
	_, _, _, _, base2, _ := hubSetup(t, false)
	for _, cbURL := range []string{cb.srv.URL, strings.Replace(cb.srv.URL, "127.0.0.1", "localhost", 1), "http://127.1/x"} {
		code, body := postForm(t, base2+"/websub", url.Values{"hub.mode": {"subscribe"}, "hub.topic": {base2 + "/feeds/all.atom"}, "hub.callback": {cbURL}})
		if code != 400 || strings.Contains(body, "127.0.0.1") || strings.Contains(body, "::1") {
			t.Errorf("private callback %s: %d %q", cbURL, code, body)
		}
	}
}
