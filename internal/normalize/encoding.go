package normalize

import (
	"strings"
	"unicode"

	"golang.org/x/net/html"
)

// stripControls removes control characters other than line breaks and tabs,
// which binary files and broken encodings bring in.
func stripControls(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return r
		}
		if unicode.IsControl(r) || r == '\uFFFD' || r == '\uFEFF' {
			return -1
		}
		return r
	}, s)
}

// plainText returns s with any markup removed (the text of scripts and
// styles with it) and its spaces collapsed: a title is text on every path,
// whatever a page or a feed put in it.
func plainText(s string) string {
	if !strings.ContainsAny(s, "<&") {
		return strings.Join(strings.Fields(s), " ")
	}
	z := html.NewTokenizer(strings.NewReader(s))
	var b strings.Builder
	skip := 0
	for {
		switch z.Next() {
		case html.ErrorToken:
			return strings.Join(strings.Fields(b.String()), " ")
		case html.StartTagToken:
			if name, _ := z.TagName(); string(name) == "script" || string(name) == "style" {
				skip++
			}
			b.WriteByte(' ')
		case html.EndTagToken:
			if name, _ := z.TagName(); (string(name) == "script" || string(name) == "style") && skip > 0 {
				skip--
			}
			b.WriteByte(' ')
		case html.TextToken:
			if skip == 0 {
				b.Write(z.Text())
			}
		}
	}
}
