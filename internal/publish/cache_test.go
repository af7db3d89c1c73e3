package publish

import (
	"compress/gzip"
	"context"
	"fmt"
	"github.com/crier-hub/crier/internal/config"
	"log/slog"
	"net/http/httptest"
	"time"

	"encoding/json"
	"encoding/xml"
	"github.com/crier-hub/crier/internal/convert"
	"github.com/crier-hub/crier/internal/store"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/mmcdole/gofeed"
)

func TestConditionalGetHeadAndGzip(t *testing.T) {
	srv, _, _ := newTestServer(t)
	url := srv.URL + "/feeds/all.atom"
	resp, body := get(t, url)
	etag, lm := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	if resp.Header.Get("Vary") != "Accept-Encoding" || !strings.Contains(resp.Header.Get("Cache-Control"), "max-age=300") || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("headers: Vary %q, Cache-Control %q, X-Content-Type-Options %q", resp.Header.Get("Vary"), resp.Header.Get("Cache-Control"), resp.Header.Get("X-Content-Type-Options"))
	}
	tests := []struct {
		name   string
		header []string
		status int
	}{
		{"If-None-Match", []string{"If-None-Match", etag}, 304},
		{"If-Modified-Since", []string{"If-Modified-Since", lm}, 304},
		{"If-None-Match wins over If-Modified-Since", []string{"If-None-Match", `"other"`, "If-Modified-Since", lm}, 200},
		{"stale If-Modified-Since", []string{"If-Modified-Since", "Mon, 01 Jan 2001 00:00:00 GMT"}, 200},
	}
	for _, tt := range tests {
		if resp, _ := get(t, url, tt.header...); resp.StatusCode != tt.status {
			t.Errorf("%s: %d, want %d", tt.name, resp.StatusCode, tt.status)
		}
	}
	req, _ := http.NewRequest("HEAD", url, nil)
	req.Header.Set("Accept-Encoding", "identity")
	hr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	hb, _ := io.ReadAll(hr.Body)
	hr.Body.Close()
	if hr.StatusCode != 200 || len(hb) != 0 || hr.Header.Get("ETag") != etag {
		t.Errorf("HEAD: %d, %d bytes, ETag %q", hr.StatusCode, len(hb), hr.Header.Get("ETag"))
	}
	// gzip: asked for explicitly, so the client does not undo it for us.
	req, _ = http.NewRequest("GET", url, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	gr, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer gr.Body.Close()
	if gr.Header.Get("Content-Encoding") != "gzip" || gr.Header.Get("ETag") == etag {
		t.Fatalf("gzip: encoding %q, ETag %q (must differ from the identity one)", gr.Header.Get("Content-Encoding"), gr.Header.Get("ETag"))
	}
	zr, err := gzip.NewReader(gr.Body)
	if err != nil {
		t.Fatal(err)
	}
	unzipped, _ := io.ReadAll(zr)
	if string(unzipped) != string(body) {
		t.Error("the gzip body differs from the plain one")
	}
}

func TestPollsOfAnUnchangedFeedDoNoDatabaseWork(t *testing.T) {
	srv, st, _ := newTestServer(t)
	_, first := get(t, srv.URL+"/feeds/all.json?lang=fr")
	st.Close() // any query now fails
	resp, again := get(t, srv.URL+"/feeds/all.json?lang=fr")
	if resp.StatusCode != 200 || string(again) != string(first) {
		t.Fatalf("a repeated poll went to the database: %d", resp.StatusCode)
	}
	if resp, _ := get(t, srv.URL+"/feeds/all.json?lang=es"); resp.StatusCode != 500 {
		t.Errorf("a new query was served without the database: %d", resp.StatusCode)
	}
}

func TestHostileQueries(t *testing.T) {
	srv, _, _ := newTestServer(t)
	for path, want := range map[string]string{
		"/feeds/all.rss?limit=1000000":                     "bad limit",
		"/feeds/all.rss?country=be&country=lu":             "given 2 times",
		"/feeds/all.rss?foo=bar":                           "unknown query parameter",
		"/feeds/all.rss?country=%zz":                       "malformed query string",
		"/feeds/all.rss?lang=%ff%fe":                       "not valid UTF-8",
		"/feeds/all.rss?before=1&since=2":                  "not both",
		"/feeds/all.rss?topic=" + strings.Repeat("a,", 60): "at most 50",
	} {
		resp, body := get(t, srv.URL+path)
		if resp.StatusCode != 400 || !strings.Contains(string(body), want) {
			t.Errorf("%s: %d %q, want 400 with %q", path, resp.StatusCode, body, want)
		}
	}
}

