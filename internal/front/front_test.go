package front

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/crier-hub/crier/internal/config"
	"github.com/crier-hub/crier/internal/ingest"
	"github.com/crier-hub/crier/internal/publish"
	"github.com/crier-hub/crier/internal/store"
	"github.com/crier-hub/crier/internal/testenv"
)

// counting counts the polls answered from memory.
type counting struct {
	Feeds
	hits atomic.Int64
}

func (c *counting) Cached(key, ae, inm, ims string) (publish.Answer, bool) {
	a, ok := c.Feeds.Cached(key, ae, inm, ims)
	if ok {
		c.hits.Add(1)
	}
	return a, ok
}

// servers starts the bundled config's feeds twice, over one store: behind
// net/http (the reference) and behind the front. It returns both addresses
// and the front's hit counter.
func servers(t *testing.T) (ref, fr string, c *counting) {
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
	cfg.Server.BaseURL = "http://crier.test"
	refPub := publish.New(cfg, st, log)
	refSrv := httptest.NewServer(refPub.Handler(echo))
	t.Cleanup(refSrv.Close)

	pub := publish.New(cfg, st, log)
	c = &counting{Feeds: pub}
	s, addr := start(t)
	s.Set(pub.Handler(echo), c)
	return refSrv.Listener.Addr().String(), addr, c
}

// start serves a front with no routes yet on a loopback port, until the
// test ends, and checks that it shuts down cleanly.
func start(t *testing.T) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, IdleTimeout: 5 * time.Second, MaxHeader: 16 << 10}, testenv.Log())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return s, ln.Addr().String()
}

// echo adds POST /echo: it reads up to 1 MiB of the body and answers
// with its length and its last bytes, or the error that stopped it.
func echo(mux *http.ServeMux) {
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		fmt.Fprintf(w, "%d %d %q", r.ContentLength, len(body), body[max(0, len(body)-8):])
	})
}

// raw sends request, written as it is (no client cleans its path), and
// reads the answer.
func raw(t *testing.T, addr, request string) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	// Written beside the read: a server may answer and close before a
	// large body is all sent.
	go io.WriteString(conn, request)
	method, _, _ := strings.Cut(request, " ")
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%q: %v", request, err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%q: body: %v", request, err)
	}
	return resp, body
}

