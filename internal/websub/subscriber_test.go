package websub_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crier-hub/crier/internal/config"
	"github.com/crier-hub/crier/internal/deliver"
	"github.com/crier-hub/crier/internal/ingest"
	"github.com/crier-hub/crier/internal/publish"
	"github.com/crier-hub/crier/internal/store"
	"github.com/crier-hub/crier/internal/testenv"
	"github.com/crier-hub/crier/internal/websub"
)

// downstream is a crier that reads one feed source and subscribes to its
// hub, with its callback served over HTTP.
type downstream struct {
	cfg *config.Config
	st  *store.Store
	in  *ingest.Ingester
	sub *websub.Subscriber
	srv *httptest.Server
}

func newDownstream(t *testing.T, feedURL string) *downstream {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	doc := fmt.Sprintf("[server]\nbase_url = %q\n[fetch]\ntimeout = \"5s\"\nallow_private_targets = true\n[[sources]]\nid = \"up\"\nkind = \"feed\"\nurl = %q\nlanguage = \"fr\"\ncountry = \"BE\"\n", base, feedURL)
	cfg, st := testenv.New(t, t.TempDir(), doc)
	in := ingest.New(cfg, st, testenv.Log())
	d := &downstream{cfg: cfg, st: st, in: in}
	d.sub = &websub.Subscriber{Store: st, Client: in.Fetcher.Client, BaseURL: base, Sources: map[string]config.Source{"up": cfg.Sources[0]},
		Ingest: in.IngestPushed, Log: testenv.Log(), Now: time.Now, MaxBody: 1 << 20}
	in.OnHub = d.sub.Ensure
	mux := http.NewServeMux()
	mux.Handle(websub.CallbackPath+"{source}/{token}", d.sub)
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(srv.Close)
	d.srv = srv
	return d
}