func TestArchivePagingAndSince(t *testing.T) {
	srv, _, _ := newTestServer(t)
	seen := map[string]bool{}
	url := srv.URL + "/feeds/all.atom?limit=2"
	pages := 0
	for url != "" && pages < 10 {
		pages++
		_, body := get(t, url)
		f, err := gofeed.NewParser().ParseString(string(body))
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range f.Items {
			if seen[it.GUID] {
				t.Errorf("item %s on two pages", it.GUID)
			}
			seen[it.GUID] = true
		}
		url = atomLink(t, body, "prev-archive")
		if pages > 1 && !strings.Contains(string(body), "<fh:archive") {
			t.Error("an archive page lacks fh:archive")
		}
		if pages > 1 && atomLink(t, body, "next-archive") == "" {
			t.Error("an archive page lacks next-archive")
		}
	}
	if len(seen) != 5 || pages != 3 {
		t.Errorf("walked %d pages and %d items; want 3 pages, all 5 items", pages, len(seen))
	}
	// Backfill with since: oldest first, a next link until the end.
	var order []string
	url = srv.URL + "/feeds/all.json?since=0&limit=2"
	for url != "" {
		_, body := get(t, url)
		var f struct {
			NextURL string `json:"next_url"`
			Items   []struct {
				ID string `json:"id"`
			}
		}
		if err := jsonUnmarshal(body, &f); err != nil {
			t.Fatal(err)
		}
		for _, it := range f.Items {
			order = append(order, it.ID)
		}
		url = f.NextURL
	}
	if len(order) != 5 {
		t.Errorf("since walk: %d items, want 5", len(order))
	}
}

func atomLink(t *testing.T, body []byte, rel string) string {
	var doc struct {
		Links []struct {
			Rel  string `xml:"rel,attr"`
			Href string `xml:"href,attr"`
		} `xml:"link"`
	}
	if err := xml.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	for _, l := range doc.Links {
		if l.Rel == rel {
			return l.Href
		}
	}
	return ""
}