// The front answers every request as net/http does, byte for byte in its
// body and header for header but Date, whether the answer comes from
// memory or from the handler; and polls of cached feeds come from memory.
func TestAnswersAsNetHTTP(t *testing.T) {
	ref, fr, c := servers(t)
	req := func(method, target string, header ...string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: crier.test\r\nConnection: close\r\n", method, target)
		for _, h := range header {
			b.WriteString(h + "\r\n")
		}
		b.WriteString("\r\n")
		return b.String()
	}
	future := "If-Modified-Since: " + time.Now().Add(24*time.Hour).UTC().Format(http.TimeFormat)
	past := "If-Modified-Since: Mon, 02 Jan 2006 15:04:05 GMT"
	requests := []string{
		req("GET", "/feeds/all.atom"),
		req("GET", "/feeds/all.atom", "Accept-Encoding: gzip"),
		req("GET", "/feeds/all.atom", "Accept-Encoding: gzip;q=0"),
		req("GET", "/feeds/all.atom", `If-None-Match: "*"`),
		req("GET", "/feeds/all.atom", `If-None-Match: *`),
		req("GET", "/feeds/all.atom", `If-None-Match: "nope"`, future),
		req("GET", "/feeds/all.atom", future),
		req("GET", "/feeds/all.atom", past, "Accept-Encoding: gzip"),
		req("HEAD", "/feeds/all.atom"),
		req("HEAD", "/feeds/all.atom", "Accept-Encoding: gzip"),
		req("GET", "/feeds/all.rss"),
		req("GET", "/feeds/all.json"),
		req("GET", "/feeds/all.atom?limit=2"),
		req("GET", "/feeds/all.atom?"),
		req("GET", "/feeds/all.atom?limit=abc"),
		req("GET", "/feeds/language/fr.atom"),
		req("GET", "/feeds/country/ch.json"),
		req("GET", "/feeds/nope.atom"),
		req("GET", "/feeds/all.atom%3Flimit=2"),
		req("GET", "/feeds/%61ll.atom"),
		req("GET", "/feeds//all.atom"),
		req("GET", "/feeds/./all.atom"),
		req("GET", "/feeds/../feeds/all.atom"),
		req("GET", "/feeds/.hidden.atom"),
		req("GET", "/feeds/all.atom/"),
		req("POST", "/feeds/all.atom"),
		req("DELETE", "/feeds/all.atom"),
		req("GET", "/"),
		req("HEAD", "/"),
		req("GET", "/feeds.opml"),
		req("GET", "/healthz"),
		req("GET", "/items/nope"),
		req("GET", "/nowhere"),
	}
	for round := range 2 { // the first renders; the second is served from memory
		for _, r := range requests {
			want, wantBody := raw(t, ref, r)
			got, gotBody := raw(t, fr, r)
			name := fmt.Sprintf("round %d: %q", round, strings.SplitN(r, "\r\n", 2)[0]+" "+strings.Join(strings.Split(r, "\r\n")[3:], " "))
			if got.StatusCode != want.StatusCode {
				t.Errorf("%s: status %d, net/http %d", name, got.StatusCode, want.StatusCode)
				continue
			}
			if !bytes.Equal(gotBody, wantBody) {
				t.Errorf("%s: %d bytes of body, net/http %d", name, len(gotBody), len(wantBody))
			}
			for _, h := range []http.Header{got.Header, want.Header} {
				h.Del("Date")
			}
			for k := range merged(got.Header, want.Header) {
				if g, w := got.Header.Values(k), want.Header.Values(k); !slices.Equal(g, w) {
					t.Errorf("%s: %s: %q, net/http %q", name, k, g, w)
				}
			}
			if got.ContentLength != want.ContentLength {
				t.Errorf("%s: length %d, net/http %d", name, got.ContentLength, want.ContentLength)
			}
		}
	}
	// Of the second round's polls, the 13 plain ones of cached feeds come
	// from memory.
	if n := c.hits.Load(); n < 13 {
		t.Errorf("%d polls answered from memory, want 13 or more", n)
	}
}

func merged(a, b http.Header) map[string]bool {
	m := map[string]bool{}
	for k := range a {
		m[k] = true
	}
	for k := range b {
		m[k] = true
	}
	return m
}

