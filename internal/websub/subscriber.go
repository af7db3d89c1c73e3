// Package websub is crier's WebSub subscriber side (W3C WebSub): a feed
// source whose feed names a hub is subscribed to, so that new releases
// arrive the moment the office publishes them; polling goes on, slower, as
// the fallback. The hub side, which crier runs for its own feeds, is in
// internal/publish.
package websub

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/crier-hub/crier/internal/config"
	"github.com/crier-hub/crier/internal/store"
)

// Lease is how long crier asks a hub to push; it renews a quarter before.
const Lease = 10 * 24 * time.Hour

// CallbackPath is where hubs call crier back: CallbackPath + source/token.
const CallbackPath = "/websub/callback/"

// Ingest stores what a hub pushed for a source, as a run would.
type Ingest func(ctx context.Context, src config.Source, body []byte, contentType string) error

// Subscriber subscribes feed sources to their hubs and receives what the
// hubs push.
type Subscriber struct {
	Store   Store
	Client  *http.Client // guarded like the sources' fetcher
	BaseURL string
	Sources map[string]config.Source
	Ingest  Ingest
	Log     *slog.Logger
	Now     func() time.Time
	MaxBody int64
}

// Ensure subscribes src to hub for topic, unless a live subscription to
// that hub has more than a quarter of its lease left (or a request is
// under way). It is called after each poll that found a hub.
func (s *Subscriber) Ensure(ctx context.Context, src config.Source, hub, topic string) error {
	now := s.Now()
	p, ok, err := s.Store.PushSubscription(ctx, src.ID)
	if err != nil {
		return err
	}
	if ok && p.Hub == hub && p.Topic == topic {
		switch {
		case p.Live(now) && p.LeaseUntil.Sub(now) > Lease/4:
			return nil
		case p.State == store.PushRequested && now.Sub(p.Requested) < 10*time.Minute:
			return nil // the hub has not answered yet
		case p.State == store.PushDenied && now.Sub(p.Requested) < time.Hour:
			return nil // asked again in an hour, not at every poll
		}
	}
	token, secret := random(16), random(24)
	next := store.Push{SourceID: src.ID, Hub: hub, Topic: topic, Token: token, Secret: secret, State: store.PushRequested, Requested: now}
	if ok && p.Hub == hub && p.Topic == topic && p.Live(now) {
		// A renewal keeps the subscription live meanwhile; the hub
		// verifies the new callback and pushes to it from then on.
		next.LeaseUntil = p.LeaseUntil
	}
	callback := strings.TrimRight(s.BaseURL, "/") + CallbackPath + src.ID + "/" + token
	form := url.Values{"hub.mode": {"subscribe"}, "hub.topic": {topic}, "hub.callback": {callback},
		"hub.secret": {secret}, "hub.lease_seconds": {strconv.Itoa(int(Lease.Seconds()))}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hub, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if err := s.Store.SavePush(ctx, next); err != nil { // before the hub can call back
		return err
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		next.State, next.LastError = store.PushDenied, "subscribe at "+hub+": "+err.Error()
		return s.Store.SavePush(ctx, next)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		next.State, next.LastError = store.PushDenied, fmt.Sprintf("the hub %s answered HTTP %d to the subscription", hub, resp.StatusCode)
		return s.Store.SavePush(ctx, next)
	}
	s.Log.Info("websub subscription requested", "component", "websub", "source", src.ID, "hub", hub, "topic", topic)
	return nil
}

// ServeHTTP answers a hub at CallbackPath{source}/{token}: the intent
// verification (GET) and the content distribution (POST). Anything that
// does not match a subscription, its topic or its signature gets a 4xx and
// changes nothing.
func (s *Subscriber) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sourceID, token := r.PathValue("source"), r.PathValue("token")
	src, known := s.Sources[sourceID]
	p, ok, err := s.Store.PushSubscription(r.Context(), sourceID)
	if err != nil {
		http.Error(w, "the store does not answer", http.StatusServiceUnavailable)
		return
	}
	if !known || !ok || !hmac.Equal([]byte(p.Token), []byte(token)) {
		http.Error(w, "no such subscription", http.StatusNotFound)
		return
	}
	switch r.Method {
	case http.MethodGet:
		s.verify(w, r, p)
	case http.MethodPost:
		s.receive(w, r, p, src)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "use GET (verification) or POST (content)", http.StatusMethodNotAllowed)
	}
}