func TestOPML(t *testing.T) {
	srv, _, _ := newTestServer(t)
	resp, body := get(t, srv.URL+"/feeds.opml")
	if resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	for _, want := range []string{`<opml version="2.0">`, `/feeds/source/iom-be-samples.atom`, `/feeds/topic/refugees.atom`, `/feeds/country/be.atom`, `/feeds/country/by.atom`, `xmlUrl=`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("OPML lacks %s", want)
		}
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// Ids derive from the documents, not from the database or the process: two
// crier instances over their own databases give every item the same id.
func TestIDsIdenticalAcrossRestarts(t *testing.T) {
	ids := func() []string {
		srv, _, _ := newTestServer(t)
		_, body := get(t, srv.URL+"/feeds/all.json")
		var f struct{ Items []struct{ ID string } }
		json.Unmarshal(body, &f)
		var out []string
		for _, it := range f.Items {
			out = append(out, it.ID)
		}
		return out
	}
	a, b := ids(), ids()
	if len(a) != 5 || strings.Join(a, ",") != strings.Join(b, ",") {
		t.Errorf("ids differ between instances:\n%v\n%v", a, b)
	}
}

func TestFeedCacheBoundedInBytes(t *testing.T) {
	c := newFeedCache(10 << 10)
	doc := func() *rendered { return &rendered{body: make([]byte, 700), gz: make([]byte, 100)} }
	for i := 0; i < 100; i++ {
		c.put(fmt.Sprintf("k%d", i), doc())
		if i == 50 {
			c.get("k40") // recently used: kept over older ones
		}
	}
	n, bytes := c.stats()
	if bytes > 10<<10 || n == 0 || n > 10<<10/700 {
		t.Errorf("cache holds %d entries, %d bytes; limit 10 KiB", n, bytes)
	}
	if c.get("k0") != nil || c.get("k99") == nil {
		t.Error("eviction is not least recently used first")
	}
	c.put("huge", &rendered{body: make([]byte, 20<<10)})
	if c.get("huge") != nil {
		t.Error("a document larger than the cache was kept")
	}
	if _, b := c.stats(); b > 10<<10 {
		t.Errorf("cache grew to %d bytes", b)
	}
}

// Many distinct queries of one feed do not grow the process past the
// cache's limit.
func TestManyQueriesStayWithinCacheSize(t *testing.T) {
	srv, _, _, pub := newTestPublisher(t)
	pub.cache = newFeedCache(64 << 10)
	for limit := 1; limit <= 40; limit++ {
		for _, ext := range []string{"atom", "rss", "json"} {
			if resp, _ := get(t, fmt.Sprintf("%s/feeds/all.%s?limit=%d", srv.URL, ext, limit)); resp.StatusCode != 200 {
				t.Fatal(resp.Status)
			}
		}
	}
	if n, b := pub.cache.stats(); b > 64<<10 || n == 0 {
		t.Errorf("cache holds %d feeds in %d bytes; limit 64 KiB", n, b)
	}
}

// A stored item re-renders the feeds it appears in, not the others: a
// feed's cache entry is checked against the version of its own items.
func TestOnlyFeedsThatChangedAreRendered(t *testing.T) {
	srv, st, _, pub := newTestPublisher(t)
	feedsUnderTest := []string{"/feeds/country/be.atom", "/feeds/all.atom", "/feeds/language/es.json"}
	tags := map[string]string{}
	for _, p := range feedsUnderTest {
		resp, _ := get(t, srv.URL+p)
		tags[p] = resp.Header.Get("ETag")
	}
	before := pub.renders.Load()
	it := store.Item{Title: "Elsewhere", ContentText: "A release from France.", Language: "fr", Country: "FR",
		Published: time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), Fingerprint: "fp-elsewhere"}
	if _, _, err := st.SaveDocument(context.Background(), store.Document{SourceID: "iom-be-samples", Key: "elsewhere.txt", Raw: []byte("x"), Item: it}); err != nil {
		t.Fatal(err)
	}
	for _, p := range feedsUnderTest {
		resp, _ := get(t, srv.URL+p)
		changed := resp.Header.Get("ETag") != tags[p]
		if want := p == "/feeds/all.atom"; changed != want {
			t.Errorf("%s: ETag changed %v, want %v", p, changed, want)
		}
	}
	if got := pub.renders.Load() - before; got != 1 {
		t.Errorf("%d feeds rendered after one new item outside two of them; want 1", got)
	}
}

// Another office's copy of a release stored already is merged into its
// item, which then lists one origin more: the feeds showing the item are
// rendered again (a new ETag) though the item's content did not change.
func TestMergedCopyRendersItsFeedsAgain(t *testing.T) {
	srv, st, _, _ := newTestPublisher(t)
	ctx := context.Background()
	it := store.Item{Title: "Shared release", ContentText: "A release two offices publish.", Language: "fr", Country: "FR",
		Published: time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), Fingerprint: "fp-shared"}
	if _, _, err := st.SaveDocument(ctx, store.Document{SourceID: "iom-be-samples", Key: "shared.txt", Raw: []byte("first copy"), Item: it}); err != nil {
		t.Fatal(err)
	}
	origins := func() (string, int) {
		resp, body := get(t, srv.URL+"/feeds/language/fr.json")
		var f struct {
			Items []struct {
				Title string `json:"title"`
				Crier struct {
					Origins []json.RawMessage `json:"origins"`
				} `json:"_crier"`
			} `json:"items"`
		}
		if err := json.Unmarshal(body, &f); err != nil {
			t.Fatal(err)
		}
		for _, i := range f.Items {
			if i.Title == "Shared release" {
				return resp.Header.Get("ETag"), len(i.Crier.Origins)
			}
		}
		t.Fatalf("the release is not in the feed:\n%s", body)
		return "", 0
	}
	etag, n := origins()
	if n != 1 {
		t.Fatalf("%d origins before the merge, want 1", n)
	}
	_, status, err := st.SaveDocument(ctx, store.Document{SourceID: "other-office", Key: "copy.html", Raw: []byte("second copy"), Item: it})
	if err != nil || status != store.Merged {
		t.Fatalf("the copy was stored as %v (%v), want merged", status, err)
	}
	again, n := origins()
	if n != 2 || again == etag {
		t.Errorf("after the merge: %d origins, ETag %s (was %s); want 2 origins and a new ETag", n, again, etag)
	}
}

