package admin

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/crier-hub/crier/internal/store"
)

// The dashboard for admins at /admin/: server-rendered HTML, no script.
// The admin token is given once on /admin/login and kept as a session
// cookie derived from it (HttpOnly, SameSite=Strict); every form carries
// a token derived from it too, and a request from another site is refused.

const sessionCookie = "crier_admin"

// derive makes a value from the admin token for one purpose: the cookie
// and the forms never carry the token itself.
func (a *API) derive(purpose string) string {
	m := hmac.New(sha256.New, []byte(a.Cfg.Server.AdminToken))
	m.Write([]byte("crier dashboard " + purpose))
	return hex.EncodeToString(m.Sum(nil))
}

// RegisterDashboard adds /admin/ to mux; without an admin token it is off.
func (a *API) RegisterDashboard(mux *http.ServeMux) {
	mux.HandleFunc("GET /admin/login", a.loginPage)
	mux.HandleFunc("POST /admin/login", a.login)
	mux.HandleFunc("GET /admin/{$}", a.session(a.dashboard))
	mux.HandleFunc("POST /admin/action", a.session(a.action))
	mux.HandleFunc("GET /admin", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/admin/", http.StatusFound) })
}

func (a *API) off(w http.ResponseWriter) bool {
	if a.Cfg.Server.AdminToken == "" {
		http.Error(w, "the dashboard is off: set server.admin_token", http.StatusNotFound)
		return true
	}
	return false
}

// session lets a request through with a valid session cookie, else sends
// it to the login page.
func (a *API) session(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.off(w) {
			return
		}
		c, err := r.Cookie(sessionCookie)
		if err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(a.derive("session"))) != 1 {
			http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
		w.Header().Set("X-Frame-Options", "DENY")
		h(w, r)
	}
}

// sameSite refuses a form posted from another site.
func sameSite(r *http.Request) bool {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	return true
}

var loginTmpl = template.Must(template.New("login").Parse(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>crier admin: log in</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:30rem;margin:4rem auto;padding:0 1rem}input{width:100%;padding:.4rem;margin:.5rem 0}</style></head>
<body><h1>crier admin</h1>{{if .}}<p role="alert" id="error">{{.}}</p>{{end}}
<form method="post" action="/admin/login"><label>Admin token<input type="password" name="token" id="token" autocomplete="current-password" required autofocus></label>
<button id="login">Log in</button></form></body></html>`))

func (a *API) loginPage(w http.ResponseWriter, r *http.Request) {
	if a.off(w) {
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Frame-Options", "DENY")
	loginTmpl.Execute(w, "")
}

func (a *API) login(w http.ResponseWriter, r *http.Request) {
	if a.off(w) {
		return
	}
	if !sameSite(r) {
		http.Error(w, "a form from another site is refused", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if r.ParseForm() != nil || subtle.ConstantTimeCompare([]byte(r.PostForm.Get("token")), []byte(a.Cfg.Server.AdminToken)) != 1 {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		loginTmpl.Execute(w, "That is not the admin token.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: a.derive("session"), Path: "/admin", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: strings.HasPrefix(a.Cfg.Server.BaseURL, "https://"), MaxAge: 12 * 3600})
	http.Redirect(w, r, "/admin/", http.StatusSeeOther)
}

// action runs a dashboard button: pause, resume, retry, fetch, replay.
func (a *API) action(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if !sameSite(r) || r.ParseForm() != nil || subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(a.derive("csrf"))) != 1 {
		http.Error(w, "a form from another site, or an old page: reload the dashboard", http.StatusForbidden)
		return
	}
	ctx, id := r.Context(), r.PostForm.Get("id")
	var err error
	switch r.PostForm.Get("do") {
	case "pause", "resume":
		err = a.Store.SetPaused(ctx, id, r.PostForm.Get("do") == "pause")
	case "retry":
		_, err = a.Store.RetryNow(ctx, id)
	case "replay":
		err = a.Store.Replay(ctx, id)
	case "fetch":
		if a.known(id) && a.Fetch != nil {
			_, err = a.Fetch(ctx, id)
		} else {
			err = store.ErrNotFound
		}
	default:
		err = fmt.Errorf("unknown action")
	}
	if err != nil {
		http.Error(w, "the action failed: "+err.Error(), http.StatusBadRequest)
		return
	}
	if a.Wake != nil {
		a.Wake()
	}
	http.Redirect(w, r, "/admin/", http.StatusSeeOther)
}

// chart draws items per day as an inline SVG of bars.
func chart(days []store.DayCount) template.HTML {
	peak := 1
	for _, d := range days {
		peak = max(peak, d.Items)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" role="img" width="%d" height="40" viewBox="0 0 %d 40"><title>items per day, last %d days</title>`, len(days)*6, len(days)*6, len(days))
	for i, d := range days {
		h := 38 * d.Items / peak
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="5" height="%d" fill="#2a6"><title>%s: %d</title></rect>`, i*6, 40-h, max(h, 1), d.Day, d.Items)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

var dashTmpl = template.Must(template.New("dash").Funcs(template.FuncMap{"chart": chart, "when": func(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04")
}}).Parse(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>crier admin</title>
<style>body{font:15px/1.45 system-ui,sans-serif;max-width:70rem;margin:1.5rem auto;padding:0 1rem}table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}
td,th{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}th{background:#f4f4f4}.bad{color:#b00}.ok{color:#080}
form{display:inline}button{font:inherit;padding:.1rem .5rem}</style></head><body>
<h1>crier admin</h1>
<form method="get" action="/feeds/all.atom" role="search"><label>Search the releases: <input type="search" name="q" required></label> <button>Atom feed</button></form>
<h2>Sources</h2><table id="sources"><tr><th>Source</th><th>Items per day</th><th>Last success</th><th>Failures</th><th>Next run</th><th>Push</th><th></th></tr>
{{range .Sources}}<tr><td><b>{{.View.ID}}</b><br>{{.View.Name}} ({{.View.Kind}})</td><td>{{chart .Days}}</td><td>{{when .View.LastSuccess}}</td>
<td class="{{if .View.Failures}}bad{{else}}ok{{end}}">{{.View.Failures}}{{if .View.LastError}}<br><small>{{.View.LastError}}</small>{{end}}</td><td>{{when .View.NextRun}}</td>
<td>{{with .View.Push}}{{if .Live}}live{{else}}{{.State}}{{end}}{{else}}–{{end}}</td>
<td><form method="post" action="/admin/action"><input type="hidden" name="csrf" value="{{$.CSRF}}"><input type="hidden" name="id" value="{{.View.ID}}"><button name="do" value="fetch">Fetch now</button></form></td></tr>{{end}}</table>
<h2>Subscribers</h2><table id="subscribers"><tr><th>Subscriber</th><th>State</th><th>Owed</th><th>Last error</th><th></th></tr>
{{range .Subscribers}}<tr id="sub-{{.ID}}"><td><b>{{.ID}}</b><br><small>{{.URL}}</small></td>
<td class="state">{{if .Paused}}<span class="bad">paused</span>{{else if .Failing}}<span class="bad">failing</span>{{else}}<span class="ok">active</span>{{end}}</td>
<td>{{.Owed}}</td><td>{{.LastError}}</td>
<td><form method="post" action="/admin/action"><input type="hidden" name="csrf" value="{{$.CSRF}}"><input type="hidden" name="id" value="{{.ID}}">
{{if .Paused}}<button name="do" value="resume">Resume</button>{{else}}<button name="do" value="pause" id="pause-{{.ID}}">Pause</button>{{end}}
<button name="do" value="retry">Retry now</button></form></td></tr>{{end}}</table>
<h2>Deliveries waiting out a backoff</h2><table id="failed"><tr><th>Subscriber</th><th>Webhook id</th><th>Attempts</th><th>Next attempt</th><th>Last error</th><th></th></tr>
{{range .Failed}}<tr><td>{{.SubscriberID}}</td><td><code>{{.WebhookID}}</code></td><td>{{.Attempts}}</td><td>{{when .NextAttempt}}</td><td>{{.LastError}}</td>
<td><form method="post" action="/admin/action"><input type="hidden" name="csrf" value="{{$.CSRF}}"><input type="hidden" name="id" value="{{.WebhookID}}"><button name="do" value="replay">Send now</button></form></td></tr>{{else}}<tr><td colspan="6">None.</td></tr>{{end}}</table>
<h2>WebSub subscriptions to this hub</h2><table id="websub"><tr><th>Topic</th><th>Callback</th><th>Lease until</th></tr>
{{range .WebSubs}}<tr><td>{{.Topic}}</td><td>{{.Callback}}</td><td>{{when .LeaseUntil}}</td></tr>{{else}}<tr><td colspan="3">None.</td></tr>{{end}}</table>
<h2>Latest items</h2><table id="items"><tr><th>Title</th><th>Place</th><th>Topics</th><th>Date</th></tr>
{{range .Items}}<tr><td><a href="/items/{{.UID}}">{{.Title}}</a></td><td>{{.City}}{{if .Country}} ({{.Country}}){{end}}</td><td>{{range .Topics}}{{.}} {{end}}</td><td>{{if eq .DateSource "first_seen"}}first seen {{when .Created}}{{else}}{{when .Published}}{{end}}</td></tr>{{end}}</table>
</body></html>`))

