package config

import (
	"encoding/base64"
	"fmt"
	"github.com/andybalholm/cascadia"
	"github.com/crier-hub/crier/internal/lang"
	"github.com/crier-hub/crier/internal/netguard"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/crier-hub/crier/internal/gazetteer"
)

var (
	idRE      = regexp.MustCompile(`^[a-z0-9-]+$`)
	countryRE = regexp.MustCompile(`^[A-Z]{2}$`)
	sizeRE    = regexp.MustCompile(`^(\d+)\s*(B|KB|KiB|MB|MiB|GB|GiB)?$`)
)

// cronParser accepts what the contract promises: five fields, descriptors
// such as @every and @hourly, and a CRON_TZ= prefix.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule parses a cron expression as config.toml allows it.
func ParseSchedule(spec string) (cron.Schedule, error) {
	return cronParser.Parse(spec)
}

type validator struct {
	cfg *Config
	pos map[string]pos
	err *Error
}

// problem records msg at the place of key, or of the nearest enclosing key
// that is written in the file (a missing key points at its table).
func (v *validator) problem(key, format string, args ...any) {
	p, ok := v.pos[key]
	for !ok && key != "" {
		i := strings.LastIndexByte(key, '.')
		if i < 0 {
			key = ""
			break
		}
		key = key[:i]
		p, ok = v.pos[key]
	}
	if !ok {
		p = pos{1, 1}
	}
	v.err.Problems = append(v.err.Problems, Problem{p.line, p.col, fmt.Sprintf(format, args...)})
}

// env resolves an env:NAME value in place.
func (v *validator) env(key string, s *string) {
	name, ok := strings.CutPrefix(*s, "env:")
	if !ok {
		return
	}
	val, set := os.LookupEnv(name)
	if !set {
		v.problem(key, "environment variable %s is not set", name)
	}
	*s = val
}

func (v *validator) duration(key, raw, def string, dst *time.Duration) {
	if raw == "" {
		raw = def
	}
	d, err := time.ParseDuration(raw)
	if err != nil || d <= 0 {
		v.problem(key, "%q is not a positive duration such as \"30s\" or \"5m\"", raw)
		return
	}
	*dst = d
}

func (v *validator) size(key, raw, def string, dst *int64) {
	if raw == "" {
		raw = def
	}
	n, err := ParseSize(raw)
	if err != nil || n <= 0 {
		v.problem(key, "%q is not a size such as \"10MiB\"", raw)
		return
	}
	*dst = n
}

// ParseSize parses sizes like "512KiB", "10MiB", "1MB" or a plain byte count.
func ParseSize(s string) (int64, error) {
	m := sizeRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("bad size %q", s)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, err
	}
	mult := map[string]int64{"": 1, "B": 1, "KB": 1000, "KiB": 1 << 10, "MB": 1e6, "MiB": 1 << 20, "GB": 1e9, "GiB": 1 << 30}[m[2]]
	return n * mult, nil
}

func (v *validator) httpURL(key, raw string, required bool) {
	if raw == "" {
		if required {
			v.problem(key, "a URL is required")
		}
		return
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.problem(key, "%q is not an absolute http(s) URL", raw)
	}
}

// publicURL flags a URL whose host is written as an address crier will
// refuse to reach (the names that resolve to one are refused at run time).
func (v *validator) publicURL(key, raw string, allowPrivate bool, setting string) {
	u, err := url.Parse(raw)
	if err != nil || allowPrivate {
		return
	}
	if netguard.LiteralHost(u.Hostname()) {
		v.problem(key, "%q is a loopback, private or special address, which crier refuses unless %s = true", raw, setting)
	}
}

func (v *validator) schedule(key, spec, def string, dst *string) {
	if spec == "" {
		spec = def
	}
	*dst = spec
	if spec == "" {
		v.problem(key, "a schedule is required")
		return
	}
	if _, err := ParseSchedule(spec); err != nil {
		v.problem(key, "bad cron expression %q: %v", spec, err)
	}
}

