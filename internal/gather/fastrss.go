package gather

import (
	"cmp"
	"html"
	"strings"
	"time"

	"github.com/mmcdole/gofeed"
)

// fastRSS reads the commonest feed there is, a plain and well-formed RSS
// 2.0 document, in one pass over its text, and gives the documents that
// the general path (gofeed, with the strict XML check beside it) gives for
// it. Anything outside that plain form makes it answer ok=false, and the
// caller takes the general path, which reads every form: a DOCTYPE,
// another encoding than UTF-8, entities beyond XML's five, xml:base,
// namespaces declared below the root, comments inside an item, a date
// other than RFC 822's with a numeric zone or GMT, an element twice in an
// item, and any element of Dublin Core, Atom or iTunes that gofeed would
// read into a field crier keeps. TestFastRSSAgrees and, over the shared
// corpora, TestFastRSSAgreesOnCorpus hold it to the general path. Its
// text is toUTF8's: valid UTF-8 without the characters XML forbids
// (TestToUTF8GivesPlainText), which it does not read the document again
// to learn (twice over, a sixth of parsing a feed of 50 releases).
func fastRSS(s, base string) (Parsed, bool) {
	if strings.HasPrefix(s, "\uFEFF") {
		return Parsed{}, false
	}
	r := rssScan{s: s}
	if !r.prolog() || !r.document() || !r.epilog() || !r.channel {
		return Parsed{}, false
	}
	if r.link == "" && r.atomLink {
		return Parsed{}, false // gofeed would take the channel's link from atom:link
	}
	p := Parsed{Format: "rss"}
	if len(r.items) > 0 {
		p.Docs = make([]Doc, 0, len(r.items))
	}
	base = cmp.Or(r.link, base)
	for i := range r.items {
		p.Docs = append(p.Docs, itemDoc(&r.items[i], base))
	}
	return p, true
}

// What an open element is to the reader.
const (
	kOther    = iota
	kRoot     // rss
	kChannel  // rss/channel
	kItem     // rss/channel/item
	kChanLink // rss/channel/link
	kTitle    // the fields of an item, from here on
	kDesc
	kLink
	kGUID
	kDate
	kContent
)

type openElem struct {
	name  string
	inner int // where its content starts
	kind  int
}

type rssScan struct {
	s        string
	i        int
	ns       map[string]string // prefix → URI, all declared on the root
	stack    []openElem
	channel  bool
	link     string
	atomLink bool
	items    []gofeed.Item
	seen     uint // the fields the current item has had
}