func (d *downstream) titles(t *testing.T) []string {
	items, err := d.st.Items(context.Background(), store.Query{Limit: 50, SeqDesc: true})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, it := range items {
		out = append(out, it.Title)
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("%s: timed out", what)
}

// Two crier instances, one republishing the other: the downstream one
// polls once, finds the upstream hub, subscribes, and from then on gets
// each new release pushed, without polling.
func TestPushFromCriersOwnHub(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	rel := filepath.Join(dir, "releases")
	os.Mkdir(rel, 0o755)
	copyRelease := func(name string) {
		b, err := os.ReadFile(filepath.Join("../../testdata/releases", name))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(rel, name), b, 0o644)
	}
	copyRelease("000_dc35ab031d5b7d0b.txt")
	upSrv := httptest.NewUnstartedServer(nil)
	upBase := "http://" + upSrv.Listener.Addr().String()
	upCfg, upSt := testenv.New(t, dir, fmt.Sprintf("[server]\nbase_url = %q\n[webhooks]\ntimeout = \"5s\"\nallow_private_targets = true\n"+
		"[[sources]]\nid = \"s\"\nkind = \"dir\"\npath = \"releases\"\nlanguage = \"fr\"\ncountry = \"BE\"\n", upBase))
	upIn := ingest.New(upCfg, upSt, testenv.Log())
	pub := publish.New(upCfg, upSt, testenv.Log())
	hub := websub.NewHub(upCfg, upSt, pub, testenv.Log())
	upSrv.Config.Handler = pub.Handler(func(mux *http.ServeMux) { mux.Handle("POST /websub", hub) })
	upSrv.Start()
	defer upSrv.Close()
	sender := deliver.New(upCfg, upSt, testenv.Log())
	if r := upIn.Run(ctx, upCfg.Sources[0]); r.Added != 1 {
		t.Fatalf("upstream ingest: %+v", r)
	}

	down := newDownstream(t, upBase+"/feeds/all.atom")
	if r := down.in.Run(ctx, down.cfg.Sources[0]); r.Err != nil || r.Added != 1 {
		t.Fatalf("downstream poll: %+v", r)
	}
	hub.Wait() // the upstream hub verifies the downstream's intent
	p, ok, _ := down.st.PushSubscription(ctx, "up")
	if !ok || !p.Live(time.Now()) || p.Hub != upBase+"/websub" {
		t.Fatalf("after the poll: push subscription %+v (found %v), want live at the upstream hub", p, ok)
	}
	// A new release upstream reaches downstream by push.
	copyRelease("003_244682e4741be058.txt")
	if r := upIn.Run(ctx, upCfg.Sources[0]); r.Added != 1 {
		t.Fatalf("upstream ingest: %+v", r)
	}
	if n, err := hub.Fire(ctx); err != nil || n != 1 {
		t.Fatalf("upstream hub: %d deliveries, %v", n, err)
	}
	if _, delivered, err := sender.SendDue(ctx); err != nil || delivered != 1 {
		t.Fatalf("upstream hub sent %d, %v", delivered, err)
	}
	if got := down.titles(t); len(got) != 2 {
		t.Fatalf("downstream after the push: %v, want both releases", got)
	}
	// Content whose signature does not match is refused and changes nothing.
	cb := down.srv.URL + websub.CallbackPath + "up/" + p.Token
	resp, err := http.Post(cb, "application/atom+xml", strings.NewReader(`<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>x</id><title>Forged</title><content>forged release with enough words to be stored as an item of its own</content></entry></feed>`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || len(down.titles(t)) != 2 {
		t.Errorf("unsigned content: %d, %d items", resp.StatusCode, len(down.titles(t)))
	}
	// A verification for a topic crier did not ask for is refused.
	resp, err = http.Get(cb + "?hub.mode=subscribe&hub.topic=" + url.QueryEscape("http://other.example/feed") + "&hub.challenge=abc")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("a verification of another topic: %d, want 404", resp.StatusCode)
	}
}

// An independent hub, written here in another style: it keeps its
// subscribers in a map, verifies intent in the request's goroutine, and
// signs pushes with sha1.
type tinyHub struct {
	mu       sync.Mutex
	callback string
	secret   string
	srv      *httptest.Server
}

func newTinyHub(t *testing.T) *tinyHub {
	h := &tinyHub{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		cb, topic := r.PostForm.Get("hub.callback"), r.PostForm.Get("hub.topic")
		u, _ := url.Parse(cb)
		q := u.Query()
		q.Set("hub.mode", "subscribe")
		q.Set("hub.topic", topic)
		q.Set("hub.challenge", "tiny-challenge")
		q.Set("hub.lease_seconds", "3600")
		u.RawQuery = q.Encode()
		resp, err := http.Get(u.String())
		if err != nil {
			w.WriteHeader(500)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "tiny-challenge" {
			w.WriteHeader(400)
			return
		}
		h.mu.Lock()
		h.callback, h.secret = cb, r.PostForm.Get("hub.secret")
		h.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *tinyHub) push(t *testing.T, body string) int {
	h.mu.Lock()
	cb, secret := h.callback, h.secret
	h.mu.Unlock()
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(body))
	req, _ := http.NewRequest("POST", cb, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/rss+xml")
	req.Header.Set("X-Hub-Signature", "sha1="+hex.EncodeToString(m.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestPushFromAnIndependentHub(t *testing.T) {
	ctx := context.Background()
	hub := newTinyHub(t)
	bodies := []string{
		"The office announced today a programme for families who returned home after the floods, with training, housing support and grants for small businesses in their villages.",
		"Health workers from twelve districts met in the capital to agree on how to vaccinate children in camps before the rainy season closes the roads to the north.",
	}
	item := func(n int) string {
		return fmt.Sprintf(`<item><title>Release %d from the office</title><guid>r%d</guid><description>GENEVA – %s</description></item>`, n, n, bodies[n-1])
	}
	feed := func(items string) string {
		return `<?xml version="1.0"?><rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel><title>Office</title><link>https://office.example/</link>` +
			`<atom:link rel="hub" href="` + hub.srv.URL + `"/><atom:link rel="self" href="https://office.example/feed"/>` + items + `</channel></rss>`
	}
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml")
		io.WriteString(w, feed(item(1)))
	}))
	defer upstream.Close()
	down := newDownstream(t, upstream.URL)
	if r := down.in.Run(ctx, down.cfg.Sources[0]); r.Err != nil || r.Added != 1 {
		t.Fatalf("poll: %+v", r)
	}
	waitFor(t, "the subscription goes live", func() bool {
		p, ok, _ := down.st.PushSubscription(ctx, "up")
		return ok && p.Live(time.Now()) && p.Topic == "https://office.example/feed"
	})
	if code := hub.push(t, feed(item(2))); code/100 != 2 {
		t.Fatalf("push: %d", code)
	}
	if got := down.titles(t); len(got) != 2 {
		t.Errorf("after the push: %v", got)
	}
	// The hub pushes the same entry again: the same item, not a new one.
	hub.push(t, feed(item(2)))
	if got := down.titles(t); len(got) != 2 {
		t.Errorf("a repeated push made a new item: %v", got)
	}
}

// A live subscription near the end of its lease is renewed without a poll.
func TestLeasesAreRenewed(t *testing.T) {
	ctx := context.Background()
	hub := newTinyHub(t)
	down := newDownstream(t, "https://office.example/feed")
	src := down.cfg.Sources[0]
	if err := down.sub.Ensure(ctx, src, hub.srv.URL, "https://office.example/feed"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the subscription goes live", func() bool {
		p, ok, _ := down.st.PushSubscription(ctx, "up")
		return ok && p.Live(time.Now())
	})
	first, _, _ := down.st.PushSubscription(ctx, "up")
	// Ten days on, with less than a quarter of the lease left.
	down.sub.Now = func() time.Time { return time.Now().Add(websub.Lease - websub.Lease/8) }
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go down.sub.Renew(rctx, 10*time.Millisecond)
	waitFor(t, "the subscription is renewed", func() bool {
		p, _, _ := down.st.PushSubscription(ctx, "up")
		return p.Token != first.Token && p.State == store.PushLive
	})
}
