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
	"strconv"
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
	keys := positions(data)
	// A value of the wrong type stops the decoder: it is reported in plain
	// words, its line set aside, and the decoding goes on, so that one
	// mistake does not hide the others.
	work := append([]byte(nil), data...)
	for attempt := 0; ; attempt++ {
		c = Config{}
		dec := toml.NewDecoder(bytes.NewReader(work))
		dec.DisallowUnknownFields()
		err := dec.Decode(&c)
		if err == nil {
			break
		}
		var strict *toml.StrictMissingError
		var derr *toml.DecodeError
		if errors.As(err, &strict) {
			// The rest of the document was decoded: go on and report the
			// other problems too.
			for _, e := range strict.Errors {
				line, col := e.Position()
				cerr.Problems = append(cerr.Problems, Problem{line, col, fmt.Sprintf("unknown key %q", strings.Join(e.Key(), "."))})
			}
			break
		}
		if !errors.As(err, &derr) {
			cerr.Problems = append(cerr.Problems, Problem{1, 1, err.Error()})
			return nil, cerr
		}
		line, col := derr.Position()
		msg, typeErr := wrongType(derr, keys, data, line)
		if !typeErr || attempt > 50 {
			cerr.Problems = append(cerr.Problems, Problem{line, col, strings.TrimPrefix(derr.Error(), "toml: ")})
			return nil, cerr
		}
		cerr.Problems = append(cerr.Problems, Problem{line, col, msg})
		work = blankLine(work, line)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config path: %w", err)
	}
	c.Path = abs
	c.Dir = filepath.Dir(abs)
	v := validator{cfg: &c, pos: keys, err: cerr}
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

// wrongType turns a decoder's type error into plain words: the key, what
// it wants, and what it got ("fetch.timeout: want a duration such as
// \"30s\", got the number 30"). ok is false for other errors.
func wrongType(derr *toml.DecodeError, keys map[string]pos, data []byte, line int) (msg string, ok bool) {
	if !strings.Contains(derr.Error(), "cannot decode") && !strings.Contains(derr.Error(), "cannot store") {
		return "", false
	}
	key := ""
	for k, p := range keys {
		if p.line == line && (key == "" || len(k) > len(key)) {
			key = k
		}
	}
	if key == "" {
		return "", false
	}
	got := ""
	if lines := strings.Split(string(data), "\n"); line-1 < len(lines) {
		if _, v, found := strings.Cut(lines[line-1], "="); found {
			got = strings.TrimSpace(v)
			if i := strings.Index(got, " #"); i >= 0 {
				got = strings.TrimSpace(got[:i])
			}
		}
	}
	switch {
	case strings.HasPrefix(got, "\"") || strings.HasPrefix(got, "'"):
		got = "the text " + got
	case got == "true" || got == "false":
		got = "the boolean " + got
	case strings.HasPrefix(got, "["):
		got = "a list"
	case strings.HasPrefix(got, "{"):
		got = "a table"
	case got != "":
		got = "the number " + got
	default:
		got = "a value of another type"
	}
	return fmt.Sprintf("%s: want %s, got %s", displayKey(key), want(key), got), true
}

// displayKey drops array indexes from a key path: sources.0.url becomes
// sources.url (the line says which).
func displayKey(k string) string {
	var out []string
	for _, p := range strings.Split(k, ".") {
		if _, err := strconv.Atoi(p); err != nil {
			out = append(out, p)
		}
	}
	return strings.Join(out, ".")
}

// want says what a key takes.
func want(key string) string {
	last := key[strings.LastIndexByte(key, '.')+1:]
	switch last {
	case "timeout", "max_age":
		return `a duration such as "30s"`
	case "max_body", "cache_size", "max_item_size":
		return `a size such as "10MiB"`
	case "page_size", "concurrency":
		return "a whole number"
	case "allow_private_targets":
		return "true or false"
	case "countries", "topics", "languages", "sources":
		return `a list of texts such as ["fr", "en"]`
	case "schedule":
		return `a cron expression or "@every 15m"`
	}
	if strings.Contains(key, "keywords") {
		return `a list of texts such as ["réfugié", "asile"]`
	}
	return "a text in quotes"
}

// blankLine comments out one line, keeping every position in the document.
func blankLine(data []byte, line int) []byte {
	lines := bytes.Split(data, []byte("\n"))
	if line-1 < len(lines) {
		lines[line-1] = append([]byte("#"), lines[line-1]...)
	}
	return bytes.Join(lines, []byte("\n"))
}
