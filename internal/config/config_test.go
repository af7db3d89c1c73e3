package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const minimal = `
[server]
listen = "127.0.0.1:9999"

[[sources]]
id = "one"
kind = "dir"
path = "releases"

[[topics]]
slug = "refugees"
[topics.keywords]
fr = ["réfugié"]
`

func TestParseDefaults(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "releases"), 0o755)
	c, err := Parse(filepath.Join(dir, "config.toml"), []byte(minimal))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got, want := c.Server.BaseURL, "http://127.0.0.1:9999"; got != want {
		t.Errorf("base_url: got %q, want %q", got, want)
	}
	if got, want := c.Fetch.MaxBody, int64(10<<20); got != want {
		t.Errorf("max_body: got %d, want %d", got, want)
	}
	if got, want := c.Fetch.Timeout, 30*time.Second; got != want {
		t.Errorf("timeout: got %v, want %v", got, want)
	}
	if got, want := c.Feeds.PageSize, 50; got != want {
		t.Errorf("page_size: got %d, want %d", got, want)
	}
	if !filepath.IsAbs(c.Sources[0].Path) || filepath.Base(c.Sources[0].Path) != "releases" {
		t.Errorf("dir path not resolved against the config's folder: %q", c.Sources[0].Path)
	}
	if got, want := c.Sources[0].Schedule, "@every 15m"; got != want {
		t.Errorf("default schedule: got %q, want %q", got, want)
	}
	if c.Storage.Driver != "sqlite" || !filepath.IsAbs(c.Storage.DSN) {
		t.Errorf("storage defaults: got %q %q", c.Storage.Driver, c.Storage.DSN)
	}
}

func TestBundledConfig(t *testing.T) {
	c, err := Load("../../config.toml")
	if err != nil {
		t.Fatalf("the bundled config.toml does not load: %v", err)
	}
	if len(c.Sources) == 0 || c.Sources[0].Kind != "dir" {
		t.Fatalf("bundled config: want a dir source first, got %+v", c.Sources)
	}
	if _, err := os.Stat(c.Sources[0].Path); err != nil {
		t.Errorf("bundled dir source path: %v", err)
	}
}

