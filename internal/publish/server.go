// Package publish serves crier's items over HTTP: the feeds in three
// formats, the index page with autodiscovery links, an HTML page per item.
package publish

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/crier-hub/crier/feeds"
	"github.com/crier-hub/crier/internal/config"
	"github.com/crier-hub/crier/internal/convert"
	"github.com/crier-hub/crier/internal/httperr"
	"github.com/crier-hub/crier/internal/metrics"
)

// Server serves feeds from a store.
type Server struct {
	*convert.Converter
	cfg   *config.Config
	store Store
	log   *slog.Logger

	cache        *feedCache // rendered feeds, by path and query
	cacheControl []string   // the Cache-Control header of every feed
	renders      atomic.Int64
	// Metrics counts feed requests and cache hits; nil counts nothing.
	Metrics *metrics.Metrics
	// WriteTimeout is the HTTP server's: a slower response is logged.
	WriteTimeout time.Duration
}

// New returns a Server for cfg over st.
func New(cfg *config.Config, st Store, log *slog.Logger) *Server {
	return &Server{Converter: convert.New(cfg), cfg: cfg, store: st, log: log.With("component", "http"),
		cache: newFeedCache(cmp.Or(cfg.Feeds.CacheSize, 64<<20)), cacheControl: []string{fmt.Sprintf("public, max-age=%d", int(cfg.Feeds.MaxAge.Seconds()))}}
}

// Handler returns the HTTP routes; extra adds more (the admin API).
func (s *Server) Handler(extra ...func(*http.ServeMux)) http.Handler {
	mux := http.NewServeMux()
	for _, add := range extra {
		add(mux)
	}
	mux.HandleFunc("GET /{$}", s.index)
	mux.HandleFunc("GET /feeds/{file}", s.feed)
	mux.HandleFunc("GET /feeds.opml", s.opml)
	mux.HandleFunc("GET /feeds/{kind}/{file}", s.feed)
	mux.HandleFunc("GET /items/{uid}", s.item)
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		// Ready when the store answers; feeds are served from the cache
		// meanwhile, so a load balancer may keep a replica that is not.
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.store.Ping(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready: the store does not answer")
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	return s.logged(mux)
}

// logged logs each request once, where it ends.
func (s *Server) logged(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.log.Enabled(r.Context(), slog.LevelDebug) {
			start := time.Now()
			h.ServeHTTP(w, r) // the hot path pays nothing for a log it will not write
			if took := time.Since(start); s.WriteTimeout > 0 && took > s.WriteTimeout*9/10 {
				// The server gives up writing at its timeout without a word:
				// this line is the only trace of an answer the client lost.
				s.log.Warn("a response took as long as the write timeout allows: the client may have received nothing",
					"method", r.Method, "path", r.URL.Path, "took", took.Round(time.Millisecond), "write_timeout", s.WriteTimeout)
			}
			return
		}
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", sw.status, "took", time.Since(start))
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// fail answers a request with err, its status and reason from the one
// table in httperr; an internal error is logged and its reason withheld.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, msg, known, gone := httperr.Of(err)
	if gone {
		return
	}
	if !known {
		s.log.Error("request failed", "path", r.URL.Path, "error", err)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if strings.HasPrefix(r.URL.Path, "/feeds") {
		s.Metrics.Request(status)
	}
	w.WriteHeader(status)
	fmt.Fprintln(w, msg)
}

// serveBytes answers with body, honouring conditional requests: the ETag
// is a hash of the bytes, so it is the same on every replica and restart.
func serveBytes(w http.ResponseWriter, r *http.Request, contentType string, modified time.Time, maxAge time.Duration, body []byte) {
	sum := sha256.Sum256(body)
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("ETag", `"`+hex.EncodeToString(sum[:16])+`"`)
	h.Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(maxAge.Seconds())))
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", modified.Truncate(time.Second), bytes.NewReader(body))
}

// splitFile splits "all.rss" into "all" and "rss".
func splitFile(file string) (name, ext string, err error) {
	i := strings.LastIndexByte(file, '.')
	if i <= 0 {
		return "", "", httperr.NotFound("no such feed %q: feeds end in .rss, .atom or .json", file)
	}
	name, ext = file[:i], file[i+1:]
	if feeds.MediaType(ext) == "" {
		return "", "", httperr.NotFound("unknown feed format %q: use rss, atom or json", ext)
	}
	return name, ext, nil
}
