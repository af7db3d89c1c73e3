package gather

import (
	"bytes"
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
)

var (
	linkTagRE  = regexp.MustCompile(`(?is)<(?:atom:)?link\b[^>]*>`)
	relAttrRE  = regexp.MustCompile(`(?is)\brel\s*=\s*["']([^"']*)["']`)
	hrefAttrRE = regexp.MustCompile(`(?is)\bhref\s*=\s*["']([^"']*)["']`)
	linkHdrRE  = regexp.MustCompile(`<([^>]*)>\s*;([^,]*)`)
)

// Discover finds a feed's WebSub hub and topic (W3C WebSub, section 4):
// the HTTP Link headers first, then the document's own links (an Atom or
// RSS link rel="hub", a JSON Feed's hubs). The topic is the rel="self"
// link, else the address the feed was fetched from. hub is "" when the
// feed names none.
func Discover(body []byte, links []string, fetched string) (hub, topic string) {
	for _, h := range links {
		for _, m := range linkHdrRE.FindAllStringSubmatch(h, -1) {
			rels := strings.Fields(strings.ToLower(strings.Trim(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(m[2]), "rel=")), `"`)))
			for _, rel := range rels {
				switch rel {
				case "hub":
					hub = cmpOr(hub, resolve(fetched, m[1]))
				case "self":
					topic = cmpOr(topic, resolve(fetched, m[1]))
				}
			}
		}
	}
	trimmed := bytes.TrimSpace(body[:min(len(body), 1<<20)])
	if bytes.HasPrefix(trimmed, []byte("{")) {
		var jf struct {
			FeedURL string `json:"feed_url"`
			Hubs    []struct {
				Type string `json:"type"`
				URL  string `json:"url"`
			} `json:"hubs"`
		}
		if json.Unmarshal(trimmed, &jf) == nil {
			for _, h := range jf.Hubs {
				if strings.EqualFold(h.Type, "websub") || strings.EqualFold(h.Type, "pubsubhubbub") {
					hub = cmpOr(hub, resolve(fetched, h.URL))
				}
			}
			topic = cmpOr(topic, resolve(fetched, jf.FeedURL))
		}
	} else {
		// The channel's own links come before the entries': look only at
		// the head of the document, the only part made a string.
		cut := trimmed
		if i := indexTag(cut, "<item"); i > 0 {
			cut = cut[:i]
		}
		if i := indexTag(cut, "<entry"); i > 0 {
			cut = cut[:i]
		}
		head := string(cut)
		for _, tag := range linkTagRE.FindAllString(head, -1) {
			rel := relAttrRE.FindStringSubmatch(tag)
			href := hrefAttrRE.FindStringSubmatch(tag)
			if rel == nil || href == nil {
				continue
			}
			for _, r := range strings.Fields(strings.ToLower(rel[1])) {
				switch r {
				case "hub":
					hub = cmpOr(hub, resolve(fetched, href[1]))
				case "self":
					topic = cmpOr(topic, resolve(fetched, href[1]))
				}
			}
		}
	}
	if hub != "" {
		if u, err := url.Parse(hub); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			hub = ""
		}
	}
	return hub, cmpOr(topic, fetched)
}

// indexTag is where the first tag (a '<' and a lower-case ASCII name)
// starts in s, whatever the case it is written in, or -1; the document is
// not lowered whole.
func indexTag(s []byte, tag string) int {
	for i := 0; ; i++ {
		j := bytes.IndexByte(s[i:], '<')
		if j < 0 {
			return -1
		}
		if i += j; i+len(tag) <= len(s) && bytes.EqualFold(s[i:i+len(tag)], []byte(tag)) {
			return i
		}
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