// When the store stops answering, /readyz says so and the feeds already
// rendered are still served, with the same ETag.
func TestStoreDownServesFromCache(t *testing.T) {
	srv, st, _ := newTestServer(t)
	resp, body := get(t, srv.URL+"/feeds/all.atom")
	etag := resp.Header.Get("ETag")
	if r, _ := get(t, srv.URL+"/readyz"); r.StatusCode != 200 {
		t.Fatalf("readyz with the store up: %d", r.StatusCode)
	}
	st.Close()
	if r, _ := get(t, srv.URL+"/readyz"); r.StatusCode != 503 {
		t.Errorf("readyz with the store down: %d, want 503", r.StatusCode)
	}
	r, again := get(t, srv.URL+"/feeds/all.atom")
	if r.StatusCode != 200 || r.Header.Get("ETag") != etag || string(again) != string(body) {
		t.Errorf("a cached feed with the store down: %d, ETag %q (was %q)", r.StatusCode, r.Header.Get("ETag"), etag)
	}
}

// Dates are never made up: a release without one has no date_published
// and says first_seen; a partial date completed from the weekday it names
// says inferred. Every item lists the copies merged into it.
func TestDateProvenanceAndOrigins(t *testing.T) {
	srv, _, _ := newTestServer(t)
	_, body := get(t, srv.URL+"/feeds/all.json")
	var f struct {
		Items []struct {
			Title         string  `json:"title"`
			DatePublished *string `json:"date_published"`
			DateModified  *string `json:"date_modified"`
			Crier         struct {
				DateSource string `json:"date_source"`
				Origins    []struct {
					Source    string `json:"source"`
					FirstSeen string `json:"first_seen"`
				} `json:"origins"`
			} `json:"_crier"`
		} `json:"items"`
	}
	if err := json.Unmarshal(body, &f); err != nil {
		t.Fatal(err)
	}
	sources := map[string]int{}
	for _, it := range f.Items {
		sources[it.Crier.DateSource]++
		switch it.Crier.DateSource {
		case "first_seen":
			if it.DatePublished != nil || it.DateModified == nil {
				t.Errorf("%q: first_seen with date_published %v, date_modified %v", it.Title, it.DatePublished, it.DateModified)
			}
		case "stated", "inferred":
			if it.DatePublished == nil {
				t.Errorf("%q: %s without date_published", it.Title, it.Crier.DateSource)
			}
		default:
			t.Errorf("%q: date_source %q", it.Title, it.Crier.DateSource)
		}
		if it.Crier.DateSource == "inferred" && !strings.HasPrefix(*it.DatePublished, "2018-04-12") {
			t.Errorf("%q: \"Jeudi (12/04)\" inferred as %s, want 2018-04-12 (a Thursday)", it.Title, *it.DatePublished)
		}
		if len(it.Crier.Origins) == 0 || it.Crier.Origins[0].Source == "" || it.Crier.Origins[0].FirstSeen == "" {
			t.Errorf("%q: origins %+v", it.Title, it.Crier.Origins)
		}
	}
	if sources["inferred"] != 1 || sources["stated"] != 1 || sources["first_seen"] != 3 {
		t.Errorf("date sources of the samples: %v, want 1 stated, 1 inferred, 3 first_seen", sources)
	}
	_, atom := get(t, srv.URL+"/feeds/all.atom")
	if n := strings.Count(string(atom), "<published>"); n != 2 {
		t.Errorf("the Atom feed shows %d published dates, want 2 (the three undated releases have none)", n)
	}
}

