package publish

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/crier-hub/crier/feeds"
	"github.com/crier-hub/crier/internal/netguard"
	"github.com/crier-hub/crier/internal/store"
)

// Lease bounds of WebSub subscriptions.
const (
	DefaultLease = 10 * 24 * time.Hour
	MinLease     = time.Hour
	MaxLease     = 30 * 24 * time.Hour
)

// newHubClient is the one client that verifies subscribers' intent: its
// idle connections are few and close soon, so that many subscription
// requests cannot pile up open files.
func newHubClient(timeout time.Duration, allowPrivate bool) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:           netguard.Dialer(10*time.Second, allowPrivate, "webhooks.allow_private_targets").DialContext,
			ResponseHeaderTimeout: timeout,
			TLSHandshakeTimeout:   10 * time.Second,
			MaxIdleConns:          16,
			MaxIdleConnsPerHost:   1,
			IdleConnTimeout:       30 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Verification limits: at once for one callback host, and in all.
const (
	hubPerHost = 2
	hubTotal   = 256
)

// takeHubSlot reserves a verification for host; false when that host (or
// the hub as a whole) has as many under way as it may.
func (s *Server) takeHubSlot(host string) bool {
	s.hubMu.Lock()
	defer s.hubMu.Unlock()
	if s.hubBusy[host] >= hubPerHost || s.hubAll >= hubTotal {
		return false
	}
	s.hubBusy[host]++
	s.hubAll++
	return true
}

func (s *Server) releaseHubSlot(host string) {
	s.hubMu.Lock()
	defer s.hubMu.Unlock()
	if s.hubBusy[host]--; s.hubBusy[host] <= 0 {
		delete(s.hubBusy, host)
	}
	s.hubAll--
}

// topicFeed resolves a hub.topic: one of this hub's own feed URLs.
func (s *Server) topicFeed(topic string) (feedSpec, string, feedQuery, error) {
	base := s.cfg.Server.BaseURL + "/feeds/"
	rest, ok := strings.CutPrefix(topic, base)
	if !ok {
		return feedSpec{}, "", feedQuery{}, badRequest("hub.topic must be a feed of this hub, starting with %s", base)
	}
	path, rawQuery, _ := strings.Cut(rest, "?")
	kind, file, found := strings.Cut(path, "/")
	if !found {
		kind, file = "", path
	}
	name, ext, err := splitFile(file)
	if err != nil {
		return feedSpec{}, "", feedQuery{}, badRequest("hub.topic: %v", err)
	}
	spec, err := s.resolve(kind, name)
	if err != nil {
		return feedSpec{}, "", feedQuery{}, badRequest("hub.topic: %v", err)
	}
	fq, err := parseQuery(rawQuery)
	if err == nil && (fq.before > 0 || fq.sinceSet) {
		err = badRequest("hub.topic cannot be an archive page")
	}
	if err == nil {
		err = s.applyQuery(&spec, fq)
	}
	if err != nil {
		return feedSpec{}, "", feedQuery{}, badRequest("hub.topic: %v", err)
	}
	return spec, ext, fq, nil
}

// checkCallback refuses callbacks that are not http(s) or that resolve to
// a private address (unless the config allows private targets).
func (s *Server) checkCallback(ctx context.Context, callback string) error {
	u, err := url.Parse(callback)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(callback) > 2000 {
		return badRequest("hub.callback must be an absolute http(s) URL")
	}
	if s.cfg.Webhooks.AllowPrivateTargets {
		return nil
	}
	// What a name resolves to is not told: the answer would map the
	// network behind the hub for whoever asks.
	refused := badRequest("hub.callback is not a public address")
	if netguard.LiteralHost(u.Hostname()) {
		return refused
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", u.Hostname())
	if err != nil {
		return badRequest("hub.callback host does not resolve")
	}
	for _, a := range addrs {
		if !netguard.Public(a) {
			return refused
		}
	}
	return nil
}

// websub is the hub endpoint: it checks a subscription request, answers
// 202, and verifies the subscriber's intent in the background.
func (s *Server) websub(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, badRequest("the request body is not a valid form"))
		return
	}
	mode, topic, callback, secret := r.PostForm.Get("hub.mode"), r.PostForm.Get("hub.topic"), r.PostForm.Get("hub.callback"), r.PostForm.Get("hub.secret")
	if mode != "subscribe" && mode != "unsubscribe" {
		s.fail(w, r, badRequest("hub.mode must be subscribe or unsubscribe"))
		return
	}
	_, ext, _, err := s.topicFeed(topic)
	if err == nil {
		err = s.checkCallback(r.Context(), callback)
	}
	if err == nil && len(secret) >= 200 {
		err = badRequest("hub.secret must be shorter than 200 bytes")
	}
	lease := DefaultLease
	if v := r.PostForm.Get("hub.lease_seconds"); v != "" && err == nil {
		n, perr := strconv.ParseInt(v, 10, 64)
		if perr != nil || n <= 0 {
			err = badRequest("hub.lease_seconds must be a positive whole number")
		}
		// Bounded in seconds first: a huge count of seconds would
		// overflow a Duration.
		n = min(max(n, int64(MinLease/time.Second)), int64(MaxLease/time.Second))
		lease = time.Duration(n) * time.Second
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	host := callbackHost(callback)
	if !s.takeHubSlot(host) {
		s.fail(w, r, &httpError{http.StatusServiceUnavailable, "too many subscriptions to this callback host are being verified; try again later"})
		return
	}
	s.hubJobs.Add(1)
	go func() {
		defer func() { s.releaseHubSlot(host); s.hubJobs.Done() }()
		ctx, cancel := context.WithTimeout(context.Background(), 2*s.cfg.Webhooks.Timeout)
		defer cancel()
		if err := s.verifyIntent(ctx, mode, topic, callback, secret, feeds.MediaType(ext), lease); err != nil {
			s.log.Warn("websub intent not verified; nothing stored", "mode", mode, "topic", topic, "error", err)
		}
	}()
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintln(w, "accepted: the hub will verify the callback's intent")
}

