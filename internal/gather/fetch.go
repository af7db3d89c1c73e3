package gather

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/crier-hub/crier/internal/netguard"
	"github.com/crier-hub/crier/internal/retryafter"
	"strconv"
	"strings"
	"time"
)

// Fetcher is crier's HTTP client for sources: conditional GET, a body cap
// applied after decompression, connect and total timeouts, at most five
// redirects, and a User-Agent that names crier and the deployment.
type Fetcher struct {
	Client    *http.Client
	UserAgent string
	MaxBody   int64
	Timeout   time.Duration // the whole request, body included

	allowPrivate bool
}

// MaxRedirects is how many redirects a fetch follows.
const MaxRedirects = 5

// NewFetcher returns a Fetcher with its own transport. Unless
// allowPrivate, it refuses at dial time (for the URL, every redirect and
// every page link) addresses that are not public.
func NewFetcher(userAgent string, timeout time.Duration, maxBody int64, allowPrivate bool) *Fetcher {
	dialer := netguard.Dialer(min(10*time.Second, timeout), allowPrivate, "fetch.allow_private_targets")
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
	}
	return &Fetcher{
		Client: &http.Client{
			Transport: tr,
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if len(via) > MaxRedirects {
					return fmt.Errorf("stopped after %d redirects", MaxRedirects)
				}
				if !allowPrivate && netguard.LiteralHost(req.URL.Hostname()) {
					return errPrivate
				}
				return nil
			},
		},
		UserAgent:    userAgent,
		MaxBody:      maxBody,
		Timeout:      timeout,
		allowPrivate: allowPrivate,
	}
}

// errPrivate refuses a URL whose host is written as a non-public address.
var errPrivate = fmt.Errorf("%w: loopback, private and other special addresses are refused unless fetch.allow_private_targets = true", netguard.ErrForbidden)

// Validators are what a conditional GET sends back.
type Validators struct {
	ETag         string
	LastModified string
}

// Response is a fetched document.
type Response struct {
	URL         string // after redirects
	Body        []byte
	ContentType string
	NotModified bool       // 304: nothing to read
	Validators  Validators // to send next time
	// Fresh is how long the server says the response stays fresh
	// (Cache-Control max-age, Expires); zero if it says nothing.
	Fresh time.Duration
	// Links are the HTTP Link headers (WebSub discovery).
	Links []string
}

// HTTPError is a response with an error status. RetryAfter is set when the
// server said when to come back (429, 503).
type HTTPError struct {
	Status     int
	RetryAfter time.Duration
}

func (e *HTTPError) Error() string {
	s := fmt.Sprintf("HTTP %d %s", e.Status, http.StatusText(e.Status))
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(" (retry after %v)", e.RetryAfter)
	}
	return s
}

// ErrTooLarge is returned for a body above the cap.
var ErrTooLarge = errors.New("body larger than fetch.max_body")

// Fetch GETs url, conditionally when v holds validators.
func (f *Fetcher) Fetch(ctx context.Context, url string, v Validators) (*Response, error) {
	ctx, cancel := context.WithTimeout(ctx, f.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	// Names such as 127.1 never reach the dialer's check (no resolver
	// takes them): they are refused here, with the same words.
	if !f.allowPrivate && netguard.LiteralHost(req.URL.Hostname()) {
		return nil, errPrivate
	}
	req.Header.Set("User-Agent", f.UserAgent)
	req.Header.Set("Accept", "application/feed+json, application/atom+xml, application/rss+xml, application/rdf+xml;q=0.9, application/xml;q=0.8, text/xml;q=0.8, text/html;q=0.7, */*;q=0.5")
	if v.ETag != "" {
		req.Header.Set("If-None-Match", v.ETag)
	}
	if v.LastModified != "" {
		req.Header.Set("If-Modified-Since", v.LastModified)
	}
	resp, err := f.Client.Do(req)
	if err != nil {
		return nil, describe(ctx, err, f.Timeout)
	}
	defer resp.Body.Close()
	out := &Response{URL: resp.Request.URL.String(), ContentType: resp.Header.Get("Content-Type"),
		Validators: Validators{ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified")},
		Fresh:      freshness(resp.Header, time.Now()), Links: resp.Header.Values("Link")}
	switch {
	case resp.StatusCode == http.StatusNotModified:
		out.NotModified = true
		if out.Validators == (Validators{}) {
			out.Validators = v
		}
		return out, nil
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		e := &HTTPError{Status: resp.StatusCode}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			e.RetryAfter = retryafter.Parse(resp.Header.Get("Retry-After"), time.Now())
		}
		return nil, e
	}
	// The transport has undone gzip already: the cap holds after it.
	body, err := readBody(resp, f.MaxBody)
	if err != nil {
		return nil, describe(ctx, err, f.Timeout)
	}
	if int64(len(body)) > f.MaxBody {
		return nil, fmt.Errorf("%w (%d bytes)", ErrTooLarge, f.MaxBody)
	}
	out.Body = body
	return out, nil
}

// readBody reads a response's body, up to max+1 bytes. A stated length
// sizes the buffer once (a length that lies only costs a regrowth; the cap
// still holds). A body of unknown length (chunked, or gzip undone by the
// transport) is read into a reused buffer and copied out once at its
// size, not grown by doubling in new memory for every fetch.
func readBody(resp *http.Response, max int64) ([]byte, error) {
	r := io.LimitReader(resp.Body, max+1)
	if n := resp.ContentLength; n > 0 && n <= max {
		buf := bytes.NewBuffer(make([]byte, 0, int(n)+bytes.MinRead))
		_, err := buf.ReadFrom(r)
		return buf.Bytes(), err
	}
	var buf *bytes.Buffer
	select {
	case buf = <-scratch:
	default:
		buf = new(bytes.Buffer)
	}
	defer func() {
		if buf.Cap() <= maxScratch {
			buf.Reset()
			select {
			case scratch <- buf:
			default: // enough kept already
			}
		}
	}()
	_, err := buf.ReadFrom(r)
	return bytes.Clone(buf.Bytes()), err
}

// scratch holds the buffers bodies of unknown length are read into, a
// few and each at most maxScratch: at most 16 MiB kept. Not a sync.Pool,
// which every garbage collection empties: a busy ingest collects every
// few milliseconds, and each fetch then grew a new buffer by doubling,
// twice its body's size in garbage.
var scratch = make(chan *bytes.Buffer, 4)

const maxScratch = 4 << 20

// describe turns transport errors into one clear sentence.
func describe(ctx context.Context, err error, timeout time.Duration) error {
	var ne net.Error
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("no complete answer within %v", timeout)
	}
	return err
}

// freshness reads Cache-Control max-age, then Expires.
func freshness(h http.Header, now time.Time) time.Duration {
	for _, d := range strings.Split(h.Get("Cache-Control"), ",") {
		d = strings.TrimSpace(strings.ToLower(d))
		if v, ok := strings.CutPrefix(d, "max-age="); ok {
			if s, err := strconv.Atoi(v); err == nil && s > 0 {
				return time.Duration(s) * time.Second
			}
		}
	}
	if t, err := http.ParseTime(h.Get("Expires")); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
