package normalize

import (
	"strings"
	"unicode"

	"golang.org/x/net/html"
)

// stripControls removes control characters other than line breaks and tabs,
// which binary files and broken encodings bring in.
func stripControls(s string) string {
	if !hasControls(s) {
		return s
	}
	return strings.Map(dropControl, s)
}

// dropControl maps the runes stripControls removes to -1.
func dropControl(r rune) rune {
	if r == '\n' || r == '\r' || r == '\t' {
		return r
	}
	if unicode.IsControl(r) || r == '\uFFFD' || r == '\uFEFF' {
		return -1
	}
	return r
}

// hasControls reports whether stripControls would change s, reading its
// bytes: C0 controls but line breaks and tabs, DEL, the C1 controls
// (C2 80 to C2 9F in UTF-8), U+FFFD (EF BF BD) and U+FEFF (EF BB BF).
func hasControls(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20:
			if c != '\n' && c != '\r' && c != '\t' {
				return true
			}
		case c == 0x7F:
			return true
		case c == 0xC2:
			if i+1 < len(s) && s[i+1] >= 0x80 && s[i+1] <= 0x9F {
				return true
			}
		case c == 0xEF:
			if i+2 < len(s) && (s[i+1] == 0xBF && s[i+2] == 0xBD || s[i+1] == 0xBB && s[i+2] == 0xBF) {
				return true
			}
		}
	}
	return false
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
