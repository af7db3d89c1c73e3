// Package front is crier's HTTP server. A poll for a feed that is cached
// and unchanged, the bulk of what aggregators send, is answered straight
// from memory by fasthttp; every other request goes to the net/http
// handler, which sees an ordinary *http.Request and ResponseWriter.
//
// net/http spends about twice nginx's time on a 304: reading the request
// into maps, a context per request, deadlines per read. fasthttp reuses
// one request and response per connection, so a conditional poll costs a
// header parse, a cache lookup and one write.
package front

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/valyala/fasthttp"

	"github.com/crier-hub/crier/internal/publish"
)

// Feeds answers polls from memory; *publish.Server is one.
type Feeds interface {
	Cached(key, acceptEncoding, ifNoneMatch, ifModifiedSince string) (publish.Answer, bool)
}

// Options are the server's limits, as net/http's Server has them.
type Options struct {
	ReadTimeout  time.Duration // the whole request, headers and body
	WriteTimeout time.Duration
	IdleTimeout  time.Duration // between requests on a kept-alive connection
	MaxHeader    int           // bytes of request line and headers; larger is refused with 431
}

// Server serves HTTP/1.1 (and 1.0) on a listener.
type Server struct {
	srv    *fasthttp.Server
	log    *slog.Logger
	routes atomic.Pointer[routes]

	mu     sync.Mutex
	closed bool           // Shutdown was called
	lns    []net.Listener // those Serve was given
}

type routes struct {
	h     http.Handler
	feeds Feeds // nil: every request goes to h
}

// New returns a server that answers nothing until Set gives it routes.
func New(opt Options, log *slog.Logger) *Server {
	s := &Server{log: log.With("component", "http")}
	s.srv = &fasthttp.Server{
		Handler:            s.serve,
		ReadTimeout:        opt.ReadTimeout,
		WriteTimeout:       opt.WriteTimeout,
		IdleTimeout:        opt.IdleTimeout,
		ReadBufferSize:     opt.MaxHeader,
		MaxRequestBodySize: 64 << 10, // held in memory; a larger body is streamed to the handler
		StreamRequestBody:  true,
		// A multipart body goes to the handler as it came, not parsed.
		DisablePreParseMultipartForm: true,
		NoDefaultServerHeader:        true,
		NoDefaultContentType:         true,
		CloseOnShutdown:              true,
		Logger:                       logger{s.log},
	}
	return s
}

// Set puts h, and feeds for the polls it can answer from memory, in place
// of the routes before; a request in flight ends on the routes it started
// with.
func (s *Server) Set(h http.Handler, feeds Feeds) {
	s.routes.Store(&routes{h: h, feeds: feeds})
}

// Serve accepts connections on ln until Shutdown; it then returns nil.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.lns = append(s.lns, ln)
	s.mu.Unlock()
	err := s.srv.Serve(ln)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed && errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting, lets the requests in flight end and closes
// idle connections, or gives up when ctx ends. A Serve called before it
// and not yet accepting (fasthttp's Shutdown would miss its listener and
// leave it serving), or after it, returns too.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	lns := s.lns
	s.mu.Unlock()
	err := s.srv.ShutdownWithContext(ctx)
	for _, ln := range lns {
		ln.Close()
	}
	return err
}

func (s *Server) serve(ctx *fasthttp.RequestCtx) {
	rt := s.routes.Load()
	if rt == nil {
		ctx.SetConnectionClose()
		ctx.SetStatusCode(http.StatusServiceUnavailable)
		return
	}
	if rt.feeds != nil && (ctx.IsGet() || ctx.IsHead()) && s.fromMemory(ctx, rt.feeds) {
		return
	}
	s.handle(ctx, rt.h)
}

// fromMemory answers a poll of a cached feed, when the request's path is
// one that net/http would route as it is written: the cache is keyed by
// the path net/http decoded and cleaned, so any path that decoding or
// cleaning would change goes the slow way.
func (s *Server) fromMemory(ctx *fasthttp.RequestCtx, feeds Feeds) bool {
	uri := ctx.Request.Header.RequestURI()
	path, query := uri, []byte(nil)
	if i := bytes.IndexByte(uri, '?'); i >= 0 {
		path, query = uri[:i], uri[i+1:]
	}
	if !plainFeedPath(path) {
		return false
	}
	key := uri
	if len(query) == 0 {
		key = path
	}
	h := &ctx.Request.Header
	a, ok := feeds.Cached(str(key), str(h.Peek("Accept-Encoding")), str(h.Peek("If-None-Match")), str(h.Peek("If-Modified-Since")))
	if !ok {
		return false
	}
	for _, f := range a.Header {
		ctx.Response.Header.Set(f.Name, f.Value[0])
	}
	if a.NotModified {
		ctx.SetStatusCode(http.StatusNotModified)
		return true
	}
	ctx.Response.SetBodyRaw(a.Body) // kept by the cache, never changed: not copied
	return true
}