// callbackHost is what verifications are limited by.
func callbackHost(callback string) string {
	if u, err := url.Parse(callback); err == nil {
		return strings.ToLower(u.Hostname())
	}
	return callback
}

// WaitHub waits for the intent verifications under way.
func (s *Server) WaitHub() { s.hubJobs.Wait() }

// verifyIntent asks the callback to echo a challenge, and stores or ends
// the subscription only if it does.
func (s *Server) verifyIntent(ctx context.Context, mode, topic, callback, secret, contentType string, lease time.Duration) error {
	b := make([]byte, 16)
	rand.Read(b)
	challenge := hex.EncodeToString(b)
	q := url.Values{"hub.mode": {mode}, "hub.topic": {topic}, "hub.challenge": {challenge}}
	if mode == "subscribe" {
		q.Set("hub.lease_seconds", strconv.Itoa(int(lease.Seconds())))
	}
	// The challenge joins the callback's own query; a fragment is never
	// sent.
	u, err := url.Parse(callback)
	if err != nil {
		return err
	}
	if u.RawQuery != "" {
		u.RawQuery += "&" + q.Encode()
	} else {
		u.RawQuery = q.Encode()
	}
	u.Fragment, u.RawFragment = "", ""
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	resp, err := s.hub.Do(req)
	if err != nil {
		return fmt.Errorf("verification request: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("callback answered HTTP %d", resp.StatusCode)
	}
	if string(bytes.TrimSpace(body)) != challenge {
		return errors.New("callback did not echo hub.challenge")
	}
	if mode == "unsubscribe" {
		return s.store.UnsubscribeWebSub(ctx, store.WebSubID(topic, callback))
	}
	return s.store.SubscribeWebSub(ctx, store.WebSub{Topic: topic, Callback: callback, Secret: secret,
		ContentType: contentType + "; charset=utf-8", LeaseUntil: s.store.Now().Add(lease)})
}

// FireWebSub creates, for every WebSub subscription, a delivery of its
// topic's new entries, rendered as the topic's feed. It returns how many
// deliveries it created.
func (s *Server) FireWebSub(ctx context.Context) (int, error) {
	subs, err := s.store.WebSubs(ctx)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, ws := range subs {
		spec, ext, fq, err := s.topicFeed(ws.Topic)
		if err != nil { // the topic no longer exists (a source was removed)
			s.log.Warn("websub topic gone; subscription ended", "topic", ws.Topic)
			s.store.UnsubscribeWebSub(ctx, ws.ID)
			continue
		}
		q := spec.query
		q.Limit, q.SeqDesc, q.Before = 0, false, 0
		n, err := s.store.Fire(ctx, ws.ID, q, func(items []store.Item) ([]store.Batch, error) {
			return s.websubBatches(spec, ext, fq, items)
		})
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

// websubBatches renders new items as feed documents within max_body.
func (s *Server) websubBatches(spec feedSpec, ext string, fq feedQuery, items []store.Item) ([]store.Batch, error) {
	var out []store.Batch
	for len(items) > 0 {
		n := len(items)
		for {
			page := items[:n]
			// Newest first, as in the feed itself.
			rev := make([]store.Item, n)
			for i, it := range page {
				rev[n-1-i] = it
			}
			var buf bytes.Buffer
			if err := s.buildFeed(spec, ext, fq, rev).Write(&buf, ext); err != nil {
				return nil, err
			}
			if int64(buf.Len()) <= s.cfg.Webhooks.MaxBody || n == 1 {
				ids := make([]int64, n)
				for i, it := range page {
					ids[i] = it.Seq
				}
				out = append(out, store.Batch{Items: ids, Body: buf.Bytes()})
				items = items[n:]
				break
			}
			n = (n + 1) / 2
		}
	}
	return out, nil
}

// RunHub fires WebSub content whenever items change, until ctx ends; wake
// tells the senders.
func (s *Server) RunHub(ctx context.Context, every time.Duration, wake func()) {
	last := s.store.Generation()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if g := s.store.Generation(); g != last {
			last = g
			if n, err := s.FireWebSub(ctx); err != nil {
				s.log.Error("websub", "error", err)
			} else if n > 0 {
				wake()
			}
		}
	}
}
