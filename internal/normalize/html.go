package normalize

import (
	"html"
	"net/url"
	"strings"
	"time"

	xhtml "golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/crier-hub/crier/internal/sniff"
)

// htmlDoc is what the HTML path gets out of a page besides its blocks.
type htmlDoc struct {
	blocks []block
	title  string    // <title> or og:title, a fallback for the title
	date   time.Time // article:published_time, <time datetime>
	lang   string    // <html lang>
}

// skipped are elements whose content is never part of a release: code,
// embedded objects, forms and the page's frame.
var skipped = map[atom.Atom]bool{
	atom.Script: true, atom.Style: true, atom.Noscript: true, atom.Template: true,
	atom.Iframe: true, atom.Svg: true, atom.Math: true, atom.Form: true, atom.Button: true,
	atom.Select: true, atom.Nav: true, atom.Footer: true, atom.Aside: true,
	atom.Object: true, atom.Embed: true, atom.Canvas: true, atom.Dialog: true, atom.Menu: true,
}

var frameRoles = map[string]bool{"navigation": true, "banner": true, "contentinfo": true, "complementary": true, "search": true, "menu": true, "menubar": true, "dialog": true}

func attr(n *xhtml.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func isFrame(n *xhtml.Node) bool {
	if skipped[n.DataAtom] {
		return true
	}
	if frameRoles[strings.ToLower(attr(n, "role"))] || attr(n, "hidden") != "" || strings.EqualFold(attr(n, "aria-hidden"), "true") {
		return true
	}
	for _, tok := range strings.FieldsFunc(strings.ToLower(attr(n, "class")+" "+attr(n, "id")), func(r rune) bool {
		return r == ' ' || r == '-' || r == '_'
	}) {
		if frameTokens[tok] {
			return true
		}
	}
	return false
}

// frameTokens are class and id words that web pages give to their frame,
// whatever the site: menus, breadcrumbs, sharing, cookie banners.
var frameTokens = map[string]bool{
	"nav": true, "navbar": true, "navigation": true, "menu": true, "breadcrumb": true, "breadcrumbs": true,
	"footer": true, "masthead": true, "sidebar": true, "share": true, "sharing": true,
	"social": true, "cookie": true, "cookies": true, "consent": true, "gdpr": true, "related": true,
	"newsletter": true, "subscribe": true, "skip": true, "pagination": true, "pager": true, "toolbar": true,
	"advert": true, "ads": true, "promo": true, "comments": true,
}

// parseHTML extracts the blocks of a page's main content.
func parseHTML(src string, base *url.URL) htmlDoc {
	var d htmlDoc
	root, err := xhtml.Parse(strings.NewReader(src))
	if err != nil {
		return d
	}
	var body, main *xhtml.Node
	var walk func(*xhtml.Node)
	walk = func(n *xhtml.Node) {
		if n.Type == xhtml.ElementNode {
			switch n.DataAtom {
			case atom.Html:
				d.lang = attr(n, "lang")
			case atom.Title:
				if d.title == "" && n.FirstChild != nil {
					d.title = pageTitle(n.FirstChild.Data)
				}
			case atom.Meta:
				p := attr(n, "property") + attr(n, "name")
				switch p {
				case "og:title":
					d.title = collapseSpace(attr(n, "content"))
				case "article:published_time", "date", "DC.date", "dcterms.date", "pubdate":
					if t, ok := sniff.Date(attr(n, "content")); ok && d.date.IsZero() {
						d.date = t
					}
				}
			case atom.Time:
				if t, ok := sniff.Date(attr(n, "datetime")); ok && d.date.IsZero() {
					d.date = t
				}
			case atom.Body:
				body = n
			case atom.Article, atom.Main:
				if main == nil {
					main = n
				}
			}
			if strings.EqualFold(attr(n, "role"), "main") && main == nil {
				main = n
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(root)
	content := main
	if content == nil && body != nil {
		content = densest(body)
	}
	if content == nil {
		content = body
	}
	if content == nil {
		content = root
	}
	bw := blockWriter{inArticle: content == main && main != nil, base: base}
	bw.walk(content)
	bw.flush()
	d.blocks = bw.out
	return d
}

// blockWriter turns a DOM subtree into blocks, breaking at block elements.
type blockWriter struct {
	inArticle bool     // inside article or main, where a header holds the title
	base      *url.URL // resolves relative links; nil keeps only absolute ones
	out       []block
	text, htm strings.Builder
	kind      blockKind
	level     int
}

func (w *blockWriter) flush() {
	t := collapseSpace(w.text.String())
	h := collapseSpace(w.htm.String())
	if t != "" && !onlyMarks().MatchString(t) {
		// t is collapsed: its words are its spaces and one.
		w.out = append(w.out, block{kind: w.kind, level: w.level, text: t, html: h, nwords: strings.Count(t, " ") + 1})
	}
	w.text.Reset()
	w.htm.Reset()
	w.kind, w.level = para, 0
}

var blockAtoms = map[atom.Atom]bool{
	atom.P: true, atom.Div: true, atom.Section: true, atom.Article: true, atom.Main: true, atom.Blockquote: true,
	atom.Pre: true, atom.Ul: true, atom.Ol: true, atom.Li: true, atom.Dl: true, atom.Dt: true, atom.Dd: true,
	atom.Table: true, atom.Tr: true, atom.Td: true, atom.Th: true, atom.H1: true, atom.H2: true, atom.H3: true,
	atom.H4: true, atom.H5: true, atom.H6: true, atom.Br: true, atom.Hr: true, atom.Figure: true, atom.Figcaption: true,
	atom.Address: true,
}

func (w *blockWriter) walk(n *xhtml.Node) {
	switch n.Type {
	case xhtml.TextNode:
		w.text.WriteString(n.Data)
		w.htm.WriteString(html.EscapeString(n.Data))
		return
	case xhtml.ElementNode:
		if isFrame(n) || (n.DataAtom == atom.Header && !w.inArticle) {
			return
		}
		if n.DataAtom == atom.Article || n.DataAtom == atom.Main {
			defer func(was bool) { w.inArticle = was }(w.inArticle)
			w.inArticle = true
		}
	case xhtml.DocumentNode:
	default:
		return
	}
	isBlock := blockAtoms[n.DataAtom]
	if isBlock {
		w.flush()
		switch n.DataAtom {
		case atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6:
			w.kind, w.level = heading, int(n.Data[1]-'0')
		case atom.Li:
			w.kind = listItem
		}
	}
	var closeTag string
	if n.DataAtom == atom.A {
		if href := absolute(w.base, strings.TrimSpace(attr(n, "href"))); safeHref(href) {
			w.htm.WriteString(`<a href="` + html.EscapeString(href) + `">`)
			closeTag = "</a>"
		}
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		w.walk(c)
	}
	w.htm.WriteString(closeTag)
	if isBlock {
		w.flush()
	}
}

// densest finds, on a page without article or main, the element whose
// paragraphs hold the most text: the release, rather than the menus and
// lists around it. It returns nil when no element stands out.
func densest(body *xhtml.Node) *xhtml.Node {
	var best *xhtml.Node
	bestLen := 0
	var walk func(n *xhtml.Node)
	walk = func(n *xhtml.Node) {
		if n.Type == xhtml.ElementNode && isFrame(n) {
			return
		}
		if n.Type == xhtml.ElementNode && (n.DataAtom == atom.Div || n.DataAtom == atom.Section || n.DataAtom == atom.Td) {
			l := 0
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				if c.Type == xhtml.ElementNode && (c.DataAtom == atom.P || c.DataAtom == atom.H1 || c.DataAtom == atom.H2) {
					l += textLen(c)
				}
			}
			if l > bestLen {
				best, bestLen = n, l
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(body)
	if bestLen < 200 {
		return nil
	}
	return best
}

func textLen(n *xhtml.Node) int {
	if n.Type == xhtml.TextNode {
		return len(strings.TrimSpace(n.Data))
	}
	l := 0
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		l += textLen(c)
	}
	return l
}

// pageTitle drops the site's name from a <title>: "Release | Site",
// "Site – Release": the longest part is the release's.
func pageTitle(s string) string {
	s = collapseSpace(s)
	best := s
	for _, sep := range []string{" | ", " – ", " — ", " - ", " :: ", " · "} {
		if !strings.Contains(s, sep) {
			continue
		}
		best = ""
		for _, part := range strings.Split(s, sep) {
			if len(part) > len(best) {
				best = part
			}
		}
		break
	}
	return best
}

// absolute resolves a link against the document's address, so that a
// relative link still leads somewhere once republished.
func absolute(base *url.URL, href string) string {
	if base == nil || href == "" || strings.HasPrefix(href, "#") {
		return href
	}
	u, err := url.Parse(href)
	if err != nil {
		return href
	}
	return base.ResolveReference(u).String()
}