// A request body larger than the front holds in memory reaches the
// handler whole, streamed, and the handler's own limit answers it.
func TestLargeBodiesAreStreamed(t *testing.T) {
	ref, fr, _ := servers(t)
	for _, size := range []int{10, 100 << 10, 1<<20 - 7, 3 << 20} {
		body := strings.Repeat("a", size) + "the end"
		r := fmt.Sprintf("POST /echo HTTP/1.1\r\nHost: crier.test\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		want, wantBody := raw(t, ref, r)
		got, gotBody := raw(t, fr, r)
		t.Logf("%d bytes: net/http answers %d %q", size, want.StatusCode, wantBody)
		if got.StatusCode != want.StatusCode || !bytes.Equal(gotBody, wantBody) {
			t.Errorf("%d bytes: %d %q, net/http %d %q", size, got.StatusCode, gotBody, want.StatusCode, wantBody)
		}
	}
	// A chunked body has no length: -1, as net/http says.
	r := "POST /echo HTTP/1.1\r\nHost: crier.test\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n"
	want, wantBody := raw(t, ref, r)
	got, gotBody := raw(t, fr, r)
	if got.StatusCode != want.StatusCode || !bytes.Equal(gotBody, wantBody) {
		t.Errorf("chunked: %d %q, net/http %d %q", got.StatusCode, gotBody, want.StatusCode, wantBody)
	}
}

// A poll answered from memory allocates nothing: whole, gzipped or 304.
func TestMemoryPathAllocatesNothing(t *testing.T) {
	_, fr, c := servers(t)
	resp, _ := raw(t, fr, "GET /feeds/all.atom HTTP/1.1\r\nHost: crier.test\r\nConnection: close\r\n\r\n")
	etag := resp.Header.Get("Etag")
	s := New(Options{}, testenv.Log())
	s.Set(http.NotFoundHandler(), c)
	for _, header := range [][]string{
		{"Accept-Encoding", "identity"},
		{"Accept-Encoding", "gzip, br"},
		{"If-None-Match", etag},
	} {
		var ctx fasthttp.RequestCtx
		ctx.Init(&fasthttp.Request{}, nil, nil)
		ctx.Request.SetRequestURI("/feeds/all.atom")
		ctx.Request.Header.Set(header[0], header[1])
		before := c.hits.Load()
		n := testing.AllocsPerRun(200, func() {
			ctx.Response.Reset()
			s.serve(&ctx)
		})
		if c.hits.Load() == before {
			t.Fatalf("%s: not answered from memory", header)
		}
		if n > 0 {
			t.Errorf("%s: %.1f allocations a poll, want none", header, n)
		}
	}
}

// Routes set while serving take the next request; before any are set,
// requests are refused with 503, not left waiting.
func TestSetSwapsRoutes(t *testing.T) {
	s, addr := start(t)
	get := func() (int, string) {
		resp, body := raw(t, addr, "GET /which HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		return resp.StatusCode, string(body)
	}
	if code, _ := get(); code != http.StatusServiceUnavailable {
		t.Errorf("before routes: %d, want 503", code)
	}
	for _, name := range []string{"first", "second"} {
		s.Set(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) }), nil)
		if code, body := get(); code != 200 || body != name {
			t.Errorf("after setting %s: %d %q", name, code, body)
		}
	}
}

// A handler that panics costs its request a 500 and its connection, not
// the server.
func TestHandlerPanicIsContained(t *testing.T) {
	s, addr := start(t)
	s.Set(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/boom":
			io.WriteString(w, "half an answer")
			panic("boom")
		case "/abort":
			io.WriteString(w, "half an answer")
			panic(http.ErrAbortHandler)
		}
		io.WriteString(w, "fine")
	}), nil)
	resp, body := raw(t, addr, "GET /boom HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != http.StatusInternalServerError || !resp.Close || strings.Contains(string(body), "half") {
		t.Errorf("a panic: %d %q, connection closed %v; want 500, no part of the answer, and closed", resp.StatusCode, body, resp.Close)
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(conn, "GET /abort HTTP/1.1\r\nHost: x\r\n\r\n")
	if got, err := io.ReadAll(conn); len(got) != 0 || err != nil {
		t.Errorf("an aborted answer: read %q, %v; want the connection closed with nothing sent", got, err)
	}
	if resp, body := raw(t, addr, "GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); resp.StatusCode != 200 || string(body) != "fine" {
		t.Errorf("after a panic: %d %q", resp.StatusCode, body)
	}
}

// A Shutdown that comes before Serve has begun to accept (a signal during
// start-up) still stops it: Serve returns, whichever of the two runs
// first, and the port is closed.
func TestShutdownBeforeServeStops(t *testing.T) {
	for i := range 200 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s := New(Options{ReadTimeout: time.Second, WriteTimeout: time.Second, IdleTimeout: time.Second, MaxHeader: 16 << 10}, testenv.Log())
		done := make(chan error, 1)
		started := make(chan struct{})
		go func() { close(started); done <- s.Serve(ln) }()
		if i%2 == 0 {
			<-started
		}
		if err := s.Shutdown(context.Background()); err != nil {
			t.Fatalf("shutdown: %v", err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("serve after shutdown: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: Serve still serving 5s after Shutdown", i)
		}
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			c.Close()
			t.Fatalf("round %d: the port still accepts after Shutdown", i)
		}
	}
}