func (s *Subscriber) verify(w http.ResponseWriter, r *http.Request, p store.Push) {
	q := r.URL.Query()
	mode, topic, challenge := q.Get("hub.mode"), q.Get("hub.topic"), q.Get("hub.challenge")
	switch {
	case mode == "denied":
		p.State, p.LastError = store.PushDenied, "the hub denied the subscription: "+q.Get("hub.reason")
		s.Store.SavePush(r.Context(), p)
		w.WriteHeader(http.StatusOK)
		return
	case topic != p.Topic || challenge == "":
		http.Error(w, "hub.topic or hub.challenge does not match a subscription", http.StatusNotFound)
		return
	case mode == "unsubscribe":
		if p.State != store.PushDenied {
			http.Error(w, "crier did not ask to unsubscribe", http.StatusNotFound)
			return
		}
	case mode != "subscribe" || p.State != store.PushRequested:
		http.Error(w, "crier did not ask for this", http.StatusNotFound)
		return
	default:
		lease := Lease
		if n, err := strconv.ParseInt(q.Get("hub.lease_seconds"), 10, 64); err == nil && n > 0 {
			lease = time.Duration(min(n, int64(365*24*3600))) * time.Second
		}
		p.State, p.LeaseUntil, p.LastError = store.PushLive, s.Now().Add(lease), ""
		if err := s.Store.SavePush(r.Context(), p); err != nil {
			http.Error(w, "the store does not answer", http.StatusServiceUnavailable)
			return
		}
		s.Log.Info("websub subscription live", "component", "websub", "source", p.SourceID, "hub", p.Hub, "lease", lease)
	}
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, challenge)
}

func (s *Subscriber) receive(w http.ResponseWriter, r *http.Request, p store.Push, src config.Source) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.MaxBody))
	if err != nil {
		http.Error(w, "the body is larger than fetch.max_body", http.StatusRequestEntityTooLarge)
		return
	}
	if !signed(r.Header.Get("X-Hub-Signature"), p.Secret, body) {
		s.Log.Warn("websub content with a bad or missing signature: ignored", "component", "websub", "source", p.SourceID)
		http.Error(w, "X-Hub-Signature does not match", http.StatusForbidden)
		return
	}
	if err := s.Ingest(r.Context(), src, body, r.Header.Get("Content-Type")); err != nil {
		s.Log.Warn("websub content could not be stored", "component", "websub", "source", p.SourceID, "error", err)
		http.Error(w, "the content could not be read: "+err.Error(), http.StatusBadRequest)
		return
	}
	p.LastPush = s.Now()
	s.Store.SavePush(r.Context(), p)
	w.WriteHeader(http.StatusNoContent)
}

// signed checks an X-Hub-Signature: method=hex HMAC of the body with the
// subscription's secret (sha1, sha256, sha384 or sha512).
func signed(header, secret string, body []byte) bool {
	method, sig, ok := strings.Cut(header, "=")
	if !ok {
		return false
	}
	var h func() hash.Hash
	switch strings.ToLower(method) {
	case "sha1":
		h = sha1.New
	case "sha256":
		h = sha256.New
	case "sha384":
		h = sha512.New384
	case "sha512":
		h = sha512.New
	default:
		return false
	}
	want, err := hex.DecodeString(sig)
	if err != nil {
		return false
	}
	m := hmac.New(h, []byte(secret))
	m.Write(body)
	return hmac.Equal(m.Sum(nil), want)
}

func random(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Renew renews, for every source, a live subscription with less than a
// quarter of its lease left, without waiting for the source's next poll
// (a source polled daily, or less often while pushed to, would let it
// lapse). It runs until ctx ends, checking every interval.
func (s *Subscriber) Renew(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, src := range s.Sources {
			p, ok, err := s.Store.PushSubscription(ctx, src.ID)
			if err != nil || !ok || p.State != store.PushLive || p.LeaseUntil.Sub(s.Now()) > Lease/4 {
				continue
			}
			if err := s.Ensure(ctx, src, p.Hub, p.Topic); err != nil {
				s.Log.Warn("websub renewal failed; polling goes on", "component", "websub", "source", src.ID, "error", err)
			}
		}
	}
}
