package gather

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseFeed feeds arbitrary bytes to the feed reader: it must return
// documents or an error, never panic, and what it returns is UTF-8.
func FuzzParseFeed(f *testing.F) {
	f.Add([]byte(`<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item><title>a</title><guid>1</guid></item></channel></rss>`), "application/rss+xml")
	f.Add([]byte(`<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>x</id><title>T</title></entry></feed>`), "")
	f.Add([]byte(`{"version":"https://jsonfeed.org/version/1.1","items":[{"id":NaN,"title":["x"]}]}`), "application/feed+json")
	f.Add([]byte("\xff\xfe<\x00r\x00s\x00s\x00>\x00"), "text/xml; charset=utf-16")
	if files, _ := filepath.Glob("../../internal/normalize/testdata/golden/*/*.html"); len(files) > 0 {
		b, _ := os.ReadFile(files[0])
		f.Add(b, "text/html")
	}
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		p, err := ParseFeed(body, contentType, "https://example.org/")
		if err != nil {
			return
		}
		for _, d := range p.Docs {
			if !utf8.ValidString(d.Title) || !utf8.Valid(d.Raw) || d.Key == "" {
				t.Fatalf("bad document: key %q title %q", d.Key, d.Title)
			}
			if d.URL != "" && !strings.HasPrefix(d.URL, "http") {
				t.Fatalf("non-http URL %q", d.URL)
			}
		}
	})
}

// FuzzLinks runs the page path's link extraction on arbitrary HTML.
func FuzzLinks(f *testing.F) {
	f.Add([]byte(`<ul class="news"><li><a href="/a">A</a></li><li><a href="javascript:x">B</a></li></ul>`), "ul.news a")
	f.Add([]byte(`<base href="https://other.example/x/"><div><a href="../y">Y</a></div>`), "div a")
	f.Fuzz(func(t *testing.T, page []byte, selector string) {
		links, err := Links(page, "text/html", "https://example.org/news", selector)
		if err == nil && len(links) == 0 {
			t.Fatal("no error and no links")
		}
		for _, l := range links {
			if !strings.HasPrefix(l, "http://") && !strings.HasPrefix(l, "https://") {
				t.Fatalf("link %q is not http(s)", l)
			}
		}
	})
}
