package gather

import "testing"

// A feed's hub and self links are read from its head, before its first
// entry, whatever case its tags are written in and whatever text comes
// before them; an entry's links are not the feed's.
func TestDiscover(t *testing.T) {
	const base = "https://office.example.org/feed.xml"
	for _, c := range []struct {
		name, doc, hub, topic string
	}{
		{"rss", `<?xml version="1.0"?><rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel><title>Bureau İstanbul</title>
			<atom:link rel="hub" href="https://hub.example.net/"/><atom:link rel="self" href="https://office.example.org/rss"/>
			<item><title>x</title><atom:link rel="hub" href="https://wrong.example.net/"/></item></channel></rss>`,
			"https://hub.example.net/", "https://office.example.org/rss"},
		{"upper-case entries", `<FEED xmlns="http://www.w3.org/2005/Atom"><TITLE>İİİİ</TITLE><ENTRY><link rel="hub" href="https://wrong.example.net/"/></ENTRY>
			<link rel="hub" href="https://late.example.net/"/></FEED>`, "", base},
		{"atom", `<feed xmlns="http://www.w3.org/2005/Atom"><link rel="self" href="/atom"/><link rel="hub" href="http://hub.example.net/h"/>
			<entry><link rel="self" href="/entry"/></entry></feed>`, "http://hub.example.net/h", "https://office.example.org/atom"},
		{"no head", `<rss><channel><item><link>https://office.example.org/1</link></item></channel></rss>`, "", base},
	} {
		hub, topic := Discover([]byte(c.doc), nil, base)
		if hub != c.hub || topic != c.topic {
			t.Errorf("%s: hub %q, topic %q; want %q, %q", c.name, hub, topic, c.hub, c.topic)
		}
	}
	if i := indexTag([]byte("<a><ITEMS><item>"), "<item"); i != 3 {
		t.Errorf("indexTag found <item at %d, want 3", i)
	}
	if i := indexTag([]byte("<a"), "<item"); i != -1 {
		t.Errorf("indexTag found <item in %q at %d", "<a", i)
	}
}
