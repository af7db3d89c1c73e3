package publish

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crier-hub/crier/internal/testenv"

	"github.com/mmcdole/gofeed"

	"github.com/crier-hub/crier/internal/config"
	"github.com/crier-hub/crier/internal/ingest"
	"github.com/crier-hub/crier/internal/store"
)

// newTestServer ingests the sample releases with the bundled taxonomy into
// a fresh database and serves them.
func newTestServer(t *testing.T) (*httptest.Server, *store.Store, *config.Config) {
	t.Helper()
	srv, st, cfg, _ := newTestPublisher(t)
	return srv, st, cfg
}

// newTestPublisher is newTestServer that also returns the Server.
func newTestPublisher(t *testing.T) (*httptest.Server, *store.Store, *config.Config, *Server) {
	t.Helper()
	ctx := context.Background()
	cfg, err := config.Load("../../config.toml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Storage.DSN = filepath.Join(t.TempDir(), "crier.db")
	st, err := store.Open(ctx, cfg.Storage.Driver, cfg.Storage.DSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := testenv.Log()
	in := ingest.New(cfg, st, log)
	for _, src := range cfg.Sources {
		if r := in.Run(ctx, src); r.Err != nil {
			t.Fatalf("ingest %s: %v", src.ID, r.Err)
		}
	}
	srv := httptest.NewUnstartedServer(nil)
	cfg.Server.BaseURL = "http://" + srv.Listener.Addr().String()
	pub := New(cfg, st, log)
	srv.Config.Handler = pub.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, st, cfg, pub
}

func get(t *testing.T, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Accept-Encoding", "identity")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// menuLines are lines of the sample site's navigation; no title may hold them.
var menuLines = []string{"Qui sommes nous", "Notre travail", "Communiqué de presse", "2030 AGENDA", "Structure"}

func TestAllFeedsServeTheSamples(t *testing.T) {
	srv, _, _ := newTestServer(t)
	for _, ext := range []string{"rss", "atom", "json"} {
		t.Run(ext, func(t *testing.T) {
			resp, body := get(t, srv.URL+"/feeds/all."+ext)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			f, err := gofeed.NewParser().ParseString(string(body))
			if err != nil {
				t.Fatalf("gofeed cannot parse our %s: %v", ext, err)
			}
			if len(f.Items) != 5 {
				t.Fatalf("items: got %d, want the 5 samples", len(f.Items))
			}
			ids := map[string]bool{}
			for _, it := range f.Items {
				if it.GUID == "" || ids[it.GUID] {
					t.Errorf("missing or duplicate id %q", it.GUID)
				}
				ids[it.GUID] = true
				if strings.ContainsAny(it.Title, "#*[]") {
					t.Errorf("Markdown left in title %q", it.Title)
				}
				for _, m := range menuLines {
					if strings.Contains(it.Title, m) {
						t.Errorf("menu text %q in title %q", m, it.Title)
					}
				}
				if len(it.Title) < 30 {
					t.Errorf("title %q is too short to be a release's headline", it.Title)
				}
			}
		})
	}
}

func TestJSONFeedRequiredFields(t *testing.T) {
	srv, _, _ := newTestServer(t)
	_, body := get(t, srv.URL+"/feeds/all.json")
	var f map[string]any
	if err := json.Unmarshal(body, &f); err != nil {
		t.Fatal(err)
	}
	if f["version"] != "https://jsonfeed.org/version/1.1" {
		t.Errorf("version: %v", f["version"])
	}
	if s, _ := f["title"].(string); s == "" {
		t.Error("feed title missing")
	}
	if s, _ := f["feed_url"].(string); !strings.HasSuffix(s, "/feeds/all.json") {
		t.Errorf("feed_url: %v", f["feed_url"])
	}
	items, _ := f["items"].([]any)
	if len(items) != 5 {
		t.Fatalf("items: %d", len(items))
	}
	seen := map[string]bool{}
	for _, raw := range items {
		it := raw.(map[string]any)
		id, _ := it["id"].(string)
		if id == "" || seen[id] {
			t.Errorf("empty or duplicate id %q", id)
		}
		seen[id] = true
		_, hasHTML := it["content_html"].(string)
		_, hasText := it["content_text"].(string)
		if !hasHTML && !hasText {
			t.Errorf("item %s has neither content_html nor content_text", id)
		}
		ext, ok := it["_crier"].(map[string]any)
		if !ok {
			t.Fatalf("item %s has no _crier", id)
		}
		if srcs, _ := ext["sources"].([]any); len(srcs) != 1 || srcs[0] != "iom-be-samples" {
			t.Errorf("_crier.sources: %v", ext["sources"])
		}
		if contacts, _ := ext["contacts"].([]any); len(contacts) == 0 {
			t.Errorf("item %s: no press contacts in _crier", id)
		}
		if ext["country"] == "" || ext["country"] == nil {
			t.Errorf("item %s: no country in _crier", id)
		}
		if ext["language"] != "fr" || it["language"] != "fr" {
			t.Errorf("language: _crier %v, item %v; want fr", ext["language"], it["language"])
		}
	}
}

func TestNotFoundAndBadRequest(t *testing.T) {
	srv, _, _ := newTestServer(t)
	tests := []struct {
		path   string
		status int
		reason string
	}{
		{"/feeds/source/nope.rss", 404, `unknown source "nope"`},
		{"/feeds/all.xml", 404, "unknown feed format"},
		{"/feeds/topic/nope.atom", 404, `unknown topic "nope"`},
		{"/feeds/everything.json", 404, "no such feed"},
		{"/feeds/all.rss?limit=-3", 400, "bad limit"},
		{"/feeds/all.rss?colour=red", 400, "unknown query parameter"},
		{"/feeds/all.rss?country=belgium", 400, "bad country"},
		{"/items/nope", 404, "no such item"},
		{"/feeds/country/zz.atom", 404, "unknown country"},
		{"/feeds/all.json?country=zz", 404, "unknown country"},
		{"/feeds/language/xx.atom", 404, `unknown language "xx"`},
		{"/feeds/all.json?lang=xx", 404, `unknown language "xx"`},
	}
	for _, tt := range tests {
		resp, body := get(t, srv.URL+tt.path)
		if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.reason) {
			t.Errorf("%s: got %d %q, want %d with %q", tt.path, resp.StatusCode, body, tt.status, tt.reason)
		}
		if n := strings.Count(strings.TrimSpace(string(body)), "\n"); n != 0 {
			t.Errorf("%s: reason is %d lines, want one", tt.path, n+1)
		}
	}
}

func TestSubsetsAndConditionalGet(t *testing.T) {
	srv, _, _ := newTestServer(t)
	resp, body := get(t, srv.URL+"/feeds/source/iom-be-samples.rss")
	if resp.StatusCode != 200 || strings.Count(string(body), "<item") != 5 {
		t.Fatalf("source feed: %d, %d items", resp.StatusCode, strings.Count(string(body), "<item"))
	}
	resp, body = get(t, srv.URL+"/feeds/topic/refugees.json")
	var f struct{ Items []map[string]any }
	json.Unmarshal(body, &f)
	if resp.StatusCode != 200 || len(f.Items) == 0 || len(f.Items) == 5 {
		t.Errorf("topic feed: status %d, %d items; want some but not all", resp.StatusCode, len(f.Items))
	}
	for path, want := range map[string]int{"/feeds/country/us.rss": 1, "/feeds/country/by.rss": 1, "/feeds/country/be.rss": 3,
		"/feeds/language/fr.rss": 5, "/feeds/language/es.rss": 0, "/feeds/country/be.rss?topic=refugees": 2} {
		resp, body := get(t, srv.URL+path)
		if got := strings.Count(string(body), "<guid"); resp.StatusCode != 200 || got != want {
			t.Errorf("%s: status %d, %d items; want %d", path, resp.StatusCode, got, want)
		}
	}
	resp, _ = get(t, srv.URL+"/feeds/all.atom")
	etag := resp.Header.Get("ETag")
	if etag == "" || resp.Header.Get("Last-Modified") == "" {
		t.Fatal("no ETag or Last-Modified")
	}
	resp, body = get(t, srv.URL+"/feeds/all.atom", "If-None-Match", etag)
	if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
		t.Errorf("If-None-Match: got %d with %d bytes, want 304", resp.StatusCode, len(body))
	}
}

func TestItemPage(t *testing.T) {
	srv, _, _ := newTestServer(t)
	_, body := get(t, srv.URL+"/feeds/all.json")
	var f struct{ Items []struct{ URL, Title string } }
	json.Unmarshal(body, &f)
	for _, it := range f.Items {
		resp, page := get(t, it.URL)
		if resp.StatusCode != 200 || !strings.Contains(string(page), "<h1>") || strings.Contains(string(page), "<script") {
			t.Errorf("%s: %d", it.URL, resp.StatusCode)
		}
	}
}

func TestIndexHasAutodiscovery(t *testing.T) {
	srv, _, _ := newTestServer(t)
	resp, body := get(t, srv.URL+"/")
	if resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	for _, want := range []string{
		`<link rel="alternate" type="application/atom+xml"`,
		`/feeds/all.rss"`,
		`/feeds/source/iom-be-samples.json`,
		`/feeds/topic/refugees.atom`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("index lacks %s", want)
		}
	}
}

