package publish

import (
	"bytes"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/crier-hub/crier/feeds"
	"github.com/crier-hub/crier/internal/gazetteer"
	"github.com/crier-hub/crier/internal/store"
)

var (
	codeRE = regexp.MustCompile(`^[a-z]{2}$`)
	slugRE = regexp.MustCompile(`^[a-z0-9-]+$`)
)

// feedSpec is a resolved feed route: what it selects and how it is named.
type feedSpec struct {
	path  string // "/feeds/country/be", without extension
	title string
	query store.Query
}

// resolve maps a feed route to its selection; unknown sources and topics
// are 404s.
func (s *Server) resolve(kind, name string) (feedSpec, error) {
	spec := feedSpec{}
	switch kind {
	case "":
		if name != "all" {
			return spec, notFound("no such feed %q: try /feeds/all.atom", name)
		}
		spec.path, spec.title = "/feeds/all", "crier: all releases"
	case "country":
		if !codeRE.MatchString(name) {
			return spec, notFound("unknown country %q: use an ISO 3166-1 alpha-2 code in lower case", name)
		}
		cc := strings.ToUpper(name)
		if !gazetteer.Default().Known(cc) {
			return spec, notFound("unknown country %q: not an ISO 3166-1 alpha-2 code", name)
		}
		spec.query.Countries = []string{cc}
		spec.title = "crier: releases from " + gazetteer.Default().CountryName(cc)
	case "topic":
		t, ok := s.topics[name]
		if !ok {
			return spec, notFound("unknown topic %q", name)
		}
		spec.query.Topics = []string{name}
		spec.title = "crier: " + t.Name
	case "source":
		src, ok := s.sources[name]
		if !ok {
			return spec, notFound("unknown source %q", name)
		}
		spec.query.Sources = []string{name}
		spec.title = "crier: " + src.Name
	case "language":
		if !codeRE.MatchString(name) {
			return spec, notFound("unknown language %q: use an ISO 639-1 code in lower case", name)
		}
		spec.query.Languages = []string{name}
		spec.title = "crier: releases in " + name
	default:
		return spec, notFound("no such feed kind %q: use country, topic, source or language", kind)
	}
	if spec.path == "" {
		spec.path = "/feeds/" + kind + "/" + name
	}
	return spec, nil
}

// listParam reads a comma-separated query parameter, which may repeat.
func listParam(q url.Values, key string) []string {
	var out []string
	for _, v := range q[key] {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// applyQuery narrows spec with the query string's filters. Filters combine
// with AND, values of one filter with OR.
func (s *Server) applyQuery(spec *feedSpec, q url.Values) error {
	for key := range q {
		switch key {
		case "country", "topic", "lang", "source", "limit":
		default:
			return badRequest("unknown query parameter %q: use country, topic, lang, source or limit", key)
		}
	}
	var countries, langs []string
	for _, c := range listParam(q, "country") {
		if !codeRE.MatchString(strings.ToLower(c)) {
			return badRequest("bad country %q: use ISO 3166-1 alpha-2 codes", c)
		}
		if !gazetteer.Default().Known(c) {
			return notFound("unknown country %q: not an ISO 3166-1 alpha-2 code", c)
		}
		countries = append(countries, strings.ToUpper(c))
	}
	for _, l := range listParam(q, "lang") {
		if !codeRE.MatchString(l) {
			return badRequest("bad lang %q: use ISO 639-1 codes", l)
		}
		langs = append(langs, l)
	}
	topics := listParam(q, "topic")
	for _, t := range topics {
		if !slugRE.MatchString(t) {
			return badRequest("bad topic %q", t)
		}
		if _, ok := s.topics[t]; !ok {
			return notFound("unknown topic %q", t)
		}
	}
	sources := listParam(q, "source")
	for _, id := range sources {
		if !slugRE.MatchString(id) {
			return badRequest("bad source %q", id)
		}
		if _, ok := s.sources[id]; !ok {
			return notFound("unknown source %q", id)
		}
	}
	// A filter on a field the route already fixes narrows it further: the
	// intersection is expressed by running both (AND).
	spec.query.Countries = intersect(spec.query.Countries, countries)
	spec.query.Languages = intersect(spec.query.Languages, langs)
	spec.query.Topics = intersect(spec.query.Topics, topics)
	spec.query.Sources = intersect(spec.query.Sources, sources)
	limit := s.cfg.Feeds.PageSize
	if v := q["limit"]; len(v) > 0 {
		if len(v) > 1 {
			return badRequest("limit is given %d times", len(v))
		}
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 {
			return badRequest("bad limit %q: use a whole number from 1 to %d", v[0], maxLimit)
		}
		limit = min(n, maxLimit)
	}
	spec.query.Limit = limit
	return nil
}

const maxLimit = 1000

// intersect combines a route's fixed values with a query's: when both are
// set only the common values remain (possibly none, an empty feed).
func intersect(route, query []string) []string {
	if len(route) == 0 {
		return query
	}
	if len(query) == 0 {
		return route
	}
	var out []string
	for _, r := range route {
		for _, q := range query {
			if r == q {
				out = append(out, r)
			}
		}
	}
	if out == nil {
		out = []string{"\x00none"} // matches nothing
	}
	return out
}

func (s *Server) feed(w http.ResponseWriter, r *http.Request) {
	name, ext, err := splitFile(r.PathValue("file"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	spec, err := s.resolve(r.PathValue("kind"), name)
	if err == nil {
		err = s.applyQuery(&spec, r.URL.Query())
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	items, err := s.store.Items(r.Context(), spec.query)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f := s.buildFeed(spec, ext, r.URL.RawQuery, items)
	var buf bytes.Buffer
	if err := f.Write(&buf, ext); err != nil {
		s.fail(w, r, err)
		return
	}
	ct := feeds.MediaType(ext) + "; charset=utf-8"
	serveBytes(w, r, ct, f.Updated, s.cfg.Feeds.MaxAge, buf.Bytes())
}

func (s *Server) buildFeed(spec feedSpec, ext, rawQuery string, items []store.Item) *feeds.Feed {
	base := s.cfg.Server.BaseURL
	self := base + spec.path + "." + ext
	if rawQuery != "" {
		self += "?" + rawQuery
	}
	f := &feeds.Feed{
		ID:          base + spec.path + queryID(rawQuery),
		Title:       spec.title,
		Description: "Press releases gathered and normalized by crier.",
		HomeURL:     base + "/",
		SelfURL:     self,
		Author:      "crier",
		Generator:   "crier " + Version,
	}
	langs := map[string]bool{}
	for _, it := range items {
		f.Items = append(f.Items, s.Item(it))
		langs[it.Language] = true
	}
	if len(langs) == 1 {
		for l := range langs {
			f.Language = l
		}
	}
	if len(items) == 0 {
		f.Updated = time.Unix(0, 0)
	}
	f.Updated = latest(items)
	return f
}

// queryID keeps filtered feeds apart in their ids without depending on
// parameter order.
func queryID(raw string) string {
	if raw == "" {
		return ""
	}
	q, _ := url.ParseQuery(raw)
	return "?" + q.Encode()
}

func latest(items []store.Item) time.Time {
	var t time.Time
	for _, it := range items {
		if it.Updated.After(t) {
			t = it.Updated
		}
		if it.Published.After(t) {
			t = it.Published
		}
	}
	if t.IsZero() {
		t = time.Unix(0, 0).UTC()
	}
	return t
}