func (v *validator) run() {
	c := v.cfg
	// [server]
	if c.Server.Listen != "" {
		if _, port, err := net.SplitHostPort(c.Server.Listen); err != nil || port == "" {
			v.problem("server.listen", "listen %q needs a host and a port, such as \"127.0.0.1:8080\" or \":8080\"", c.Server.Listen)
		}
	}
	if c.Server.Listen == "" {
		c.Server.Listen = "127.0.0.1:8080"
	}
	if c.Server.BaseURL == "" {
		c.Server.BaseURL = "http://" + c.Server.Listen
	}
	c.Server.BaseURL = strings.TrimRight(c.Server.BaseURL, "/")
	v.httpURL("server.base_url", c.Server.BaseURL, true)
	v.env("server.admin_token", &c.Server.AdminToken)
	if t := c.Server.AdminToken; t != "" && len(t) < 16 {
		v.problem("server.admin_token", "admin_token is too short: use at least 16 characters")
	}
	// [storage]
	switch c.Storage.Driver {
	case "":
		c.Storage.Driver = "sqlite"
	case "sqlite", "postgres":
	default:
		v.problem("storage.driver", "unknown storage driver %q: use \"sqlite\" or \"postgres\"", c.Storage.Driver)
	}
	v.env("storage.dsn", &c.Storage.DSN)
	if c.Storage.DSN == "" && c.Storage.Driver == "sqlite" {
		c.Storage.DSN = "crier.db"
	}
	if c.Storage.Driver == "sqlite" && (c.Storage.DSN == ":memory:" || strings.HasPrefix(c.Storage.DSN, "file:")) {
		v.problem("storage.dsn", "%q: give the path of a database file; crier keeps its store in a file (a memory database would lose everything at exit)", c.Storage.DSN)
	} else if c.Storage.Driver == "sqlite" {
		c.Storage.DSN = v.abs(c.Storage.DSN)
	}
	if c.Storage.Driver == "postgres" && c.Storage.DSN == "" {
		v.problem("storage.dsn", "a postgres dsn (URL) is required")
	}
	// [fetch], [feeds], [webhooks]
	v.duration("fetch.timeout", c.Fetch.TimeoutRaw, "30s", &c.Fetch.Timeout)
	v.size("fetch.max_body", c.Fetch.MaxBodyRaw, "10MiB", &c.Fetch.MaxBody)
	v.duration("feeds.max_age", c.Feeds.MaxAgeRaw, "5m", &c.Feeds.MaxAge)
	if c.Feeds.PageSize == 0 {
		c.Feeds.PageSize = 50
	}
	if c.Feeds.PageSize < 1 || c.Feeds.PageSize > 1000 {
		v.problem("feeds.page_size", "page_size must be between 1 and 1000")
	}
	v.size("feeds.cache_size", c.Feeds.CacheSizeRaw, "64MiB", &c.Feeds.CacheSize)
	v.size("feeds.max_item_size", c.Feeds.MaxItemSizeRaw, "256KiB", &c.Feeds.MaxItemSize)
	v.duration("webhooks.timeout", c.Webhooks.TimeoutRaw, "15s", &c.Webhooks.Timeout)
	if c.Webhooks.Concurrency == 0 {
		c.Webhooks.Concurrency = 64
	}
	if c.Webhooks.Concurrency < 1 || c.Webhooks.Concurrency > 10000 {
		v.problem("webhooks.concurrency", "concurrency must be between 1 and 10000")
	}
	v.size("webhooks.max_body", c.Webhooks.MaxBodyRaw, "1MiB", &c.Webhooks.MaxBody)

	v.sources()
	v.topics()
	v.subscribers()
}

func (v *validator) abs(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(v.cfg.Dir, p)
}

func (v *validator) id(key, kind, id string, seen map[string]bool) {
	switch {
	case id == "":
		v.problem(key, "%s id is required", kind)
	case !idRE.MatchString(id):
		v.problem(key+".id", "%s id %q must match [a-z0-9-]+", kind, id)
	case seen[id]:
		v.problem(key+".id", "duplicate %s id %q", kind, id)
	}
	seen[id] = true
}

func (v *validator) sources() {
	seen := map[string]bool{}
	for i := range v.cfg.Sources {
		s := &v.cfg.Sources[i]
		k := fmt.Sprintf("sources.%d", i)
		v.id(k, "source", s.ID, seen)
		if s.Name == "" {
			s.Name = s.ID
		}
		switch s.Kind {
		case "feed", "page":
			v.httpURL(k+".url", s.URL, true)
			v.publicURL(k+".url", s.URL, v.cfg.Fetch.AllowPrivateTargets, "fetch.allow_private_targets")
			if s.Path != "" {
				v.problem(k+".path", "path is for dir sources; a %s source takes url", s.Kind)
			}
			if s.Kind == "page" && strings.TrimSpace(s.Links) == "" {
				v.problem(k, "page source %q needs links, the CSS selector of its release links", s.ID)
			} else if s.Kind == "page" {
				if _, err := cascadia.Parse(s.Links); err != nil {
					v.problem(k+".links", "links %q is not a CSS selector crier can read: %v", s.Links, err)
				}
			}
		case "dir":
			if s.Path == "" {
				v.problem(k, "dir source %q needs a path", s.ID)
			} else {
				s.Path = v.abs(s.Path)
				if fi, err := os.Stat(s.Path); err != nil {
					v.problem(k+".path", "path %s does not exist or cannot be read", s.Path)
				} else if !fi.IsDir() {
					v.problem(k+".path", "path %s is a file; a dir source reads a folder", s.Path)
				}
			}
			if s.URL != "" {
				v.problem(k+".url", "url is for feed and page sources; a dir source takes path")
			}
		case "":
			v.problem(k, "source %q needs a kind: feed, page or dir", s.ID)
		default:
			v.problem(k+".kind", "unknown source kind %q: use feed, page or dir", s.Kind)
		}
		if s.Links != "" && s.Kind != "page" {
			v.problem(k+".links", "links is for page sources only")
		}
		v.schedule(k+".schedule", s.Schedule, "@every 15m", &s.Schedule)
		if s.Language != "" && !lang.Known(s.Language) {
			v.problem(k+".language", "language %q is not an ISO 639-1 code such as \"fr\"", s.Language)
		}
		s.Country = strings.ToUpper(s.Country)
		if s.Country != "" && (!countryRE.MatchString(s.Country) || !gazetteer.Countries().Known(s.Country)) {
			v.problem(k+".country", "country %q is not an ISO 3166-1 alpha-2 code such as \"BE\"", s.Country)
		}
	}
}

