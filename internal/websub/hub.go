package websub

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crier-hub/crier/internal/config"
	"github.com/crier-hub/crier/internal/netguard"
	"github.com/crier-hub/crier/internal/store"
)

// The hub side: crier's own feeds as WebSub topics (W3C WebSub). A
// subscription request is checked and answered 202; the subscriber's
// intent is verified in the background; new entries of a topic become
// deliveries in the durable outbox, which internal/deliver sends with
// X-Hub-Signature, retries, and ends at a 410.

// Lease bounds of the subscriptions to this hub.
const (
	DefaultLease = 10 * 24 * time.Hour
	MinLease     = time.Hour
	MaxLease     = 30 * 24 * time.Hour
)

// Topic is one of crier's feeds as a hub topic: what it selects, its media
// type, and how new items become the feed documents pushed to subscribers.
type Topic struct {
	Query       store.Query
	ContentType string
	Render      func(items []store.Item) ([]store.Batch, error)
}

// Topics resolves a hub.topic (a feed URL of this crier); an error says in
// one sentence why it is not one.
type Topics interface {
	HubTopic(topic string) (Topic, error)
}

// Verification limits: at once for one callback host, and in all.
const (
	perHost = 2
	total   = 256
)

// Hub is crier's WebSub hub.
type Hub struct {
	Store        Store
	Topics       Topics
	Log          *slog.Logger
	AllowPrivate bool // webhooks.allow_private_targets
	Timeout      time.Duration

	client *http.Client   // verifies intent; one for every request
	jobs   sync.WaitGroup // verifications under way
	mu     sync.Mutex
	busy   map[string]int // verifications under way, by callback host
	all    int
}

// NewHub returns the hub of cfg's feeds over st.
func NewHub(cfg *config.Config, st Store, topics Topics, log *slog.Logger) *Hub {
	return &Hub{Store: st, Topics: topics, Log: log.With("component", "websub"), AllowPrivate: cfg.Webhooks.AllowPrivateTargets,
		Timeout: cfg.Webhooks.Timeout, busy: map[string]int{},
		// Idle connections are few and close soon, so that many subscription
		// requests cannot pile up open files.
		client: &http.Client{
			Timeout: cfg.Webhooks.Timeout,
			Transport: &http.Transport{
				DialContext:           netguard.Dialer(10*time.Second, cfg.Webhooks.AllowPrivateTargets, "webhooks.allow_private_targets").DialContext,
				ResponseHeaderTimeout: cfg.Webhooks.Timeout,
				TLSHandshakeTimeout:   10 * time.Second,
				MaxIdleConns:          16,
				MaxIdleConnsPerHost:   1,
				IdleConnTimeout:       30 * time.Second,
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}}
}

func fail(w http.ResponseWriter, status int, format string, args ...any) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprintf(w, format+"\n", args...)
}

// ServeHTTP is the hub endpoint (POST /websub): it checks a subscription
// request, answers 202, and verifies the subscriber's intent in the
// background.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		fail(w, http.StatusBadRequest, "the request body is not a valid form")
		return
	}
	mode, topicURL, callback, secret := r.PostForm.Get("hub.mode"), r.PostForm.Get("hub.topic"), r.PostForm.Get("hub.callback"), r.PostForm.Get("hub.secret")
	if mode != "subscribe" && mode != "unsubscribe" {
		fail(w, http.StatusBadRequest, "hub.mode must be subscribe or unsubscribe")
		return
	}
	topic, err := h.Topics.HubTopic(topicURL)
	if err != nil {
		fail(w, http.StatusBadRequest, "hub.topic: %v", err)
		return
	}
	if msg := h.checkCallback(r.Context(), callback); msg != "" {
		fail(w, http.StatusBadRequest, "%s", msg)
		return
	}
	if len(secret) >= 200 {
		fail(w, http.StatusBadRequest, "hub.secret must be shorter than 200 bytes")
		return
	}
	lease := DefaultLease
	if v := r.PostForm.Get("hub.lease_seconds"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			fail(w, http.StatusBadRequest, "hub.lease_seconds must be a positive whole number")
			return
		}
		// Bounded in seconds first: a huge count of seconds would
		// overflow a Duration.
		n = min(max(n, int64(MinLease/time.Second)), int64(MaxLease/time.Second))
		lease = time.Duration(n) * time.Second
	}
	host := callbackHost(callback)
	if !h.take(host) {
		fail(w, http.StatusServiceUnavailable, "too many subscriptions to this callback host are being verified; try again later")
		return
	}
	h.jobs.Add(1)
	go func() {
		defer func() { h.release(host); h.jobs.Done() }()
		ctx, cancel := context.WithTimeout(context.Background(), 2*h.Timeout)
		defer cancel()
		if err := h.verifyIntent(ctx, mode, topicURL, callback, secret, topic.ContentType, lease); err != nil {
			h.Log.Warn("websub intent not verified; nothing stored", "mode", mode, "topic", topicURL, "error", err)
		}
	}()
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintln(w, "accepted: the hub will verify the callback's intent")
}

