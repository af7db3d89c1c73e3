package deliver

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/idna"

	"github.com/crier-hub/crier/internal/netguard"
)

// poster sends the POSTs of deliveries, over HTTP/1.1 with fasthttp's
// client: a request costs it about half the CPU of net/http's, and a push
// to many partners is bound by that cost (bench/push). Every connection is
// dialled through netguard; redirects are answers, not followed; a POST
// is never sent twice by the client itself (the outbox retries it, under
// its webhook-id).
type poster struct {
	c       *fasthttp.Client
	timeout time.Duration
}

// answer is what a partner answered: its status, its Retry-After, and at
// most responseCap of its body.
type answer struct {
	status     int
	retryAfter string
	body       []byte
	// cut: the body could not be read whole within the timeout.
	cut bool
}

func newPoster(timeout time.Duration, conns int, allowPrivate bool) *poster {
	dialer := netguard.Dialer(10*time.Second, allowPrivate, "webhooks.allow_private_targets")
	return &poster{timeout: timeout, c: &fasthttp.Client{
		DialTimeout: func(addr string, timeout time.Duration) (net.Conn, error) {
			d := *dialer
			d.Timeout = min(d.Timeout, timeout)
			return d.Dial("tcp", addr)
		},
		MaxConnsPerHost:    max(conns, 1), // many partners may share one host
		MaxConnWaitTimeout: timeout,
		// A connection is kept between the requests of a run, which follow
		// each other at once, and let go after a second idle: servers close
		// idle ones after 2 s (gunicorn) or 5 s (Node, Apache), and nothing
		// reads a pooled connection to notice.
		MaxIdleConnDuration: time.Second,
		// A POST is sent again at once, once, only when its connection
		// turns out closed or reset by the partner before an answer could
		// be read: most often one the partner let go while it was idle.
		// Any other failure is a failed attempt, which the outbox retries
		// under the same webhook-id.
		MaxIdemponentCallAttempts: 2,
		RetryIfErr: func(_ *fasthttp.Request, attempts int, err error) (resetTimeout, retry bool) {
			return false, attempts < 2 && closedUnanswered(err)
		},
		StreamResponseBody:       true, // read at most responseCap of it
		ReadBufferSize:           16 << 10,
		NoDefaultUserAgentHeader: true,
		DisablePathNormalizing:   true, // the URL as configured
	}}
}

// post sends body to url with header, within the poster's timeout. Its
// error is one sentence saying why no answer came.
func (p *poster) post(url string, header http.Header, body []byte) (answer, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(asciiURL(url))
	req.Header.SetMethod(http.MethodPost)
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.SetBodyRaw(body)
	if err := p.c.DoTimeout(req, resp, p.timeout); err != nil {
		return answer{}, p.failure(err)
	}
	a := answer{status: resp.StatusCode(), retryAfter: string(resp.Header.Peek("Retry-After"))}
	if s := resp.BodyStream(); s != nil {
		b, err := io.ReadAll(io.LimitReader(s, responseCap))
		a.body, a.cut = b, err != nil && timeout(err)
		resp.CloseBodyStream() // a body not read to its end closes the connection
	} else {
		a.body = append([]byte(nil), resp.Body()[:min(len(resp.Body()), responseCap)]...)
	}
	return a, nil
}

// asciiURL writes a URL as it goes on the wire, as net/http would: a host
// in another script in its ASCII form (IDNA), a path in another script
// percent-encoded; the query and credentials as written. An ASCII URL is
// given back as it is.
func asciiURL(raw string) string {
	for i := 0; i < len(raw); i++ {
		if raw[i] >= utf8.RuneSelf {
			u, err := neturl.Parse(raw)
			if err != nil {
				return raw // the request fails on it, saying why
			}
			if host, err := idna.Lookup.ToASCII(u.Hostname()); err == nil {
				if port := u.Port(); port != "" {
					host = net.JoinHostPort(host, port)
				}
				u.Host = host
			}
			return u.String()
		}
	}
	return raw
}

// failure says in one sentence why a request got no answer.
func (p *poster) failure(err error) error {
	switch {
	case timeout(err):
		return fmt.Errorf("no answer within %v", p.timeout)
	case errors.Is(err, netguard.ErrForbidden):
		return err
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return fmt.Errorf("no free connection to the partner's host within %v (webhooks.concurrency connections are in use)", p.timeout)
	case errors.Is(err, fasthttp.ErrConnectionClosed), errors.Is(err, io.EOF):
		return errors.New("the partner closed the connection without answering")
	}
	switch msg := err.Error(); {
	case strings.Contains(msg, "small read buffer"):
		return errors.New("the partner's answer has more than 16 KiB of headers")
	case strings.HasPrefix(msg, "error when reading response headers"):
		return errors.New("the partner's answer is not HTTP/1.x")
	default:
		return errors.New(strings.TrimPrefix(msg, "fasthttp: "))
	}
}

// closedUnanswered reports whether err says the partner closed the
// connection before answering: at the first read, or already at the write.
func closedUnanswered(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, fasthttp.ErrConnectionClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// timeout reports whether err is a timeout, whoever noticed it.
func timeout(err error) bool {
	var ne net.Error
	return errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrDialTimeout) ||
		errors.Is(err, fasthttp.ErrTLSHandshakeTimeout) || (errors.As(err, &ne) && ne.Timeout())
}