func (v *validator) topics() {
	seen := map[string]bool{}
	for i := range v.cfg.Topics {
		t := &v.cfg.Topics[i]
		k := fmt.Sprintf("topics.%d", i)
		switch {
		case t.Slug == "":
			v.problem(k, "topic slug is required")
		case !idRE.MatchString(t.Slug):
			v.problem(k+".slug", "topic slug %q must match [a-z0-9-]+", t.Slug)
		case seen[t.Slug]:
			v.problem(k+".slug", "duplicate topic slug %q", t.Slug)
		}
		seen[t.Slug] = true
		if t.Name == "" {
			t.Name = t.Slug
		}
		if len(t.Keywords) == 0 {
			v.problem(k, "topic %q has no keywords", t.Slug)
		}
		for l, words := range t.Keywords {
			kk := k + ".keywords." + l
			if !lang.Known(l) {
				v.problem(kk, "keywords language %q is not an ISO 639-1 code", l)
			}
			for j, w := range words {
				if strings.TrimSpace(w) == "" {
					v.problem(fmt.Sprintf("%s.%d", kk, j), "empty keyword")
				}
			}
		}
	}
}

func (v *validator) subscribers() {
	seen := map[string]bool{}
	topics := map[string]bool{}
	for _, t := range v.cfg.Topics {
		topics[t.Slug] = true
	}
	sources := map[string]bool{}
	for _, s := range v.cfg.Sources {
		sources[s.ID] = true
	}
	for i := range v.cfg.Subscribers {
		s := &v.cfg.Subscribers[i]
		k := fmt.Sprintf("subscribers.%d", i)
		v.id(k, "subscriber", s.ID, seen)
		v.httpURL(k+".url", s.URL, true)
		v.publicURL(k+".url", s.URL, v.cfg.Webhooks.AllowPrivateTargets, "webhooks.allow_private_targets")
		v.env(k+".secret", &s.Secret)
		if !validSecret(s.Secret) {
			v.problem(k+".secret", "secret must be whsec_ followed by base64 (Standard Webhooks); several are separated by spaces")
		}
		v.schedule(k+".schedule", s.Schedule, "", &s.Schedule)
		if s.Backfill == "" {
			s.Backfill = "0s"
		}
		if s.Backfill != "all" {
			if d, err := time.ParseDuration(s.Backfill); err != nil || d < 0 {
				v.problem(k+".backfill", "backfill %q is not a duration such as \"24h\" or \"all\"", s.Backfill)
			}
		}
		f := k + ".filter"
		for j, c := range s.Filter.Countries {
			s.Filter.Countries[j] = strings.ToUpper(c)
			if !countryRE.MatchString(s.Filter.Countries[j]) || !gazetteer.Countries().Known(s.Filter.Countries[j]) {
				v.problem(fmt.Sprintf("%s.countries.%d", f, j), "country %q is not an ISO 3166-1 alpha-2 code", c)
			}
		}
		for j, t := range s.Filter.Topics {
			if !topics[t] {
				v.problem(fmt.Sprintf("%s.topics.%d", f, j), "unknown topic %q", t)
			}
		}
		for j, l := range s.Filter.Languages {
			if !lang.Known(l) {
				v.problem(fmt.Sprintf("%s.languages.%d", f, j), "language %q is not an ISO 639-1 code", l)
			}
		}
		for j, src := range s.Filter.Sources {
			if !sources[src] {
				v.problem(fmt.Sprintf("%s.sources.%d", f, j), "unknown source %q", src)
			}
		}
	}
}

// validSecret reports whether s is a Standard Webhooks secret, or several
// separated by spaces (while a partner rotates from one to the next).
func validSecret(s string) bool {
	fields := strings.Fields(s)
	for _, f := range fields {
		b64, ok := strings.CutPrefix(f, "whsec_")
		if !ok || b64 == "" {
			return false
		}
		if _, err := base64.StdEncoding.DecodeString(b64); err != nil {
			return false
		}
	}
	return len(fields) > 0
}
