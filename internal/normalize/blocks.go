package normalize

import (
	"html"
	"strings"
	"unicode/utf8"
)

// blockKind tells how a block was marked up in its document.
type blockKind int

const (
	para blockKind = iota
	heading
	listItem
)

// block is one paragraph, heading or list item of a document, as plain text
// and as inline HTML (escaped text, with safe links).
type block struct {
	kind  blockKind
	level int // heading level, 1 for the most important
	text  string
	html  string
	emph  bool // the whole block was emphasised (a subtitle, a kicker)
	// nwords is countFields(text), counted once where a block is made
	// (the rules ask a block's length many times); 0 counts it again.
	nwords int
	// key is foldWords(keyOf), made once by wordKey: the frame and the
	// classifier both read a block's words. A block whose text changed
	// since has keyOf != text, and its key is made again.
	key, keyOf string
}

// wordKey is foldWords(b.text): the block's words, folded and joined by
// single spaces.
func (b *block) wordKey() string {
	if b.keyOf != b.text {
		b.key, b.keyOf = foldWords(b.text), b.text
	}
	return b.key
}

func (b block) words() int {
	if b.nwords > 0 {
		return b.nwords
	}
	return countFields(b.text)
}

var (
	mdHeading  = lazyRegexp(`^(#{1,6})\s+(.*?)\s*#*\s*$`)
	mdList     = lazyRegexp(`^\s*(?:[-*+•]|\d{1,3}[.)])\s+`)
	mdLink     = lazyRegexp(`!?\[((?:[^\[\]\\]|\\.)*)\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)`)
	mdAutoLink = lazyRegexp(`<((?:https?://|mailto:)[^>\s]+)>`)
	mdEmph     = lazyRegexp(`(\*\*\*|\*\*|__|\*|_)([^*_\s](?:.*?[^*_\s])?)(\*\*\*|\*\*|__|\*|_)`)
	tagRE      = lazyRegexp(`</?[a-zA-Z][^>]*>`)
	escRE      = lazyRegexp(`\\([\\` + "`" + `*_{}\[\]()#+\-.!|>~])`)
	onlyMarks  = lazyRegexp(`^[\s\-–—_*=#|•·.]*$`)
)

// textBlocks splits a plain-text or Markdown document into blocks. Each
// line is a block unless the document is hard-wrapped, in which case lines
// of one paragraph (between blank lines) are joined.
func textBlocks(s string) []block {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	var out []block
	for _, group := range strings.Split(s, "\n\n") {
		lines := strings.Split(group, "\n")
		if hardWrapped(lines) {
			lines = []string{strings.Join(lines, " ")}
		}
		for _, line := range lines {
			if b, ok := lineBlock(line); ok {
				out = append(out, b)
			}
		}
	}
	return out
}

// hardWrapped reports whether lines look like one paragraph wrapped at a
// fixed width: several lines, each but the last of similar, long length,
// none a heading or list item.
func hardWrapped(lines []string) bool {
	if len(lines) < 2 {
		return false
	}
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if mdHeading().MatchString(t) || mdList().MatchString(l) || t == "" {
			return false
		}
		n := utf8.RuneCountInString(t)
		if i < len(lines)-1 && (n < 50 || n > 100 || strings.HasSuffix(l, "  ")) {
			return false
		}
	}
	return true
}

func lineBlock(line string) (block, bool) {
	t := strings.TrimSpace(line)
	if onlyMarks().MatchString(t) {
		return block{}, false
	}
	b := block{kind: para}
	if m := mdHeading().FindStringSubmatch(t); m != nil {
		b.kind, b.level, t = heading, len(m[1]), m[2]
	} else if loc := mdList().FindStringIndex(t); loc != nil {
		b.kind, t = listItem, t[loc[1]:]
	}
	b.text, b.html, b.emph = inline(t)
	if b.nwords = countFields(b.text); b.nwords == 0 {
		return block{}, false
	}
	return b, true
}

