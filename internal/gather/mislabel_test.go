package gather

import (
	"strings"
	"testing"

	"golang.org/x/text/encoding/charmap"
)

// A document that declares a single-byte charset but is sent as UTF-8 (a
// common publishing mistake) is read as UTF-8; one really in that charset
// is read in it.
func TestMislabelledSingleByteCharset(t *testing.T) {
	const text = "Madrid, 14 de noviembre – La Organización apoya a las personas llegadas a España."
	latin1, err := charmap.Windows1252.NewEncoder().String(text)
	if err != nil {
		t.Fatal(err)
	}
	feed := func(body string) []byte {
		return []byte(`<?xml version="1.0" encoding="ISO-8859-1"?><rss version="2.0"><channel><title>t</title><link>http://x/</link><description>d</description>` +
			`<item><title>t</title><link>http://x/1</link><description>` + body + `</description></item></channel></rss>`)
	}
	for name, body := range map[string]string{"utf-8 bytes": text, "latin-1 bytes": latin1} {
		p, err := ParseFeed(feed(body), "application/rss+xml", "http://x/")
		if err != nil || len(p.Docs) != 1 {
			t.Fatalf("%s: %v", name, err)
		}
		if got := string(p.Docs[0].Raw); got != text {
			t.Errorf("feed, %s: got %q", name, got)
		}
		page := `<html><head><meta charset="iso-8859-1"></head><body><p>` + body + `</p></body></html>`
		if got := string(Decode([]byte(page), "text/html")); !strings.Contains(got, text) {
			t.Errorf("page, %s: got %q", name, got)
		}
	}
}
