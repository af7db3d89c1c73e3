// Package admin serves crier's admin API under /api/v1/ (JSON, behind a
// bearer token compared in constant time) and its operations endpoints:
// /metrics in the Prometheus text format.
package admin

import (
	"context"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/crier-hub/crier/internal/config"
	"github.com/crier-hub/crier/internal/httperr"
	"github.com/crier-hub/crier/internal/store"
)

// API is the admin API.
type API struct {
	Cfg   *config.Config
	Store Store
	Log   *slog.Logger
	// Fetch runs a source now and returns the run's counts.
	Fetch func(ctx context.Context, id string) (RunCounts, error)
	// Wake tells the webhook senders that deliveries may be due.
	Wake func()
	// Metrics serves /metrics (Prometheus).
	Metrics http.Handler
	// File is the config as config.toml gives it: its sources and
	// subscribers are read-only through the API (409).
	File *config.Config
	// Apply puts the sources and subscribers kept in the store to work
	// (a reload that keeps config.toml).
	Apply func()

	routes []string // registered, for the OpenAPI test
}

// RunCounts is what a source's run did.
type RunCounts struct {
	Source    string `json:"source"`
	Documents int    `json:"documents"`
	Added     int    `json:"added"`
	Updated   int    `json:"updated"`
	Merged    int    `json:"merged"`
	Unchanged int    `json:"unchanged"`
	Skipped   int    `json:"skipped"`
	Retracted int    `json:"retracted"`
	Error     string `json:"error,omitempty"`
}

// Register adds the admin routes to mux. Without an admin_token the API
// answers 404: it is off. Every answer that is not 2xx is JSON, unknown
// routes (404) and wrong methods (405) included.
func (a *API) Register(mux *http.ServeMux) {
	api := http.NewServeMux()
	route := func(pattern string, h func(w http.ResponseWriter, r *http.Request) (any, error)) {
		a.routes = append(a.routes, pattern)
		api.HandleFunc(pattern, a.guard(h))
	}
	a.routes = append(a.routes, "GET /api/v1/openapi.json")
	api.HandleFunc("GET /api/v1/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		if a.Cfg.Server.AdminToken == "" {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "the admin API is off: set server.admin_token"})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(openAPI)
	})
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := api.Handler(r); pattern != "" {
			api.ServeHTTP(w, r) // which sets the path's values
			return
		}
		var allow []string
		for _, m := range []string{"GET", "POST", "PUT", "DELETE"} {
			r2 := r.Clone(r.Context())
			r2.Method = m
			if _, p := api.Handler(r2); p != "" {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": fmt.Sprintf("%s is not allowed on %s: use %s", r.Method, r.URL.Path, strings.Join(allow, " or "))})
			return
		}
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such route " + r.URL.Path})
	})
	route("GET /api/v1/sources", a.sources)
	route("POST /api/v1/sources/{id}/fetch", a.fetch)
	route("GET /api/v1/sources/{id}/health", a.health)
	route("GET /api/v1/subscribers", a.subscribers)
	route("POST /api/v1/subscribers/{id}/pause", a.pause(true))
	route("POST /api/v1/subscribers/{id}/resume", a.pause(false))
	route("POST /api/v1/subscribers/{id}/retry", a.retry)
	route("GET /api/v1/subscribers/{id}/deliveries", a.deliveries)
	route("POST /api/v1/deliveries/{webhook_id}/replay", a.replay)
	route("DELETE /api/v1/items/{id}", a.retract)
	for _, kind := range []string{"source", "subscriber"} {
		route("POST /api/v1/"+kind+"s", a.create(kind))
		route("GET /api/v1/"+kind+"s/{id}", a.getOne(kind))
		route("PUT /api/v1/"+kind+"s/{id}", a.replace(kind))
		route("DELETE /api/v1/"+kind+"s/{id}", a.remove(kind))
	}
	mux.HandleFunc("GET /metrics", a.metricsGuard)
	a.RegisterDashboard(mux)
}

// metricsGuard serves /metrics to anyone when there is no admin token,
// and only with it when there is one: the figures tell which partners
// fail and which sources are slow.
func (a *API) metricsGuard(w http.ResponseWriter, r *http.Request) {
	if token := a.Cfg.Server.AdminToken; token != "" {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="crier"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "a valid bearer token is required"})
			return
		}
	}
	if a.Metrics == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "metrics are off"})
		return
	}
	a.Metrics.ServeHTTP(w, r)
}

// openAPI describes every route of the API (OpenAPI 3.1); a test checks
// that it does, and CI validates it.
//
//go:embed openapi.json
var openAPI []byte

// created is an answer that made something: 201.
type created struct{ v any }