func isSpaceByte(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

func (r *rssScan) skipSpace() {
	for r.i < len(r.s) && isSpaceByte(r.s[r.i]) {
		r.i++
	}
}

// name reads an ASCII XML name with at most one colon, not at either end.
func (r *rssScan) name() (string, bool) {
	start, colon := r.i, -1
	for r.i < len(r.s) {
		b := r.s[r.i]
		switch {
		case b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b == '_':
		case b >= '0' && b <= '9' || b == '-' || b == '.':
			if r.i == start || r.i == colon+1 {
				return "", false
			}
		case b == ':':
			if colon >= 0 || r.i == start {
				return "", false
			}
			colon = r.i
		default:
			if b >= 0x80 {
				return "", false
			}
			if r.i == start || r.i == colon+1 {
				return "", false
			}
			return r.s[start:r.i], true
		}
		r.i++
	}
	return "", false
}

// refsOK says every & in t starts one of XML's five entities or a
// character reference to a character XML allows.
func refsOK(t string) bool {
	for {
		k := strings.IndexByte(t, '&')
		if k < 0 {
			return true
		}
		t = t[k+1:]
		end := strings.IndexByte(t, ';')
		if end < 1 || end > 9 {
			return false
		}
		ref := t[:end]
		t = t[end+1:]
		if ref[0] != '#' {
			switch ref {
			case "amp", "lt", "gt", "quot", "apos":
				continue
			}
			return false
		}
		digits, b := ref[1:], 10
		if len(digits) > 0 && digits[0] == 'x' {
			digits, b = digits[1:], 16
		}
		if len(digits) == 0 {
			return false
		}
		c := 0
		for i := 0; i < len(digits); i++ {
			d := digits[i]
			switch {
			case d >= '0' && d <= '9':
				c = c*b + int(d-'0')
			case b == 16 && d >= 'a' && d <= 'f':
				c = c*b + int(d-'a'+10)
			case b == 16 && d >= 'A' && d <= 'F':
				c = c*b + int(d-'A'+10)
			default:
				return false
			}
		}
		if !(c == 0x9 || c == 0xA || c == 0xD || c >= 0x20 && c <= 0xD7FF || c >= 0xE000 && c <= 0xFFFD || c >= 0x10000 && c <= 0x10FFFF) {
			return false
		}
	}
}

// prolog reads an optional UTF-8 XML declaration at the very start, then
// spaces, comments and processing instructions up to the root.
func (r *rssScan) prolog() bool {
	if strings.HasPrefix(r.s, "<?xml") && len(r.s) > 5 && isSpaceByte(r.s[5]) {
		end := strings.Index(r.s, "?>")
		if end < 0 || !declOK(r.s[5:end]) {
			return false
		}
		r.i = end + 2
	}
	return r.misc()
}

// declOK reads the pseudo-attributes of an XML declaration: version 1.0,
// encoding UTF-8 if any, standalone.
func declOK(d string) bool {
	x := rssScan{s: d}
	attrs, ok := x.attributes()
	if !ok || x.i != len(d) {
		return false
	}
	version := false
	for _, a := range attrs {
		switch a.name {
		case "version":
			version = a.value == "1.0"
		case "encoding":
			if !strings.EqualFold(a.value, "utf-8") {
				return false
			}
		case "standalone":
		default:
			return false
		}
	}
	return version
}

// attributes reads name="value" pairs, each after a space and no name
// twice, up to the end of the text or a > or /.
func (r *rssScan) attributes() ([]attr, bool) {
	var attrs []attr
	for {
		spaced := r.i < len(r.s) && isSpaceByte(r.s[r.i])
		r.skipSpace()
		if r.i == len(r.s) || r.s[r.i] == '>' || r.s[r.i] == '/' {
			return attrs, true
		}
		if !spaced {
			return nil, false
		}
		n, ok := r.name()
		if !ok {
			return nil, false
		}
		v, ok := r.attrValue()
		if !ok {
			return nil, false
		}
		for _, a := range attrs {
			if a.name == n {
				return nil, false
			}
		}
		attrs = append(attrs, attr{n, v})
	}
}

// attrValue reads `= "value"` with spaces allowed around the =.
func (r *rssScan) attrValue() (string, bool) {
	r.skipSpace()
	if r.i >= len(r.s) || r.s[r.i] != '=' {
		return "", false
	}
	r.i++
	r.skipSpace()
	if r.i >= len(r.s) || (r.s[r.i] != '"' && r.s[r.i] != '\'') {
		return "", false
	}
	q := r.s[r.i]
	r.i++
	end := strings.IndexByte(r.s[r.i:], q)
	if end < 0 {
		return "", false
	}
	v := r.s[r.i : r.i+end]
	r.i += end + 1
	if strings.IndexByte(v, '<') >= 0 || !refsOK(v) {
		return "", false
	}
	return v, true
}

// misc skips spaces, comments and processing instructions outside the
// root, stopping at the next element or the end.
func (r *rssScan) misc() bool {
	for {
		r.skipSpace()
		switch rest := r.s[r.i:]; {
		case rest == "":
			return true
		case strings.HasPrefix(rest, "<!--"):
			if !r.comment() {
				return false
			}
		case strings.HasPrefix(rest, "<?"):
			if !r.pi() {
				return false
			}
		case strings.HasPrefix(rest, "<!"):
			return false // DOCTYPE
		case rest[0] == '<':
			return true
		default:
			return false
		}
	}
}

func (r *rssScan) comment() bool {
	end := strings.Index(r.s[r.i+4:], "-->")
	if end < 0 {
		return false
	}
	c := r.s[r.i+4 : r.i+4+end]
	if strings.Contains(c, "--") || strings.HasSuffix(c, "-") {
		return false
	}
	r.i += 4 + end + 3
	return true
}

func (r *rssScan) pi() bool {
	r.i += 2
	target, ok := r.name()
	if !ok || strings.EqualFold(target, "xml") || strings.IndexByte(target, ':') >= 0 {
		return false
	}
	end := strings.Index(r.s[r.i:], "?>")
	if end < 0 || (end > 0 && !isSpaceByte(r.s[r.i])) {
		return false
	}
	r.i += end + 2
	return true
}

func (r *rssScan) epilog() bool {
	return r.misc() && r.i == len(r.s)
}

// document reads the root element and everything in it.
func (r *rssScan) document() bool {
	if !r.startTag() {
		return false
	}
	for len(r.stack) > 0 {
		k := strings.IndexByte(r.s[r.i:], '<')
		if k < 0 {
			return false
		}
		text := r.s[r.i : r.i+k]
		top := r.stack[len(r.stack)-1].kind
		bare := top == kRoot || top == kChannel || top == kItem // elements only
		if !refsOK(text) || (bare && strings.TrimLeft(text, " \t\r\n") != "") {
			return false // text beside an item's fields, say
		}
		r.i += k
		rest := r.s[r.i:]
		deep := len(r.stack) >= 3
		switch {
		case strings.HasPrefix(rest, "</"):
			if !r.endTag() {
				return false
			}
		case strings.HasPrefix(rest, "<!--"):
			if deep || !r.comment() {
				return false
			}
		case strings.HasPrefix(rest, "<![CDATA["):
			end := strings.Index(rest[9:], "]]>")
			if bare || end < 0 {
				return false
			}
			r.i += 9 + end + 3
		case strings.HasPrefix(rest, "<?"):
			if deep || !r.pi() {
				return false
			}
		case strings.HasPrefix(rest, "<!"):
			return false
		default:
			if !r.startTag() {
				return false
			}
		}
	}
	return true
}

type attr struct{ name, value string }

// startTag reads a start tag (or an empty element) and what it is.
func (r *rssScan) startTag() bool {
	r.i++
	name, ok := r.name()
	if !ok {
		return false
	}
	attrs, ok := r.attributes()
	if !ok {
		return false
	}
	empty := strings.HasPrefix(r.s[r.i:], "/>")
	switch {
	case empty:
		r.i += 2
	case strings.HasPrefix(r.s[r.i:], ">"):
		r.i++
	default:
		return false
	}
	depth := len(r.stack)
	if depth == 0 {
		if name != "rss" {
			return false
		}
		r.ns = map[string]string{}
		uris := map[string]bool{}
		for _, a := range attrs {
			if p, ok := strings.CutPrefix(a.name, "xmlns:"); ok {
				if a.value == "" || strings.TrimSpace(a.value) != a.value || uris[a.value] {
					return false
				}
				r.ns[p], uris[a.value] = a.value, true
			}
		}
	}
	for _, a := range attrs {
		prefix, local, ok := strings.Cut(a.name, ":")
		switch {
		case a.name == "xmlns":
			return false
		case !ok:
		case prefix == "xmlns":
			if depth > 0 {
				return false
			}
		case prefix == "xml":
			if local == "base" {
				return false
			}
		default:
			if r.ns[prefix] == "" {
				return false
			}
		}
	}
	kind, ok := r.kindOf(name, attrs)
	if !ok {
		return false
	}
	if empty {
		return r.closeElem(kind, "")
	}
	r.stack = append(r.stack, openElem{name: name, inner: r.i, kind: kind})
	return true
}

// The namespaces gofeed reads as RSS itself rather than as extensions.
var rssNative = map[string]bool{
	"rss": true, "rdf": true,
	"http://www.w3.org/1999/02/22-rdf-syntax-ns#": true,
	"http://purl.org/rss/1.0/":                    true,
	"http://channel.netscape.com/rdf/simple/0.9/": true,
	"http://my.netscape.com/rdf/simple/0.9/":      true,
}

// The extensions whose elements gofeed may read into a field crier keeps,
// by namespace; gofeed names any other namespace by the prefix declared.
var rssFamily = map[string]string{
	"http://purl.org/rss/1.0/modules/content/":   "content",
	"http://purl.org/dc/elements/1.1/":           "dc",
	"http://www.w3.org/2005/Atom":                "atom",
	"http://purl.org/atom/ns#":                   "atom",
	"http://www.itunes.com/DTDs/PodCast-1.0.dtd": "itunes",
	"http://example.com/DTDs/PodCast-1.0.dtd":    "itunes",
}

// family is what gofeed takes an element of this prefix for.
func (r *rssScan) family(prefix string) (string, bool) {
	uri := r.ns[prefix]
	if rssNative[uri] {
		return "", false
	}
	if f, ok := rssFamily[uri]; ok {
		return f, true
	}
	switch strings.ToLower(prefix) {
	case "content", "dc", "itunes":
		return strings.ToLower(prefix), true
	case "atom", "atom03", "atom10":
		return "atom", true
	}
	return "", true
}

var itemFields = map[string]int{"title": kTitle, "description": kDesc, "link": kLink, "guid": kGUID, "pubdate": kDate}

// kindOf places an element by its parent; ok is false for what the fast
// reader leaves to the general path.
func (r *rssScan) kindOf(name string, attrs []attr) (int, bool) {
	if len(r.stack) == 0 {
		return kRoot, true
	}
	parent := r.stack[len(r.stack)-1].kind
	prefix, local, prefixed := strings.Cut(name, ":")
	if !prefixed {
		local, prefix = prefix, ""
	} else if prefix == "xml" || prefix == "xmlns" || r.ns[prefix] == "" {
		return 0, false
	}
	lower := strings.ToLower(local)
	switch parent {
	case kRoot:
		if name != "channel" || r.channel {
			return 0, false
		}
		r.channel = true
		return kChannel, true
	case kChannel:
		if prefixed {
			f, ok := r.family(prefix)
			if f == "atom" && lower == "link" {
				r.atomLink = true
			}
			return kOther, ok
		}
		switch lower {
		case "item":
			r.items = append(r.items, gofeed.Item{})
			r.seen = 0
			return kItem, true
		case "link":
			return kChanLink, len(attrs) == 0
		}
		return kOther, true
	case kItem:
		kind := kOther
		if prefixed {
			f, ok := r.family(prefix)
			switch {
			case !ok:
				return 0, false
			case f == "content" && lower == "encoded":
				kind = kContent
			case f == "dc" && (lower == "title" || lower == "description" || lower == "date"),
				f == "atom" && lower != "link",
				f == "itunes" && lower == "summary":
				return 0, false
			}
		} else if k, ok := itemFields[lower]; ok {
			kind = k
			if k == kLink && len(attrs) > 0 {
				return 0, false
			}
		}
		if kind != kOther {
			if r.seen&(1<<kind) != 0 {
				return 0, false
			}
			r.seen |= 1 << kind
		}
		return kind, true
	}
	return kOther, true
}

// endTag reads an end tag, which must close the open element.
func (r *rssScan) endTag() bool {
	start := r.i
	r.i += 2
	name, ok := r.name()
	if !ok {
		return false
	}
	r.skipSpace()
	if r.i >= len(r.s) || r.s[r.i] != '>' {
		return false
	}
	r.i++
	top := r.stack[len(r.stack)-1]
	if top.name != name {
		return false
	}
	r.stack = r.stack[:len(r.stack)-1]
	return r.closeElem(top.kind, r.s[top.inner:start])
}

// closeElem keeps what an element that ends holds, read as gofeed reads
// text: the inner XML trimmed, CDATA sections taken as they are, the rest
// with its references decoded.
func (r *rssScan) closeElem(kind int, inner string) bool {
	if kind < kChanLink {
		return true
	}
	text := innerText(inner)
	if kind == kChanLink {
		r.link = text
		return true
	}
	it := &r.items[len(r.items)-1]
	switch kind {
	case kTitle:
		it.Title = text
	case kDesc:
		it.Description = text
	case kLink:
		it.Link = text
	case kGUID:
		it.GUID = text
	case kContent:
		it.Content = text
	case kDate:
		t, ok := rfc822(text)
		if !ok {
			return false
		}
		if !t.IsZero() {
			it.PublishedParsed = &t
		}
	}
	return true
}

func innerText(s string) string {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "<![CDATA[") {
		return unescape(s)
	}
	var b strings.Builder
	for {
		k := strings.Index(s, "<![CDATA[")
		if k < 0 {
			b.WriteString(unescape(s))
			return b.String()
		}
		b.WriteString(unescape(s[:k]))
		s = s[k+9:]
		end := strings.Index(s, "]]>") // there is one: the text was read
		b.WriteString(s[:end])
		s = s[end+3:]
	}
}