func TestParseProblems(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string // "LINE:COL: substring"
	}{
		{
			name: "unknown key",
			doc:  "[server]\nlisten = \"x:1\"\nlistn = \"y\"\n",
			want: []string{`3:1: unknown key "server.listn"`},
		},
		{
			name: "unknown key in array table",
			doc:  "[[sources]]\nid = \"a\"\nkind = \"dir\"\npath = \".\"\ncolour = \"red\"\n",
			want: []string{`5:1: unknown key "sources.colour"`},
		},
		{
			name: "wrong type",
			doc:  "[feeds]\npage_size = \"fifty\"\n",
			want: []string{"2:13: "},
		},
		{
			name: "private targets",
			doc: "[[sources]]\nid = \"a\"\nkind = \"feed\"\nurl = \"http://127.1:8080/feed\"\n" +
				"[[subscribers]]\nid = \"p\"\nurl = \"http://localhost./hook\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\nschedule = \"@hourly\"\n",
			want: []string{`4:1: "http://127.1:8080/feed" is a loopback, private or special address, which crier refuses unless fetch.allow_private_targets = true`,
				`7:1: "http://localhost./hook" is a loopback, private or special address, which crier refuses unless webhooks.allow_private_targets = true`},
		},
		{
			name: "memory database",
			doc:  "[storage]\ndsn = \":memory:\"\n",
			want: []string{`2:1: ":memory:": give the path of a database file`},
		},
		{
			name: "bad cron",
			doc:  "[[sources]]\nid = \"a\"\nkind = \"dir\"\npath = \".\"\nschedule = \"every day\"\n",
			want: []string{`5:1: bad cron expression "every day"`},
		},
		{
			name: "second source, several problems",
			doc: "[[sources]]\nid = \"a\"\nkind = \"dir\"\npath = \".\"\n\n[[sources]]\nid = \"a\"\nkind = \"ftp\"\n" +
				"country = \"Belgium\"\n",
			want: []string{`7:1: duplicate source id "a"`, `8:1: unknown source kind "ftp"`, `9:1: country "BELGIUM"`},
		},
		{
			name: "bad id",
			doc:  "[[sources]]\nid = \"Bad_ID\"\nkind = \"feed\"\nurl = \"ftp://x\"\n",
			want: []string{`2:1: source id "Bad_ID" must match`, `4:1: "ftp://x" is not an absolute http(s) URL`},
		},
		{
			name: "page without links",
			doc:  "[[sources]]\nid = \"p\"\nkind = \"page\"\nurl = \"https://example.org/\"\n",
			want: []string{`1:3: page source "p" needs links`},
		},
		{
			name: "subscriber problems",
			doc: "[[topics]]\nslug = \"t\"\n[topics.keywords]\nen = [\"x\"]\n\n[[subscribers]]\nid = \"s\"\nurl = \"gopher://x\"\n" +
				"secret = \"plain\"\nschedule = \"@hourly\"\n[subscribers.filter]\ntopics = [\"t\", \"nope\"]\ncountries = [\"BEL\"]\n",
			want: []string{`8:1: "gopher://x" is not an absolute http(s) URL`, `9:1: secret must be whsec_`,
				`12:16: unknown topic "nope"`, `13:14: country "BEL"`},
		},
		{
			name: "unset env",
			doc:  "[server]\nadmin_token = \"env:CRIER_TEST_SURELY_UNSET\"\n",
			want: []string{`2:1: environment variable CRIER_TEST_SURELY_UNSET is not set`},
		},
		{
			name: "bad duration and size",
			doc:  "[fetch]\ntimeout = \"soon\"\nmax_body = \"lots\"\n",
			want: []string{`2:1: "soon" is not a positive duration`, `3:1: "lots" is not a size`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("config.toml", []byte(tt.doc))
			var cerr *Error
			if !errors.As(err, &cerr) {
				t.Fatalf("got error %v, want *config.Error", err)
			}
			text := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(text, "config.toml:"+w) {
					t.Errorf("missing problem %q in:\n%s", w, text)
				}
			}
			if len(cerr.Problems) != len(tt.want) {
				t.Errorf("got %d problems, want %d:\n%s", len(cerr.Problems), len(tt.want), text)
			}
		})
	}
}

func TestEnvValues(t *testing.T) {
	t.Setenv("CRIER_TEST_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	doc := "[[subscribers]]\nid = \"s\"\nurl = \"https://partner.example/hook\"\nsecret = \"env:CRIER_TEST_SECRET\"\nschedule = \"CRON_TZ=Europe/Brussels 0 * * * *\"\nbackfill = \"all\"\n"
	c, err := Parse("config.toml", []byte(doc))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := c.Subscribers[0].Secret; got != "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" {
		t.Errorf("secret not read from the environment: got %q", got)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"10MiB": 10 << 20, "512KiB": 512 << 10, "1MB": 1e6, "42": 42, "2 GiB": 2 << 30} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := ParseSize("ten"); err == nil {
		t.Error("ParseSize(\"ten\") succeeded")
	}
}

// crier check catches at once what would fail at run time, and a value of
// the wrong type in plain words without hiding the rest.
func TestCheckCatchesRunTimeFailures(t *testing.T) {
	dir := t.TempDir()
	doc := `[server]
listen = "localhost"
[fetch]
timeout = 30
max_body = true
[[sources]]
id = "a"
kind = "dir"
path = "no-such-folder"
[[sources]]
id = "b"
kind = "page"
url = "https://example.org/news"
links = "a[[["
[[topics]]
slug = "t"
[topics.keywords]
xx = ["word"]
`
	_, err := Parse(filepath.Join(dir, "config.toml"), []byte(doc))
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want problems", err)
	}
	got := err.Error()
	for _, want := range []string{
		`config.toml:2:1: listen "localhost" needs a host and a port`,
		`config.toml:4:`, `fetch.timeout: want a duration such as "30s", got the number 30`,
		`config.toml:5:`, `fetch.max_body: want a size such as "10MiB", got the boolean true`,
		`config.toml:9:1: path `, `does not exist`,
		`config.toml:14:1: links "a[[[" is not a CSS selector`,
		`keywords language "xx" is not an ISO 639-1 code`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %q:\n%s", want, got)
		}
	}
}
