package publish

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// discard is a ResponseWriter that keeps one header map and writes
// nowhere: what a request allocates beyond it is the handler's.
type discard struct {
	h      http.Header
	status int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(code int)        { d.status = code }

// A cached feed is served, whole, gzipped or 304, without an allocation
// of crier's own: no more than the router's, measured beside it with a
// handler that does nothing on the same route.
func TestHotPathAllocations(t *testing.T) {
	_, _, _, pub := newTestPublisher(t)
	h := pub.Handler()
	bare := http.NewServeMux()
	bare.HandleFunc("GET /feeds/{file}", func(http.ResponseWriter, *http.Request) {})
	bw, breq := &discard{h: http.Header{}}, httptest.NewRequest("GET", "/feeds/all.atom", nil)
	router := testing.AllocsPerRun(200, func() { bare.ServeHTTP(bw, breq) })
	for _, c := range []struct {
		name, accept, inm string
		status            int
	}{
		{"200", "identity", "", 200},
		{"200 gzip", "gzip, br", "", 200},
		{"304", "identity", "match", 304},
	} {
		req := httptest.NewRequest("GET", "/feeds/all.atom", nil)
		req.Header.Set("Accept-Encoding", c.accept)
		w := &discard{h: http.Header{}}
		h.ServeHTTP(w, req)
		if c.inm != "" {
			req.Header.Set("If-None-Match", w.h.Get("Etag"))
		}
		n := testing.AllocsPerRun(200, func() {
			clear(w.h)
			h.ServeHTTP(w, req)
		})
		if w.status != c.status && !(c.status == 200 && w.status == 0) {
			t.Fatalf("%s: status %d", c.name, w.status)
		}
		if n > router {
			t.Errorf("%s: %.1f allocations a request; the router alone makes %.1f", c.name, n, router)
		}
	}
}

// A path with an escaped '?' is not the feed whose query it spells.
func TestCacheKeyKeepsPathAndQueryApart(t *testing.T) {
	srv, _, _ := newTestServer(t)
	get := func(path string) int {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := get("/feeds/all.atom?limit=1"); got != http.StatusOK {
		t.Fatalf("/feeds/all.atom?limit=1: %d", got)
	}
	if got := get("/feeds/all.atom%3Flimit=1"); got != http.StatusNotFound {
		t.Errorf("/feeds/all.atom%%3Flimit=1 answered %d, want 404: served from the cache of another feed", got)
	}
}