// plainFeedPath reports whether path is under /feeds/ and made only of
// letters, digits, '-', '_', '.' and single slashes, no segment starting
// with a dot: a path that percent-decoding and cleaning leave as it is.
func plainFeedPath(path []byte) bool {
	const prefix = "/feeds/"
	if len(path) <= len(prefix) || string(path[:len(prefix)]) != prefix {
		return false
	}
	prev := byte('/')
	for _, c := range path[len(prefix):] {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		case c == '.':
			if prev == '/' {
				return false
			}
		case c == '/':
			if prev == '/' {
				return false
			}
		default:
			return false
		}
		prev = c
	}
	return prev != '/'
}

// str is b as a string without a copy, for a call that does not keep it
// past the request.
func str(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// handle runs the net/http handler on a request copied out of fasthttp's
// buffers, which are reused once the request ends: a handler may keep
// what it reads, as net/http allows.
func (s *Server) handle(ctx *fasthttp.RequestCtx, h http.Handler) {
	r, err := request(ctx)
	if err != nil {
		ctx.Error("bad request: "+err.Error(), http.StatusBadRequest) // resets the response
		ctx.SetConnectionClose()
		return
	}
	w := &response{ctx: ctx, header: http.Header{}, head: r.Method == http.MethodHead}
	defer func() {
		// Nothing is sent before the handler returns, so a handler that
		// panics never passes off part of an answer as the whole.
		p := recover()
		if p == nil {
			return
		}
		if p == http.ErrAbortHandler { // as net/http: drop the connection, answer nothing
			ctx.HijackSetNoResponse(true)
			ctx.Hijack(func(net.Conn) {})
			return
		}
		s.log.Error("panic serving a request", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		ctx.Error("internal error", http.StatusInternalServerError) // resets the response
		ctx.SetConnectionClose()
	}()
	h.ServeHTTP(w, r)
	w.finish()
}

func request(ctx *fasthttp.RequestCtx) (*http.Request, error) {
	raw := string(ctx.Request.Header.RequestURI())
	u, err := url.ParseRequestURI(raw)
	if err != nil {
		return nil, err
	}
	proto := string(ctx.Request.Header.Protocol())
	major, minor, ok := http.ParseHTTPVersion(proto)
	if !ok {
		proto, major, minor = "HTTP/1.1", 1, 1
	}
	r := &http.Request{
		Method:     string(ctx.Method()),
		URL:        u,
		Proto:      proto,
		ProtoMajor: major,
		ProtoMinor: minor,
		Header:     http.Header{},
		Host:       string(ctx.Host()),
		RemoteAddr: ctx.RemoteAddr().String(),
		RequestURI: raw,
		Close:      ctx.Request.ConnectionClose(),
	}
	for k, v := range ctx.Request.Header.All() {
		name := http.CanonicalHeaderKey(string(k))
		switch name {
		case "Host":
		case "Transfer-Encoding":
			r.TransferEncoding = append(r.TransferEncoding, strings.ToLower(string(v)))
		default:
			r.Header.Add(name, string(v))
		}
	}
	if stream := ctx.RequestBodyStream(); stream != nil {
		r.Body = io.NopCloser(stream)
		r.ContentLength = int64(ctx.Request.Header.ContentLength())
		if r.ContentLength < 0 {
			r.ContentLength = -1
		}
	} else {
		body := bytes.Clone(ctx.Request.Body())
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	}
	if r.ContentLength == 0 {
		r.Body = http.NoBody
	}
	return r.WithContext(context.Background()), nil
}

// response is a ResponseWriter over fasthttp's response: headers go out
// at the first write, the body is buffered and sent when the handler
// returns, with its length.
type response struct {
	ctx    *fasthttp.RequestCtx
	header http.Header
	status int
	wrote  bool
	head   bool
}

func (w *response) Header() http.Header { return w.header }

func (w *response) WriteHeader(code int) {
	if w.wrote {
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		return // informational answers are not passed on
	}
	w.wrote, w.status = true, code
	w.ctx.SetStatusCode(code)
	out := &w.ctx.Response.Header
	for k, vs := range w.header {
		switch k {
		case "Content-Length":
			// fasthttp writes the body's length; a HEAD keeps the one the
			// handler gave.
			if w.head && len(vs) > 0 {
				if n, err := strconv.Atoi(vs[0]); err == nil {
					out.SetContentLength(n)
				}
			}
			continue
		case "Content-Type":
			if len(vs) > 0 {
				out.SetContentType(vs[0])
			}
			continue
		}
		for _, v := range vs {
			out.Add(k, v)
		}
	}
}

func (w *response) Write(p []byte) (int, error) {
	if !w.wrote {
		if _, ok := w.header["Content-Type"]; !ok && w.header.Get("Content-Encoding") == "" {
			w.header.Set("Content-Type", http.DetectContentType(p))
		}
		w.WriteHeader(http.StatusOK)
	}
	if w.head || !bodyAllowed(w.status) {
		if w.head {
			return len(p), nil
		}
		return 0, http.ErrBodyNotAllowed
	}
	return w.ctx.Write(p)
}

func (w *response) finish() {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.head {
		w.ctx.Response.SkipBody = true
	}
}

func bodyAllowed(status int) bool {
	return !(status >= 100 && status < 200) && status != http.StatusNoContent && status != http.StatusNotModified
}

// logger hands fasthttp's own messages (a connection it could not read,
// a write that timed out) to the log.
type logger struct{ log *slog.Logger }

func (l logger) Printf(format string, args ...any) {
	l.log.Debug(fmt.Sprintf(format, args...))
}
