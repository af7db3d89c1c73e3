package publish

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/crier-hub/crier/feeds"
	"github.com/crier-hub/crier/internal/convert"
	"github.com/crier-hub/crier/internal/gazetteer"
	"github.com/crier-hub/crier/internal/httperr"
	"github.com/crier-hub/crier/internal/lang"
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
			return spec, httperr.NotFound("no such feed %q: try /feeds/all.atom", name)
		}
		spec.path, spec.title = "/feeds/all", "crier: all releases"
	case "country":
		if !codeRE.MatchString(name) {
			return spec, httperr.NotFound("unknown country %q: use an ISO 3166-1 alpha-2 code in lower case", name)
		}
		cc := strings.ToUpper(name)
		if !gazetteer.Countries().Known(cc) {
			return spec, httperr.NotFound("unknown country %q: not an ISO 3166-1 alpha-2 code", name)
		}
		spec.query.Countries = []string{cc}
		spec.title = "crier: releases from " + gazetteer.Countries().CountryName(cc)
	case "topic":
		t, ok := s.Topic(name)
		if !ok {
			return spec, httperr.NotFound("unknown topic %q", name)
		}
		spec.query.Topics = []string{name}
		spec.title = "crier: " + t.Name
	case "source":
		src, ok := s.Source(name)
		if !ok {
			return spec, httperr.NotFound("unknown source %q", name)
		}
		spec.query.Sources = []string{name}
		spec.title = "crier: " + src.Name
	case "language":
		if !codeRE.MatchString(name) || !lang.Known(name) {
			return spec, httperr.NotFound("unknown language %q: use an ISO 639-1 code in lower case", name)
		}
		spec.query.Languages = []string{name}
		spec.title = "crier: releases in " + name
	default:
		return spec, httperr.NotFound("no such feed kind %q: use country, topic, source or language", kind)
	}
	if spec.path == "" {
		spec.path = "/feeds/" + kind + "/" + name
	}
	return spec, nil
}

// maxLimit bounds ?limit; maxValues bounds the values of one filter.
const (
	maxLimit  = 1000
	maxValues = 50
)

// feedQuery is a parsed query string.
type feedQuery struct {
	filters  url.Values // country, topic, lang, source as given (for links)
	limit    int
	before   int64 // an archive page: items that arrived before this
	since    int64 // backfill: items that arrived after this, oldest first
	sinceSet bool
}

// parseQuery reads a feed's query string strictly: malformed encoding,
// unknown or repeated keys and out-of-range values are 400s.
func parseQuery(raw string) (feedQuery, error) {
	fq := feedQuery{filters: url.Values{}}
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return fq, httperr.BadRequest("malformed query string: %v", err)
	}
	for key, vs := range vals {
		switch key {
		case "country", "topic", "lang", "source", "q", "limit", "before", "since":
		default:
			return fq, httperr.BadRequest("unknown query parameter %q: use country, topic, lang, source, q, limit, before or since", trunc(key))
		}
		if len(vs) > 1 {
			return fq, httperr.BadRequest("%s is given %d times: give it once, values separated by commas", key, len(vs))
		}
		if !utf8.ValidString(vs[0]) || len(vs[0]) > 2000 {
			return fq, httperr.BadRequest("%s is not valid UTF-8 or is too long", key)
		}
	}
	num := func(key string, lo, hi int64) (int64, error) {
		v := vals.Get(key)
		if v == "" {
			return 0, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < lo || n > hi {
			return 0, httperr.BadRequest("bad %s %q: use a whole number from %d to %d", key, trunc(v), lo, hi)
		}
		return n, nil
	}
	limit, err := num("limit", 1, maxLimit)
	if err != nil {
		return fq, err
	}
	fq.limit = int(limit)
	if fq.before, err = num("before", 1, 1<<62); err != nil {
		return fq, err
	}
	if fq.since, err = num("since", 0, 1<<62); err != nil {
		return fq, err
	}
	if vals.Has("before") && vals.Has("since") {
		return fq, httperr.BadRequest("give before or since, not both")
	}
	for _, key := range []string{"country", "topic", "lang", "source", "q"} {
		if v := vals.Get(key); v != "" {
			fq.filters.Set(key, v)
		}
	}
	fq.sinceSet = vals.Has("since")
	return fq, nil
}