// checkCallback refuses callbacks that are not http(s), or that resolve to
// a private address (unless the config allows private targets); it says
// why in one sentence, "" when the callback will do.
func (h *Hub) checkCallback(ctx context.Context, callback string) string {
	u, err := url.Parse(callback)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(callback) > 2000 {
		return "hub.callback must be an absolute http(s) URL"
	}
	if h.AllowPrivate {
		return ""
	}
	// What a name resolves to is not told: the answer would map the
	// network behind the hub for whoever asks.
	const refused = "hub.callback is not a public address"
	if netguard.LiteralHost(u.Hostname()) {
		return refused
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", u.Hostname())
	if err != nil {
		return "hub.callback host does not resolve"
	}
	for _, a := range addrs {
		if !netguard.Public(a) {
			return refused
		}
	}
	return ""
}

// take reserves a verification for host; false when that host (or the
// hub as a whole) has as many under way as it may.
func (h *Hub) take(host string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.busy[host] >= perHost || h.all >= total {
		return false
	}
	h.busy[host]++
	h.all++
	return true
}

func (h *Hub) release(host string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.busy[host]--; h.busy[host] <= 0 {
		delete(h.busy, host)
	}
	h.all--
}

// callbackHost is what verifications are limited by.
func callbackHost(callback string) string {
	if u, err := url.Parse(callback); err == nil {
		return strings.ToLower(u.Hostname())
	}
	return callback
}

// Wait waits for the intent verifications under way.
func (h *Hub) Wait() { h.jobs.Wait() }

// verifyIntent asks the callback to echo a challenge, and stores or ends
// the subscription only if it does.
func (h *Hub) verifyIntent(ctx context.Context, mode, topic, callback, secret, contentType string, lease time.Duration) error {
	challenge := random(16)
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
	resp, err := h.client.Do(req)
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
		return h.Store.UnsubscribeWebSub(ctx, store.WebSubID(topic, callback))
	}
	return h.Store.SubscribeWebSub(ctx, store.WebSub{Topic: topic, Callback: callback, Secret: secret,
		ContentType: contentType + "; charset=utf-8", LeaseUntil: h.Store.Clock().Add(lease)})
}

// Fire creates, for every subscription, a delivery of its topic's new
// entries, rendered as the topic's feed. It returns how many deliveries it
// created.
func (h *Hub) Fire(ctx context.Context) (int, error) {
	subs, err := h.Store.WebSubs(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, ws := range subs {
		topic, err := h.Topics.HubTopic(ws.Topic)
		if err != nil { // the topic no longer exists (a source was removed)
			h.Log.Warn("websub topic gone; subscription ended", "topic", ws.Topic)
			h.Store.UnsubscribeWebSub(ctx, ws.ID)
			continue
		}
		q := topic.Query
		q.Limit, q.SeqDesc, q.Before = 0, false, 0
		made, err := h.Store.Fire(ctx, ws.ID, q, topic.Render)
		if err != nil {
			return n, err
		}
		n += made
	}
	return n, nil
}

// Run fires content whenever items change, until ctx ends; wake tells the
// senders.
func (h *Hub) Run(ctx context.Context, every time.Duration, wake func()) {
	last := h.Store.Generation()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if g := h.Store.Generation(); g != last {
			last = g
			if n, err := h.Fire(ctx); err != nil {
				h.Log.Error("websub", "error", err)
			} else if n > 0 {
				wake()
			}
		}
	}
}

// Signature is the hex HMAC-SHA256 of body that X-Hub-Signature carries.
func Signature(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Subscriptions looks up a subscription of this hub by its id.
type Subscriptions interface {
	WebSubByID(ctx context.Context, id string) (store.WebSub, error)
}

// Request is where the POST of a delivery to a subscription of this hub
// goes, and its headers: the topic's new entries go with the hub and self
// links, signed with the subscriber's hub.secret when it gave one
// (X-Hub-Signature).
func Request(ctx context.Context, st Subscriptions, del store.Delivery, hubURL string) (callback string, h http.Header, err error) {
	ws, err := st.WebSubByID(ctx, del.SubscriberID)
	if err != nil {
		return "", nil, fmt.Errorf("websub subscription: %w", err)
	}
	h = http.Header{"Content-Type": {ws.ContentType}, "Link": {"<" + hubURL + ">; rel=\"hub\"", "<" + ws.Topic + ">; rel=\"self\""}}
	if ws.Secret != "" {
		h.Set("X-Hub-Signature", "sha256="+Signature(ws.Secret, del.Body))
	}
	return ws.Callback, h, nil
}
