// Package config loads and validates crier's config.toml.
//
// Decoding is strict: unknown keys and wrong types are errors that carry the
// line and column where they occur, and so does every validation problem, so
// that `crier check` can print them the way a compiler does.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// Config is the whole of config.toml, with defaults applied, durations and
// sizes parsed, env: values resolved and relative paths made absolute.
type Config struct {
	Server      Server       `toml:"server"`
	Storage     Storage      `toml:"storage"`
	Fetch       Fetch        `toml:"fetch"`
	Feeds       Feeds        `toml:"feeds"`
	Webhooks    Webhooks     `toml:"webhooks"`
	Sources     []Source     `toml:"sources"`
	Topics      []Topic      `toml:"topics"`
	Subscribers []Subscriber `toml:"subscribers"`

	// Version is crier's version, wired in by cmd/crier: it names crier in
	// User-Agents and in the feeds' generator.
	Version string `toml:"-"`

	// Path is the file the config was read from; Dir is its folder.
	Path string `toml:"-"`
	Dir  string `toml:"-"`
}

// Server is the [server] table.
type Server struct {
	Listen     string `toml:"listen"`
	BaseURL    string `toml:"base_url"`
	AdminToken string `toml:"admin_token"`
}

// Storage is the [storage] table.
type Storage struct {
	Driver string `toml:"driver"`
	DSN    string `toml:"dsn"`
}

// Fetch is the [fetch] table.
type Fetch struct {
	TimeoutRaw          string `toml:"timeout"`
	MaxBodyRaw          string `toml:"max_body"`
	AllowPrivateTargets bool   `toml:"allow_private_targets"`

	Timeout time.Duration `toml:"-"`
	MaxBody int64         `toml:"-"`
}

// Feeds is the [feeds] table.
type Feeds struct {
	MaxAgeRaw      string `toml:"max_age"`
	PageSize       int    `toml:"page_size"`
	CacheSizeRaw   string `toml:"cache_size"`    // memory for rendered feeds
	MaxItemSizeRaw string `toml:"max_item_size"` // an item's text and HTML, each

	MaxAge      time.Duration `toml:"-"`
	CacheSize   int64         `toml:"-"`
	MaxItemSize int64         `toml:"-"`
}

// Webhooks is the [webhooks] table.
type Webhooks struct {
	TimeoutRaw          string `toml:"timeout"`
	MaxBodyRaw          string `toml:"max_body"`
	AllowPrivateTargets bool   `toml:"allow_private_targets"`
	// Concurrency bounds the requests in flight at once, across partners
	// (one at a time per partner).
	Concurrency int `toml:"concurrency"`

	Timeout time.Duration `toml:"-"`
	MaxBody int64         `toml:"-"`
}

// Source is one [[sources]] entry.
type Source struct {
	ID       string `toml:"id"`
	Name     string `toml:"name"`
	Kind     string `toml:"kind"`
	URL      string `toml:"url"`
	Path     string `toml:"path"`
	Schedule string `toml:"schedule"`
	Language string `toml:"language"`
	Country  string `toml:"country"`
	Links    string `toml:"links"`
}

// Topic is one [[topics]] entry of the taxonomy.
type Topic struct {
	Slug     string              `toml:"slug"`
	Name     string              `toml:"name"`
	Keywords map[string][]string `toml:"keywords"`
}

// Subscriber is one [[subscribers]] entry: a partner's webhook.
type Subscriber struct {
	ID       string `toml:"id"`
	URL      string `toml:"url"`
	Secret   string `toml:"secret"`
	Schedule string `toml:"schedule"`
	Backfill string `toml:"backfill"`
	Filter   Filter `toml:"filter"`
}

// Filter selects the items a subscriber receives; empty fields match all.
type Filter struct {
	Countries []string `toml:"countries"`
	Topics    []string `toml:"topics"`
	Languages []string `toml:"languages"`
	Sources   []string `toml:"sources"`
}

// Problem is one thing wrong with a config file, at a place in it.
type Problem struct {
	Line, Col int
	Msg       string
}

// Error is every problem found in one config file.
type Error struct {
	Path     string
	Problems []Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s:%d:%d: %s", e.Path, p.Line, p.Col, p.Msg)
	}
	return b.String()
}

// Load reads, decodes and validates the config file at path. A non-nil error
// is an *Error listing every problem, or an I/O error.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(filepath.Clean(path), data)
}

// Parse decodes and validates a config document; path names it in errors and
// anchors relative paths.
func Parse(path string, data []byte) (*Config, error) {
	cerr := &Error{Path: path}
	var c Config
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		var strict *toml.StrictMissingError
		var derr *toml.DecodeError
		switch {
		case errors.As(err, &strict):
			// The rest of the document was decoded: go on and report the
			// other problems too.
			for _, e := range strict.Errors {
				line, col := e.Position()
				cerr.Problems = append(cerr.Problems, Problem{line, col, fmt.Sprintf("unknown key %q", strings.Join(e.Key(), "."))})
			}
		case errors.As(err, &derr):
			line, col := derr.Position()
			cerr.Problems = append(cerr.Problems, Problem{line, col, strings.TrimPrefix(derr.Error(), "toml: ")})
			return nil, cerr
		default:
			cerr.Problems = append(cerr.Problems, Problem{1, 1, err.Error()})
			return nil, cerr
		}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config path: %w", err)
	}
	c.Path = abs
	c.Dir = filepath.Dir(abs)
	v := validator{cfg: &c, pos: positions(data), err: cerr}
	v.run()
	sort.SliceStable(cerr.Problems, func(i, j int) bool {
		a, b := cerr.Problems[i], cerr.Problems[j]
		return a.Line < b.Line || (a.Line == b.Line && a.Col < b.Col)
	})
	if len(cerr.Problems) > 0 {
		return nil, cerr
	}
	return &c, nil
}
