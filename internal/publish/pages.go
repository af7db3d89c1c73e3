package publish

import (
	"bytes"
	"errors"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/crier-hub/crier/feeds"
	"github.com/crier-hub/crier/internal/gazetteer"
	"github.com/crier-hub/crier/internal/httperr"
	"github.com/crier-hub/crier/internal/store"
)

type feedLink struct {
	Title string
	Path  string // without extension
}

var pageTmpl = template.Must(template.New("index").Funcs(template.FuncMap{
	// typeAttr writes the media type unescaped: autodiscovery clients
	// that match type="application/atom+xml" literally do not decode &#43;.
	"typeAttr": func(ext string) template.HTMLAttr {
		return template.HTMLAttr(`type="` + feeds.MediaType(ext) + `"`)
	},
	"formats": func() []string { return feeds.Formats },
}).Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>crier: press release feeds</title>
{{- range .Feeds}}{{$f := .}}{{range formats}}
<link rel="alternate" {{typeAttr .}} title="{{$f.Title}} ({{.}})" href="{{$.Base}}{{$f.Path}}.{{.}}">
{{- end}}{{end}}
<link rel="outline" type="text/x-opml" title="All crier feeds" href="{{.Base}}/feeds.opml">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem}h2{margin-top:2rem}li{margin:.2rem 0}a{margin-right:.4rem}.t{display:inline-block;min-width:22rem}</style>
</head>
<body>
<h1>crier</h1>
<p>Press releases from every configured office, cleaned, tagged and republished as RSS 2.0, Atom 1.0 and JSON Feed 1.1. {{.Count}} items.
All feeds as <a href="/feeds.opml">OPML</a>; push instead of polling through the WebSub hub at <code>{{.Base}}/websub</code>.</p>
<form action="/feeds/all.atom" method="get" role="search"><label>Any query is a feed: <input type="search" name="q" placeholder='refugees "labour migration" -sport' required maxlength="500"></label>
<button>Atom feed</button> <button formaction="/feeds/all.rss">RSS</button> <button formaction="/feeds/all.json">JSON</button></form>
<p><small>Every word must match the title or the body (case and accents aside); "a phrase" in quotes; -word excludes. Add country, topic, lang or source to narrow it.</small></p>
{{range .Groups}}<h2>{{.Name}}</h2>
<ul>{{range .Feeds}}{{$f := .}}
<li><span class="t">{{.Title}}</span>{{range formats}}<a href="{{$f.Path}}.{{.}}">{{.}}</a>{{end}}</li>{{end}}
</ul>
{{end}}
<h2>Latest</h2>
<ul>{{range .Items}}
<li><a href="/items/{{.UID}}">{{.Title}}</a> <small>{{.Published.Format "2006-01-02"}} {{.Country}} {{.Language}}</small></li>{{end}}
</ul>
</body>
</html>
`))

type feedGroup struct {
	Name  string
	Feeds []feedLink
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	facets, err := s.store.ItemFacets(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	latest, err := s.store.Items(r.Context(), store.Query{Limit: 20})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	groups := []feedGroup{{Name: "Everything", Feeds: []feedLink{{"All releases", "/feeds/all"}}}}
	var g feedGroup
	g = feedGroup{Name: "By source"}
	for _, src := range s.cfg.Sources {
		g.Feeds = append(g.Feeds, feedLink{src.Name, "/feeds/source/" + src.ID})
	}
	groups = append(groups, g)
	g = feedGroup{Name: "By topic"}
	for _, t := range s.cfg.Topics {
		g.Feeds = append(g.Feeds, feedLink{t.Name, "/feeds/topic/" + t.Slug})
	}
	groups = append(groups, g)
	g = feedGroup{Name: "By country"}
	for _, c := range facets.Countries {
		g.Feeds = append(g.Feeds, feedLink{gazetteer.Countries().CountryName(c), "/feeds/country/" + strings.ToLower(c)})
	}
	groups = append(groups, g)
	g = feedGroup{Name: "By language"}
	for _, l := range facets.Languages {
		g.Feeds = append(g.Feeds, feedLink{l, "/feeds/language/" + l})
	}
	groups = append(groups, g)
	var all []feedLink
	for _, g := range groups {
		all = append(all, g.Feeds...)
	}
	var buf bytes.Buffer
	err = pageTmpl.Execute(&buf, map[string]any{
		"Base": s.cfg.Server.BaseURL, "Feeds": all, "Groups": groups, "Items": latest, "Count": facets.Items,
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	serveBytes(w, r, "text/html; charset=utf-8", time.Time{}, s.cfg.Feeds.MaxAge, buf.Bytes())
}

var itemTmpl = template.Must(template.New("item").Parse(`<!doctype html>
<html lang="{{.Language}}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>body{font:16px/1.6 system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem}</style></head>
<body>
<p><a href="/">crier</a></p>
<h1>{{.Title}}</h1>
<p><small>{{.Published.Format "2 January 2006"}}{{if .City}} · {{.City}}{{end}}{{if .Country}} · {{.Country}}{{end}} · {{.Language}}{{range .Sources}} · {{.}}{{end}}</small></p>
{{.Body}}
</body></html>
`))

func (s *Server) item(w http.ResponseWriter, r *http.Request) {
	it, err := s.store.Item(r.Context(), r.PathValue("uid"))
	if errors.Is(err, store.ErrNotFound) {
		err = httperr.NotFound("no such item %q", r.PathValue("uid"))
	}
	if err == nil && !it.Retracted.IsZero() {
		err = httperr.New(http.StatusGone, "this release was retracted on %s", it.Retracted.UTC().Format("2 January 2006"))
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var buf bytes.Buffer
	// ContentHTML was sanitized when it was stored.
	err = itemTmpl.Execute(&buf, struct {
		store.Item
		Body template.HTML
	}{it, template.HTML(it.ContentHTML)})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	serveBytes(w, r, "text/html; charset=utf-8", it.Updated, s.cfg.Feeds.MaxAge, buf.Bytes())
}