func trunc(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// listParam splits a comma-separated filter value.
func listParam(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// applyQuery narrows spec with the query string's filters. Filters combine
// with AND, values of one filter with OR.
func (s *Server) applyQuery(spec *feedSpec, fq feedQuery) error {
	var countries, langs []string
	if q := fq.filters.Get("q"); q != "" {
		search, err := store.ParseSearch(q)
		if err != nil {
			return httperr.BadRequest("bad q: %s", strings.TrimPrefix(err.Error(), store.ErrBadSearch.Error()+"\n"))
		}
		spec.query.Search = search
		spec.title += " – search: " + q
	}
	for key, v := range fq.filters {
		if key == "q" {
			continue
		}
		if n := len(listParam(v[0])); n > maxValues {
			return httperr.BadRequest("%s has %d values; at most %d", key, n, maxValues)
		}
	}
	for _, c := range listParam(fq.filters.Get("country")) {
		if !codeRE.MatchString(strings.ToLower(c)) {
			return httperr.BadRequest("bad country %q: use ISO 3166-1 alpha-2 codes", trunc(c))
		}
		if !gazetteer.Countries().Known(c) {
			return httperr.NotFound("unknown country %q: not an ISO 3166-1 alpha-2 code", c)
		}
		countries = append(countries, strings.ToUpper(c))
	}
	for _, l := range listParam(fq.filters.Get("lang")) {
		if !codeRE.MatchString(l) {
			return httperr.BadRequest("bad lang %q: use ISO 639-1 codes", trunc(l))
		}
		if !lang.Known(l) {
			return httperr.NotFound("unknown language %q: not an ISO 639-1 code", l)
		}
		langs = append(langs, l)
	}
	topics := listParam(fq.filters.Get("topic"))
	for _, t := range topics {
		if !slugRE.MatchString(t) {
			return httperr.BadRequest("bad topic %q", trunc(t))
		}
		if _, ok := s.Topic(t); !ok {
			return httperr.NotFound("unknown topic %q", t)
		}
	}
	sources := listParam(fq.filters.Get("source"))
	for _, id := range sources {
		if !slugRE.MatchString(id) {
			return httperr.BadRequest("bad source %q", trunc(id))
		}
		if _, ok := s.Source(id); !ok {
			return httperr.NotFound("unknown source %q", id)
		}
	}
	// A filter on a field the route already fixes narrows it further.
	spec.query.Countries = intersect(spec.query.Countries, countries)
	spec.query.Languages = intersect(spec.query.Languages, langs)
	spec.query.Topics = intersect(spec.query.Topics, topics)
	spec.query.Sources = intersect(spec.query.Sources, sources)
	spec.query.Limit = s.cfg.Feeds.PageSize
	if fq.limit > 0 {
		spec.query.Limit = fq.limit
	}
	switch {
	case fq.sinceSet:
		spec.query.After, spec.query.BySeq = fq.since, true
	default:
		spec.query.Before, spec.query.SeqDesc = fq.before, true
	}
	return nil
}

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

// tombstoneDays is how long Atom feeds carry a retracted item's
// at:deleted-entry.
const tombstoneDays = 30

// version is what a feed shows, in short: its items' versions and the
// recent retractions.
func (s *Server) version(ctx context.Context, q store.Query) (string, error) {
	v, err := s.store.Version(ctx, q)
	if err != nil {
		return "", err
	}
	r, err := s.store.RetractedSince(ctx, s.store.Clock().Add(-tombstoneDays*24*time.Hour))
	return v + "/" + r, err
}

// rendered is a feed document as served, kept in memory until items change.
type rendered struct {
	gen      uint64
	version  string // what the feed's items were when rendered; "" = always re-render
	body, gz []byte
	modified time.Time
	etag     [2]string // of body, and of gz
	// header is the answers' headers, made once: by gzip, then by 304
	// (header[1][0] answers a client that takes gzip with the whole gz).
	header [2][2][]Field
}

// Field is a header of a cached feed's answer, its value as net/http
// keeps it.
type Field struct {
	Name  string
	Value []string
}

// b2i is 1 for true, an index into rendered's variants.
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (s *Server) feed(w http.ResponseWriter, r *http.Request) {
	// The fast path: a feed served before, under the same path and query,
	// and no item changed since.
	key := cacheKey(r.URL)
	gen := s.store.Generation()
	if e := s.cache.get(key); e != nil && e.gen == gen {
		s.Metrics.CacheHit()
		s.serveRendered(w, r, e)
		return
	}
	name, ext, err := splitFile(r.PathValue("file"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	kind := r.PathValue("kind")
	spec, err := s.resolve(kind, name)
	var fq feedQuery
	if err == nil {
		fq, err = parseQuery(r.URL.RawQuery)
	}
	if err == nil {
		err = s.applyQuery(&spec, fq)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	e := s.cache.get(key)
	if e != nil && e.version != "" {
		// Items changed somewhere: re-render only if this feed's did.
		if v, err := s.version(r.Context(), spec.query); err == nil && v == e.version {
			fresh := *e
			fresh.gen = gen
			e = &fresh
			s.cache.put(key, e)
			s.Metrics.CacheHit()
			s.serveRendered(w, r, e)
			return
		}
	}
	if e, err = s.render(r.Context(), spec, ext, fq, gen); err != nil {
		s.fail(w, r, err)
		return
	}
	s.cache.put(key, e)
	s.serveRendered(w, r, e)
}

// cacheKey is a feed's path and query, the path alone when there is no
// query (and no '?' in the path that would make it look like one), which
// costs nothing to make.
func cacheKey(u *url.URL) string {
	if u.RawQuery == "" && !strings.Contains(u.Path, "?") {
		return u.Path
	}
	return u.Path + "?" + u.RawQuery
}

// canonical writes a query in a fixed order, for cache keys and ids.
func canonical(fq feedQuery) string {
	v := url.Values{}
	for k, vs := range fq.filters {
		v[k] = vs
	}
	if fq.limit > 0 {
		v.Set("limit", strconv.Itoa(fq.limit))
	}
	if fq.before > 0 {
		v.Set("before", strconv.FormatInt(fq.before, 10))
	}
	if fq.sinceSet {
		v.Set("since", strconv.FormatInt(fq.since, 10))
	}
	return v.Encode()
}

func (s *Server) render(ctx context.Context, spec feedSpec, ext string, fq feedQuery, gen uint64) (*rendered, error) {
	s.renders.Add(1)
	// The version is read before the items: a change between the two
	// makes the next request render again, never serve stale bytes.
	version := ""
	if fq.before == 0 {
		v, err := s.version(ctx, spec.query)
		if err != nil {
			return nil, err
		}
		version = v
	}
	items, err := s.store.Items(ctx, spec.query)
	if err != nil {
		return nil, err
	}
	f := s.buildFeed(spec, ext, fq, items)
	if err := s.pageLinks(ctx, f, spec, ext, fq, items); err != nil {
		return nil, err
	}
	if ext == "atom" && fq.before == 0 && !fq.sinceSet {
		gone, err := s.store.Tombstones(ctx, spec.query, s.store.Clock().Add(-tombstoneDays*24*time.Hour))
		if err != nil {
			return nil, err
		}
		for _, it := range gone {
			f.Deleted = append(f.Deleted, feeds.Deleted{ID: convert.ItemID(it.UID), When: it.Retracted})
		}
	}
	var buf bytes.Buffer
	if err := f.Write(&buf, ext); err != nil {
		return nil, err
	}
	modified := f.Updated.UTC().Truncate(time.Second)
	e := &rendered{gen: gen, version: version, body: buf.Bytes(), modified: modified}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write(e.body)
	zw.Close()
	e.gz = gz.Bytes()
	sum := sha256.Sum256(e.body)
	lastMod, contentType := []string{modified.Format(http.TimeFormat)}, []string{feeds.MediaType(ext) + "; charset=utf-8"}
	for i, body := range [][]byte{e.body, e.gz} {
		e.etag[i] = `"` + hex.EncodeToString(sum[:16]) + [...]string{"", "-gz"}[i] + `"`
		notModified := []Field{{"Vary", varyAE}, {"Cache-Control", s.cacheControl}, {"X-Content-Type-Options", nosniff},
			{"Last-Modified", lastMod}, {"Etag", []string{e.etag[i]}}}
		whole := append(slices.Clip(notModified), Field{"Content-Type", contentType}, Field{"Content-Length", []string{strconv.Itoa(len(body))}})
		if i == 1 {
			whole = append(whole, Field{"Content-Encoding", gzipHeader})
		}
		e.header[i] = [2][]Field{whole, notModified}
	}
	return e, nil
}

var (
	varyAE     = []string{"Accept-Encoding"}
	nosniff    = []string{"nosniff"}
	gzipHeader = []string{"gzip"}
)

// serveRendered answers with a cached document: gzip when the client
// takes it, conditional GET (an If-None-Match match wins over
// If-Modified-Since) and HEAD, with headers made once per document.
func (s *Server) serveRendered(w http.ResponseWriter, r *http.Request, e *rendered) {
	gz, fresh := s.choose(e, r.Header.Get("Accept-Encoding"), r.Header.Get("If-None-Match"), r.Header.Get("If-Modified-Since"))
	h := w.Header()
	for _, f := range e.header[b2i(gz)][b2i(fresh)] {
		h[f.Name] = f.Value
	}
	if fresh {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if r.Method == http.MethodHead {
		return
	}
	w.Write(e.variant(gz))
}

// variant is the body sent whole: gzipped or not.
func (e *rendered) variant(gz bool) []byte {
	if gz {
		return e.gz
	}
	return e.body
}

// choose decides how a cached document answers a request, for net/http
// and for the fast server alike, and counts the answer: gzip or not, and
// whether the client's copy is current (304).
func (s *Server) choose(e *rendered, acceptEncoding, ifNoneMatch, ifModifiedSince string) (gz, fresh bool) {
	gz = acceptsGzip(acceptEncoding)
	fresh = notModified(ifNoneMatch, ifModifiedSince, e.etag[b2i(gz)], e.modified)
	if fresh {
		s.Metrics.Request(http.StatusNotModified)
	} else {
		s.Metrics.Request(http.StatusOK)
	}
	return gz, fresh
}

// Answer is a cached feed's answer to a GET or HEAD, for a server other
// than net/http to write: the status, headers and bytes serveRendered
// writes.
type Answer struct {
	NotModified bool    // 304, no body
	Header      []Field // every header but Date
	Body        []byte  // a 200's whole body; a HEAD sends only its length
}

// Cached answers a GET or HEAD of key (a feed's path, and "?" and its raw
// query when it has one) from memory, when that feed was rendered before,
// no item changed since and no debug log wants the request. Otherwise it
// reports false and the request goes to Handler. The key and header
// values are not kept.
func (s *Server) Cached(key, acceptEncoding, ifNoneMatch, ifModifiedSince string) (Answer, bool) {
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		return Answer{}, false
	}
	e := s.cache.get(key)
	if e == nil || e.gen != s.store.Generation() {
		return Answer{}, false
	}
	s.Metrics.CacheHit()
	gz, fresh := s.choose(e, acceptEncoding, ifNoneMatch, ifModifiedSince)
	return Answer{NotModified: fresh, Header: e.header[b2i(gz)][b2i(fresh)], Body: e.variant(gz)}, true
}

// notModified applies RFC 9110's conditional GET: If-None-Match when
// given, else If-Modified-Since.
func notModified(inm, ims, etag string, modified time.Time) bool {
	if inm != "" {
		for inm != "" {
			var t string
			t, inm, _ = strings.Cut(inm, ",")
			t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
			if t == etag || t == "*" {
				return true
			}
		}
		return false
	}
	if ims != "" {
		if t, err := http.ParseTime(ims); err == nil {
			return !modified.After(t)
		}
	}
	return false
}

func acceptsGzip(ae string) bool {
	for ae != "" {
		var part string
		part, ae, _ = strings.Cut(ae, ",")
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") || strings.TrimSpace(name) == "*" {
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}

// pageLinks adds RFC 5005 archive links and the backfill cursor. Archive
// pages (?before=N) hold the items that arrived before N, so they never
// change once full; ?since=N lists what arrived after N, oldest first.
func (s *Server) pageLinks(ctx context.Context, f *feeds.Feed, spec feedSpec, ext string, fq feedQuery, items []store.Item) error {
	link := func(set func(v url.Values)) string {
		v := url.Values{}
		for k, vs := range fq.filters {
			v[k] = vs
		}
		if fq.limit > 0 {
			v.Set("limit", strconv.Itoa(fq.limit))
		}
		set(v)
		u := s.cfg.Server.BaseURL + spec.path + "." + ext
		if q := v.Encode(); q != "" {
			u += "?" + q
		}
		return u
	}
	mt := feeds.MediaType(ext)
	full := len(items) == spec.query.Limit
	if fq.sinceSet {
		if full {
			last := items[len(items)-1].Seq
			f.Links = append(f.Links, feeds.Link{Rel: "next", Href: link(func(v url.Values) { v.Set("since", strconv.FormatInt(last, 10)) }), Type: mt})
		}
		return nil
	}
	if full {
		oldest := items[len(items)-1].Seq
		f.Links = append(f.Links, feeds.Link{Rel: "prev-archive", Href: link(func(v url.Values) { v.Set("before", strconv.FormatInt(oldest, 10)) }), Type: mt})
	}
	if fq.before == 0 {
		return nil
	}
	f.Archive = true
	current := link(func(url.Values) {})
	f.Links = append(f.Links, feeds.Link{Rel: "current", Href: current, Type: mt})
	// The newer archive page is the one that ends just above this one.
	q := spec.query
	q.Before, q.SeqDesc, q.After, q.BySeq, q.Limit = 0, false, fq.before-1, true, spec.query.Limit+1
	newer, err := s.store.Items(ctx, q)
	if err != nil {
		return err
	}
	next := current
	if len(newer) == spec.query.Limit+1 {
		end := newer[len(newer)-1].Seq
		next = link(func(v url.Values) { v.Set("before", strconv.FormatInt(end, 10)) })
	}
	f.Links = append(f.Links, feeds.Link{Rel: "next-archive", Href: next, Type: mt})
	return nil
}

func (s *Server) buildFeed(spec feedSpec, ext string, fq feedQuery, items []store.Item) *feeds.Feed {
	base := s.cfg.Server.BaseURL
	query := ""
	if q := canonical(fq); q != "" {
		query = "?" + q
	}
	self := base + spec.path + "." + ext + query
	f := &feeds.Feed{
		ID:          base + spec.path + query, // the same for the three formats
		Title:       spec.title,
		Description: "Press releases gathered and normalized by crier.",
		HomeURL:     base + "/",
		SelfURL:     self,
		Author:      "crier",
		Generator:   "crier " + cmp.Or(s.cfg.Version, "dev"),
		HubURL:      base + "/websub",
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
	f.Updated = latest(items)
	return f
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