// A retracted item leaves every feed at once; Atom feeds carry its
// tombstone (RFC 6721) and its page answers 410.
func TestRetractedItemLeavesFeeds(t *testing.T) {
	srv, st, _ := newTestServer(t)
	ctx := context.Background()
	items, _ := st.Items(ctx, store.Query{Limit: 1, SeqDesc: true, Countries: []string{"BE"}})
	if len(items) != 1 {
		t.Fatal("no Belgian item in the samples")
	}
	get(t, srv.URL+"/feeds/country/be.atom") // cached before the retraction
	uid, err := st.UIDOf(ctx, convert.ItemID(items[0].UID))
	if err != nil || uid != items[0].UID {
		t.Fatalf("UIDOf(public id) = %q, %v; want %q", uid, err, items[0].UID)
	}
	if _, err := st.Retract(ctx, uid); err != nil {
		t.Fatal(err)
	}
	id := convert.ItemID(uid)
	for _, path := range []string{"/feeds/all.atom", "/feeds/country/be.atom"} {
		_, body := get(t, srv.URL+path)
		if strings.Contains(string(body), "<id>"+id+"</id>") {
			t.Errorf("%s still lists the retracted item", path)
		}
		if !strings.Contains(string(body), `<at:deleted-entry ref="`+id+`"`) || !strings.Contains(string(body), `xmlns:at="http://purl.org/atompub/tombstones/1.0"`) {
			t.Errorf("%s has no tombstone for it", path)
		}
	}
	_, js := get(t, srv.URL+"/feeds/all.json")
	if strings.Contains(string(js), id) {
		t.Error("the JSON feed still lists the retracted item")
	}
	if resp, _ := get(t, srv.URL+"/items/"+uid); resp.StatusCode != http.StatusGone {
		t.Errorf("the retracted item's page: %d, want 410", resp.StatusCode)
	}
}

// Any query is a feed: ?q= on every route and format, combined with the
// filters, cached and paged like any feed; a bad query is a 400 with a
// reason.
func TestSearchFeeds(t *testing.T) {
	srv, _, _ := newTestServer(t)
	for _, ext := range []string{"atom", "rss", "json"} {
		resp, body := get(t, srv.URL+"/feeds/all."+ext+"?q=REFUGIES")
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", ext, resp.StatusCode, body)
		}
		f, err := gofeed.NewParser().ParseString(string(body))
		if err != nil || len(f.Items) == 0 || len(f.Items) >= 5 {
			t.Errorf("%s ?q=REFUGIES: %v items, %v", ext, len(f.Items), err)
			continue
		}
		for _, it := range f.Items {
			text := strings.ToLower(it.Title + it.Description + it.Content)
			if !strings.Contains(text, "réfugié") && !strings.Contains(text, "refugi") {
				t.Errorf("%s: %q does not mention refugees", ext, it.Title)
			}
		}
		if r, _ := get(t, srv.URL+"/feeds/all."+ext+"?q=REFUGIES", "If-None-Match", resp.Header.Get("ETag")); r.StatusCode != 304 {
			t.Errorf("%s: a search feed's ETag gives %d, want 304", ext, r.StatusCode)
		}
	}
	_, all := get(t, srv.URL+"/feeds/all.json?q=OIM")
	_, none := get(t, srv.URL+"/feeds/all.json?q=OIM+-OIM+migrations")
	if strings.Count(string(all), `"id"`) == 0 || strings.Count(string(none), `"id": "urn`) != 0 {
		t.Errorf("exclusion does not exclude")
	}
	_, lu := get(t, srv.URL+"/feeds/country/lu.json?q=OIM")
	if strings.Contains(string(lu), `"country": "BE"`) {
		t.Error("q does not combine with the route's filter")
	}
	for q, want := range map[string]string{"%22open": "quote", "-only": "only excludes", "+": "no words"} {
		resp, body := get(t, srv.URL+"/feeds/all.atom?q="+q)
		if resp.StatusCode != 400 || !strings.Contains(string(body), want) {
			t.Errorf("q=%s: %d %q, want 400 with %q", q, resp.StatusCode, body, want)
		}
	}
	_, page := get(t, srv.URL+"/")
	if !strings.Contains(string(page), `name="q"`) {
		t.Error("the index page has no search box")
	}
}

// A response slower than the write timeout leaves a line in the log: the
// server itself drops it without a word.
func TestSlowResponsesAreLogged(t *testing.T) {
	cfg, err := config.Load("../../config.toml")
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	s := New(cfg, nil, slog.New(slog.NewTextHandler(&logs, nil)))
	s.WriteTimeout = 10 * time.Millisecond
	h := s.logged(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { time.Sleep(20 * time.Millisecond) }))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/feeds/all.atom", nil))
	if !strings.Contains(logs.String(), "write timeout") {
		t.Errorf("a response slower than the write timeout was not logged: %q", logs.String())
	}
}