// TestFeedsPassValidators checks the served feeds with independent tools:
// jing with the Atom schema of RFC 4287, Debian's python3-feedparser
// (bozo must be 0) and xmllint. CI sets CRIER_VALIDATORS=1 after
// installing them; without it the test skips if a tool is missing.
func TestFeedsPassValidators(t *testing.T) {
	tools := map[string]string{"jing": "jing", "xmllint": "xmllint", "python": "/usr/bin/python3"}
	for name, bin := range tools {
		if _, err := lookPath(bin); err != nil {
			if os.Getenv("CRIER_VALIDATORS") != "" {
				t.Fatalf("CRIER_VALIDATORS is set but %s (%s) is missing", name, bin)
			}
			t.Skipf("%s not installed: run `apt-get install jing python3-feedparser libxml2-utils` and set CRIER_VALIDATORS=1 (bash .ci/run does both)", bin)
		}
	}
	srv, _, _ := newTestServer(t)
	dir := t.TempDir()
	paths := []string{"/feeds/all", "/feeds/source/iom-be-samples", "/feeds/topic/refugees", "/feeds/language/fr", "/feeds/country/be",
		"/feeds/all|?limit=2&before=4", "/feeds/country/be|?since=0&limit=1&topic=refugees"}
	for i, p := range paths {
		p, query, _ := strings.Cut(p, "|")
		for _, ext := range []string{"atom", "rss"} {
			_, body := get(t, srv.URL+p+"."+ext+query)
			file := filepath.Join(dir, fmt.Sprintf("%d-%s.%s", i, strings.ReplaceAll(strings.TrimPrefix(p, "/"), "/", "_"), ext))
			os.WriteFile(file, body, 0o644)
			run(t, "xmllint", "--noout", file)
			if ext == "atom" {
				run(t, "jing", "-c", "../../testdata/validators/atom.rnc", file)
			}
			out := run(t, "/usr/bin/python3", "-c",
				"import sys, feedparser; d = feedparser.parse(sys.argv[1]); print(int(bool(d.bozo)), len(d.entries), d.get('bozo_exception', ''))", file)
			if !strings.HasPrefix(out, "0 ") {
				t.Errorf("feedparser on %s%s: bozo, %s", p, ext, out)
			}
		}
	}
}
