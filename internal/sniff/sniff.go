// Package sniff holds the two guesses both the source reader (gather) and
// the normalizer make about outside text: whether it is an HTML page, and
// which instant a machine-written date names.
package sniff

import (
	"strings"
	"time"
)

// HTML reports whether s looks like an HTML page (not a fragment, not a
// feed): it opens with a doctype or an html element, or has a head or body
// element near the start.
func HTML(s string) bool {
	s = strings.TrimLeft(s, " \t\r\n\ufeff")
	head := strings.ToLower(s[:min(len(s), 1024)])
	return strings.HasPrefix(head, "<!doctype html") || strings.Contains(head, "<html") ||
		strings.Contains(head, "<head") || strings.Contains(head, "<body")
}

// dateLayouts are the machine-written forms found in feeds, HTTP headers
// and page metadata: RFC 3339 and its ISO 8601 relatives, RFC 1123 and
// RFC 822 with their usual variants.
var dateLayouts = []string{
	time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02",
	time.RFC1123Z, time.RFC1123, time.RFC822Z, time.RFC822,
	"Mon, 2 Jan 2006 15:04:05 -0700", "Mon, 2 Jan 2006 15:04:05 MST",
	"2 Jan 2006 15:04:05 -0700", "2 Jan 2006 15:04:05 MST",
}

// Date parses a machine-written date and returns it in UTC. A time without
// a zone is taken as UTC. Human prose ("12 de mayo de 2022") is the
// normalizer's business, not this function's.
func Date(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}