func unescape(s string) string {
	if strings.IndexByte(s, '&') < 0 {
		return s
	}
	return html.UnescapeString(s)
}

var monthNames = map[string]bool{"Jan": true, "Feb": true, "Mar": true, "Apr": true, "May": true, "Jun": true, "Jul": true, "Aug": true, "Sep": true, "Oct": true, "Nov": true, "Dec": true}
var dayNames = map[string]bool{"Mon": true, "Tue": true, "Wed": true, "Thu": true, "Fri": true, "Sat": true, "Sun": true}

// rfc822 reads an RSS date of the one form the fast reader takes: RFC
// 822's "Mon, 02 Jan 2006 15:04:05" with its day name optional, a day of
// one or two digits, and a zone of ±hhmm or GMT, in UTC. An empty date is
// the zero time; ok is false for any other form.
func rfc822(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, true
	}
	f := strings.Split(s, " ")
	if len(f) == 6 && len(f[0]) == 4 && f[0][3] == ',' && dayNames[f[0][:3]] {
		f = f[1:]
	}
	if len(f) != 5 || len(f[0]) < 1 || len(f[0]) > 2 || !monthNames[f[1]] || len(f[2]) != 4 || len(f[3]) != 8 {
		return time.Time{}, false
	}
	clock := f[3]
	if !digits(f[0]) || !digits(f[2]) || !digits(clock[:2]) || !digits(clock[3:5]) || !digits(clock[6:]) || clock[2] != ':' || clock[5] != ':' {
		return time.Time{}, false
	}
	zone := f[4]
	switch {
	case zone == "GMT":
		zone = "+0000"
	case len(zone) == 5 && (zone[0] == '+' || zone[0] == '-'):
	default:
		return time.Time{}, false
	}
	t, err := time.Parse("2 Jan 2006 15:04:05 -0700", f[0]+" "+f[1]+" "+f[2]+" "+f[3]+" "+zone)
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