// guard checks the bearer token and writes the JSON answer.
func (a *API) guard(h func(w http.ResponseWriter, r *http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		token := a.Cfg.Server.AdminToken
		if token == "" {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "the admin API is off: set server.admin_token"})
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="crier"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "a valid bearer token is required"})
			return
		}
		v, err := h(w, r)
		if err == nil {
			if c, ok := v.(created); ok {
				writeJSON(w, http.StatusCreated, c.v)
				return
			}
			writeJSON(w, http.StatusOK, v)
			return
		}
		status, msg, known, gone := httperr.Of(err)
		if gone {
			return
		}
		if !known {
			a.Log.Error("admin request failed", "component", "admin", "path", r.URL.Path, "error", err)
		}
		writeJSON(w, status, map[string]string{"error": msg})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

type sourceView struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Kind        string    `json:"kind"`
	URL         string    `json:"url,omitempty"`
	Schedule    string    `json:"schedule"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	Failures    int       `json:"consecutive_failures"`
	LastError   string    `json:"last_error,omitempty"`
	NextRun     time.Time `json:"next_run,omitzero"`
	ItemsAdded  int       `json:"items_added"`
	Push        *pushView `json:"push,omitempty"` // the source's WebSub hub pushes to crier
}

// nextRun is when a source will run: its backoff (or a server's
// Retry-After) when one is set, run by a retry of its own when sooner than
// the schedule; else the schedule's next tick.
func nextRun(schedule string, backoff, now time.Time) time.Time {
	every, err := config.ParseSchedule(schedule)
	if err != nil {
		return backoff
	}
	tick := every.Next(now)
	if backoff.After(now) {
		if backoff.Before(tick) {
			return backoff
		}
		// The ticks before the backoff ends are skipped: the first tick
		// after it runs.
		for tick.Before(backoff) {
			tick = every.Next(tick)
		}
	}
	return tick
}

// pushView is a source's WebSub subscription, as health shows it.
type pushView struct {
	Live       bool      `json:"live"`
	State      string    `json:"state"`
	Hub        string    `json:"hub"`
	LeaseUntil time.Time `json:"lease_until,omitzero"`
	LastPush   time.Time `json:"last_push,omitzero"`
	LastError  string    `json:"last_error,omitempty"`
}

func (a *API) sourceViews(ctx context.Context) ([]sourceView, error) {
	states, err := a.Store.SourceStates(ctx)
	if err != nil {
		return nil, err
	}
	out := []sourceView{}
	for _, s := range a.Cfg.Sources {
		st := states[s.ID]
		v := sourceView{ID: s.ID, Name: s.Name, Kind: s.Kind, URL: s.URL, Schedule: s.Schedule,
			LastAttempt: st.LastAttempt, LastSuccess: st.LastSuccess, Failures: st.Failures, LastError: st.LastError,
			NextRun: nextRun(s.Schedule, st.NextRun, time.Now()), ItemsAdded: st.ItemsAdded}
		if p, ok, err := a.Store.PushSubscription(ctx, s.ID); err != nil {
			return nil, err
		} else if ok {
			v.Push = &pushView{Live: p.Live(time.Now()), State: p.State, Hub: p.Hub, LeaseUntil: p.LeaseUntil, LastPush: p.LastPush, LastError: p.LastError}
		}
		out = append(out, v)
	}
	return out, nil
}

func (a *API) sources(w http.ResponseWriter, r *http.Request) (any, error) {
	return a.sourceViews(r.Context())
}

func (a *API) health(w http.ResponseWriter, r *http.Request) (any, error) {
	views, err := a.sourceViews(r.Context())
	if err != nil {
		return nil, err
	}
	for _, v := range views {
		if v.ID == r.PathValue("id") {
			return v, nil
		}
	}
	return nil, store.ErrNotFound
}

func (a *API) known(id string) bool {
	for _, s := range a.Cfg.Sources {
		if s.ID == id {
			return true
		}
	}
	return false
}

func (a *API) fetch(w http.ResponseWriter, r *http.Request) (any, error) {
	id := r.PathValue("id")
	if !a.known(id) {
		return nil, store.ErrNotFound
	}
	counts, err := a.Fetch(r.Context(), id)
	if err != nil {
		return nil, httperr.New(http.StatusBadGateway, "source %s failed: %v", id, err)
	}
	return counts, nil
}

type subscriberView struct {
	ID       string `json:"id"`
	URL      string `json:"url"`
	Schedule string `json:"schedule"`
	Paused   bool   `json:"paused"`
	Failing  bool   `json:"failing"`
}

func (a *API) subscribers(w http.ResponseWriter, r *http.Request) (any, error) {
	states, err := a.Store.Subscribers(r.Context())
	if err != nil {
		return nil, err
	}
	out := []subscriberView{}
	for _, s := range a.Cfg.Subscribers {
		st := states[s.ID]
		out = append(out, subscriberView{ID: s.ID, URL: s.URL, Schedule: s.Schedule, Paused: st.Paused, Failing: st.Failing})
	}
	return out, nil
}

func (a *API) pause(paused bool) func(w http.ResponseWriter, r *http.Request) (any, error) {
	return func(w http.ResponseWriter, r *http.Request) (any, error) {
		id := r.PathValue("id")
		if err := a.Store.SetPaused(r.Context(), id, paused); err != nil {
			return nil, err
		}
		if !paused && a.Wake != nil {
			a.Wake()
		}
		return map[string]any{"subscriber": id, "paused": paused}, nil
	}
}

type attemptView struct {
	At        time.Time `json:"at"`
	Status    int       `json:"status"`
	LatencyMS int64     `json:"latency_ms"`
	Error     string    `json:"error,omitempty"`
	Response  string    `json:"response,omitempty"`
}

type deliveryView struct {
	WebhookID   string        `json:"webhook_id"`
	Status      string        `json:"status"`
	Items       int           `json:"items"`
	Attempts    []attemptView `json:"attempts"`
	NextAttempt time.Time     `json:"next_attempt,omitzero"`
	Created     time.Time     `json:"created"`
	SentAt      time.Time     `json:"sent_at,omitzero"`
	LastError   string        `json:"last_error,omitempty"`
}

// subscriber checks that a subscriber exists: in config.toml or, for a
// WebSub subscription, in the store.
func (a *API) subscriber(r *http.Request) (string, error) {
	id := r.PathValue("id")
	for _, s := range a.Cfg.Subscribers {
		if s.ID == id {
			return id, nil
		}
	}
	subs, err := a.Store.Subscribers(r.Context())
	if err != nil {
		return "", err
	}
	if _, ok := subs[id]; ok {
		return id, nil
	}
	return "", httperr.NotFound("no subscriber %q", id)
}

// retry sends what a subscriber is owed now, not at the end of its backoff.
func (a *API) retry(w http.ResponseWriter, r *http.Request) (any, error) {
	id, err := a.subscriber(r)
	if err != nil {
		return nil, err
	}
	n, err := a.Store.RetryNow(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if a.Wake != nil {
		a.Wake()
	}
	return map[string]any{"subscriber": id, "due_now": n}, nil
}

func (a *API) deliveries(w http.ResponseWriter, r *http.Request) (any, error) {
	id, err := a.subscriber(r)
	if err != nil {
		return nil, err
	}
	dels, err := a.Store.Deliveries(r.Context(), id, 100)
	if err != nil {
		return nil, err
	}
	out := []deliveryView{}
	for _, d := range dels {
		v := deliveryView{WebhookID: d.WebhookID, Status: d.Status, Items: len(d.Items), Created: d.Created, SentAt: d.SentAt,
			LastError: d.LastError, Attempts: []attemptView{}}
		if d.Status == store.Due {
			v.NextAttempt = d.NextAttempt
		}
		atts, err := a.Store.Attempts(r.Context(), d.ID)
		if err != nil {
			return nil, err
		}
		for _, at := range atts {
			v.Attempts = append(v.Attempts, attemptView{At: at.At, Status: at.Status, LatencyMS: at.Latency.Milliseconds(),
				Error: at.Error, Response: strings.ToValidUTF8(string(at.Response), "\uFFFD")})
		}
		out = append(out, v)
	}
	return out, nil
}

func (a *API) replay(w http.ResponseWriter, r *http.Request) (any, error) {
	id := r.PathValue("webhook_id")
	if err := a.Store.Replay(r.Context(), id); err != nil {
		return nil, err
	}
	if a.Wake != nil {
		a.Wake()
	}
	return map[string]string{"webhook_id": id, "status": store.Due}, nil
}

// metrics writes the Prometheus text format: items, source health and the
// outbox.

// retract takes an item back: out of every feed, a tombstone in Atom, and
// items.deleted to the subscribers who had it. {id} is the item's public
// id (urn:uuid:…) or the uid of its page (/items/{uid}).
func (a *API) retract(w http.ResponseWriter, r *http.Request) (any, error) {
	uid, err := a.Store.UIDOf(r.Context(), r.PathValue("id"))
	if err == nil {
		var it store.Item
		if it, err = a.Store.Retract(r.Context(), uid); err == nil {
			return map[string]any{"id": r.PathValue("id"), "retracted": it.Retracted.UTC()}, nil
		}
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, httperr.NotFound("no item %q", r.PathValue("id"))
	}
	return nil, err
}
