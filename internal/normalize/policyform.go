package normalize

import (
	"html"
	"net/url"
	"strings"
	"unicode/utf8"
)

// sanitize returns h as the sanitizing policy gives it. A body crier wrote
// from blocks is, nearly always, in the policy's form already: escaped
// text, paragraphs, headings and lists without attributes, and links to
// http, https or mailto addresses written as net/url writes them. Such a
// body is returned as it is once a scan has checked every byte of it (the
// policy would give it back unchanged: a test holds the two to each
// other); any other goes through the policy.
func (n *Normalizer) sanitize(h string) string {
	if inPolicyForm(h) {
		return h
	}
	return n.policy.Sanitize(h)
}

// ownTags are the tags, written without attributes, that the policy keeps
// as they are.
var ownTags = map[string]bool{"<p>": true, "</p>": true, "<h3>": true, "</h3>": true,
	"<ul>": true, "</ul>": true, "<li>": true, "</li>": true, "</a>": true}

// textEscapes are the references html.EscapeString writes, the only ones
// the policy writes back the same.
var textEscapes = []string{"&amp;", "&lt;", "&gt;", "&#39;", "&#34;"}

// inPolicyForm reports whether h holds nothing but what the policy writes
// back unchanged: text that is valid UTF-8 with no control character but
// a line feed and no unescaped <, >, &, ' or "; the tags of ownTags; and
// links of policyHref.
func inPolicyForm(h string) bool {
	if !utf8.ValidString(h) {
		return false
	}
	for i := 0; i < len(h); {
		switch c := h[i]; {
		case c == '<':
			j := strings.IndexByte(h[i:], '>')
			if j < 0 {
				return false
			}
			tag := h[i : i+j+1]
			if !ownTags[tag] {
				v, ok := strings.CutPrefix(tag, `<a href="`)
				if v, ok = strings.CutSuffix(v, `">`); !ok || !policyHref(v) {
					return false
				}
			}
			i += j + 1
		case c == '&':
			n := escapeAt(h[i:])
			if n == 0 {
				return false
			}
			i += n
		case c == '>' || c == '"' || c == '\'' || c < 0x20 && c != '\n' || c == 0x7F:
			return false
		default:
			i++
		}
	}
	return true
}

// escapeAt is the length of the textEscapes reference s starts with, or 0.
func escapeAt(s string) int {
	for _, e := range textEscapes {
		if strings.HasPrefix(s, e) {
			return len(e)
		}
	}
	return 0
}

// policyHref reports whether v, a link's escaped address, is one the
// policy writes back as it is: escaped as html.EscapeString escapes, an
// http, https or mailto URL with no space that net/url parses and writes
// again the same.
func policyHref(v string) bool {
	raw := html.UnescapeString(v)
	if html.EscapeString(raw) != v || strings.ContainsAny(raw, " \t\n\r\f\v\x00") {
		return false
	}
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	switch u.Scheme {
	case "http", "https", "mailto":
	default:
		return false
	}
	return u.String() == raw
}