// inline turns a line of Markdown (with stray inline HTML) into plain text
// and escaped HTML that keeps http(s) and mailto links. emph reports
// whether the whole line was emphasised.
func inline(s string) (text, htm string, emph bool) {
	trimmed := strings.TrimSpace(s)
	// The whole line is emphasised only if it starts and ends with a mark;
	// the expression is run on those lines alone.
	if n := len(trimmed); n > 1 && strings.IndexByte("*_", trimmed[0]) >= 0 && strings.IndexByte("*_", trimmed[n-1]) >= 0 {
		if m := mdEmph().FindStringSubmatch(trimmed); m != nil && m[0] == trimmed && m[1] == m[3] {
			emph = true
		}
	}
	if strings.Contains(s, "<") {
		s = mdAutoLink().ReplaceAllString(s, "[$1]($1)")
	}
	type link struct{ text, href string }
	var links []link
	// Replace links with placeholders so the rest can be escaped safely.
	if strings.Contains(s, "](") {
		s = mdLink().ReplaceAllStringFunc(s, func(m string) string {
			sub := mdLink().FindStringSubmatch(m)
			if strings.HasPrefix(m, "!") {
				return ""
			}
			if len(links) >= 26 { // placeholders run out: keep the text only
				return sub[1]
			}
			links = append(links, link{sub[1], sub[2]})
			return "\x00" + string(rune('a'+len(links)-1)) + "\x00"
		})
	}
	if strings.Contains(s, "<") {
		s = tagRE().ReplaceAllString(s, "")
	}
	if strings.Contains(s, "&") {
		s = html.UnescapeString(s)
	}
	for i := 0; i < 3 && strings.ContainsAny(s, "*_"); i++ { // nested emphasis
		s = mdEmph().ReplaceAllStringFunc(s, func(m string) string {
			sub := mdEmph().FindStringSubmatch(m)
			if sub[1] != sub[3] {
				return m
			}
			return sub[2]
		})
	}
	if strings.Contains(s, "\\") {
		s = escRE().ReplaceAllString(s, "$1")
	}
	s = collapseSpace(s)
	var tb, hb strings.Builder
	for {
		i := strings.IndexByte(s, 0)
		if i < 0 || i+2 >= len(s) || s[i+2] != 0 {
			tb.WriteString(s)
			hb.WriteString(html.EscapeString(s))
			break
		}
		tb.WriteString(s[:i])
		hb.WriteString(html.EscapeString(s[:i]))
		l := links[s[i+1]-'a']
		lt := collapseSpace(escRE().ReplaceAllString(tagRE().ReplaceAllString(l.text, ""), "$1"))
		lt = strings.NewReplacer("**", "", "__", "").Replace(lt)
		tb.WriteString(lt)
		if safeHref(l.href) {
			hb.WriteString(`<a href="` + html.EscapeString(l.href) + `">` + html.EscapeString(lt) + `</a>`)
		} else {
			hb.WriteString(html.EscapeString(lt))
		}
		s = s[i+3:]
	}
	return strings.TrimSpace(tb.String()), strings.TrimSpace(hb.String()), emph
}

func safeHref(h string) bool {
	l := strings.ToLower(h)
	return strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://") || strings.HasPrefix(l, "mailto:")
}

// collapseSpace joins the words of s with single spaces; no-break spaces
// count as spaces. It is strings.Join(strings.Fields(s), " ") in one pass:
// most lines are collapsed already (single spaces between words) and are
// returned as they are; the others are built once, from the first byte
// that needs changing.
func collapseSpace(s string) string {
	prevSpace := true // a space first is not collapsed
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == ' ' && !prevSpace:
				prevSpace = true
			case spaceTable[c]:
				return collapseFrom(s, i)
			default:
				prevSpace = false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if isSpace(r) {
			return collapseFrom(s, i)
		}
		prevSpace = false
		i += size
	}
	if prevSpace && s != "" { // a space last
		return collapseFrom(s, len(s))
	}
	return s
}

// collapseFrom is collapseSpace of s when s[:i] needs no change but a
// trailing space.
func collapseFrom(s string, i int) string {
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(strings.TrimSuffix(s[:i], " "))
	pending := false
	for i < len(s) {
		c := s[i]
		r, size := rune(c), 1
		if c >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		if isSpace(r) {
			pending = true
		} else {
			if pending && b.Len() > 0 {
				b.WriteByte(' ')
			}
			pending = false
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