type sourceRow struct {
	View sourceView
	Days []store.DayCount
}

type subscriberRow struct {
	ID, URL, LastError string
	Paused, Failing    bool
	Owed               int
}

func (a *API) dashboard(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	data := struct {
		CSRF        string
		Sources     []sourceRow
		Subscribers []subscriberRow
		Failed      []store.Delivery
		WebSubs     []store.WebSub
		Items       []store.Item
	}{CSRF: a.derive("csrf")}
	views, err := a.sourceViews(ctx)
	if err != nil {
		http.Error(w, "the store does not answer", http.StatusServiceUnavailable)
		return
	}
	for _, v := range views {
		days, _ := a.Store.ItemsPerDay(ctx, v.ID, 30)
		data.Sources = append(data.Sources, sourceRow{v, days})
	}
	states, _ := a.Store.Subscribers(ctx)
	owed, _ := a.Store.OwedBySubscriber(ctx)
	for _, s := range a.Cfg.Subscribers {
		st := states[s.ID]
		data.Subscribers = append(data.Subscribers, subscriberRow{ID: s.ID, URL: s.URL, Paused: st.Paused, Failing: st.Failing,
			Owed: owed[s.ID].Deliveries, LastError: owed[s.ID].LastError})
		dels, _ := a.Store.Deliveries(ctx, s.ID, 20)
		for _, d := range dels {
			if d.Status == store.Due && d.Attempts > 0 {
				data.Failed = append(data.Failed, d)
			}
		}
	}
	data.WebSubs, _ = a.Store.WebSubs(ctx)
	data.Items, _ = a.Store.Items(ctx, store.Query{Limit: 20, SeqDesc: true})
	var buf bytes.Buffer
	if err := dashTmpl.Execute(&buf, data); err != nil {
		a.Log.Error("dashboard", "component", "admin", "error", err)
		http.Error(w, "the dashboard could not be drawn", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(buf.Bytes())
}
