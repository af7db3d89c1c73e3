// Package normalize turns one document of a source (a text or Markdown file,
// an HTML page, a feed entry) into a clean release: title, body as text and
// sanitized HTML, summary, date, dateline place, language and topics.
package normalize

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/microcosm-cc/bluemonday"

	"github.com/crier-hub/crier/internal/gazetteer"
	"github.com/crier-hub/crier/internal/minhash"
	"github.com/crier-hub/crier/internal/sniff"
)

// Format says how a document is written.
type Format int

// The formats the normalizer reads.
const (
	Text Format = iota // plain text, possibly Markdown-ish
	HTML
)

// Input is one document and what its source knows about it.
type Input struct {
	Raw    []byte
	Format Format
	Title  string    // a title the source gave (a feed entry's), if any
	Date   time.Time // the document's own date: feed date, file time
	// DateStated says Date was published with the document (a feed
	// entry's date) rather than observed (a file's time): with no date in
	// the text, it is still a known date.
	DateStated bool
	Language   string // the source's language, used when detection is unsure
	Country    string // the source's country, used when no place is named
	Frame      *Frame // the source's frame, learnt by LearnFrame; may be nil
	URL        string // the document's address, which relative links resolve against
}

// Record is a normalized release.
type Record struct {
	Title       string
	Summary     string
	Text        string // body as plain text, paragraphs separated by blank lines
	HTML        string // body as sanitized HTML
	Published   time.Time
	DateKnown   bool   // Published was given (DateSource stated or inferred)
	DateSource  string // Stated, Inferred or FirstSeen; with FirstSeen, Published is zero
	Place       string // the dateline's place as written, if any
	Language    string
	Country     string
	City        string
	Topics      []string
	Contacts    []Contact
	Fingerprint string            // identifies the release's body, whatever its frame
	Signature   minhash.Signature // finds copies of the release that differ a little
}

// Normalizer normalizes documents against a taxonomy. It is safe for
// concurrent use.
type Normalizer struct {
	topics []topicMatcher
	policy *bluemonday.Policy
}

// New returns a Normalizer for the given taxonomy.
func New(topics []Topic) *Normalizer {
	p := bluemonday.UGCPolicy()
	p.RequireNoFollowOnLinks(false)
	p.AllowURLSchemes("http", "https", "mailto")
	return &Normalizer{topics: compileTopics(topics), policy: p}
}

// datelineRE matches the place that opens a release's lead: "(Bruxelles) –",
// "GENEVA, 14 March 2021 –", "NAIROBI, Kenya –", "Ciudad de Guatemala –".
var datelineRE = lazyRegexp(`^\(?\s*(\p{Lu}[\p{L}\p{M}'’.\-]*(?:(?:\s+|,\s*|\s*/\s*)(?:\p{Lu}[\p{L}\p{M}'’.\-]*|de|del|la|las|los|el|du|des|d'|d’|da|do|dos|di|y|et|and|of|on|upon|sur|en|am)){0,6})\s*\)?(?:\s*\(([^()]{2,30})\))?\s*(?:,\s*([^–—\-:]{3,40}?))?\s*(?:[–—-]+|:)\s+\S`)

// dateline returns the place that opens a lead paragraph and the date text
// written beside it.
func dateline(s string) (place, date string, ok bool) {
	s = leadHead(s)
	var m []string
	// datelineRE's place ends on a dash or a colon and a space: without
	// one, the matcher need not run.
	if dashThenSpace(s) {
		m = datelineRE().FindStringSubmatch(s)
	}
	if m == nil {
		return datelineWithDate(s)
	}
	place = strings.TrimRight(strings.TrimSpace(m[1]), ",")
	if utf8.RuneCountInString(place) > 50 {
		return "", "", false
	}
	// "Dakar (Sénégal) –" names the country; "GENEVA (IOM) –" the agency.
	if paren := strings.TrimSpace(m[2]); paren != "" && strings.ToUpper(paren) != paren {
		place += ", " + paren
	}
	return place, m[3], true
}

// dashThenSpace reports whether s holds a dash (-, – or —) or a colon
// followed by a space as RE2's \s reads it (tab, line feed, form feed,
// carriage return, space): datelineRE's place ends on such a mark, so
// text without one cannot match it, hyphens inside words ("COVID-19") or
// not. It reads bytes: the en and em dashes are E2 80 93 and E2 80 94.
func dashThenSpace(s string) bool {
	// Most paragraphs hold none of the marks' first bytes: three scans of
	// the bytes (vectorized) tell so at once.
	if strings.IndexByte(s, '-') < 0 && strings.IndexByte(s, ':') < 0 && strings.IndexByte(s, 0xE2) < 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		n := 0 // the length of the mark at i, 0 for none
		switch {
		case s[i] == '-' || s[i] == ':':
			n = 1
		case s[i] == 0xE2 && i+2 < len(s) && s[i+1] == 0x80 && (s[i+2] == 0x93 || s[i+2] == 0x94):
			n = 3
		}
		if n > 0 && i+n < len(s) {
			switch s[i+n] {
			case ' ', '\t', '\n', '\f', '\r':
				return true
			}
		}
	}
	return false
}

// datelineSpan bounds where a dateline may end: the place, its
// parenthesis and date, and the dash come within the first bytes of a
// lead. The expressions, and the look for a dash before them, read only
// this head of a paragraph, so a long paragraph costs no more than a
// short one.
const datelineSpan = 320

// leadHead is the head of s a dateline is looked for in, cut at a
// character's start.
func leadHead(s string) string {
	if len(s) <= datelineSpan {
		return s
	}
	n := datelineSpan
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// datedLeadRE is the other common shape of a dateline: a place (a country
// after a comma or in parentheses), then a full date, closed by a full
// stop or ".-": "(Quito) 12 de mayo de 2022.- La", "Tegucigalpa, Honduras.
// 21 de septiembre de 2022. La". It counts only when the date is one.
var datedLeadRE = lazyRegexp(`^\(?\s*(\p{Lu}[\p{L}\p{M}'’.\-]*(?:\s+(?:\p{Lu}[\p{L}\p{M}'’\-]*|de|del|la|el|du|of)){0,4})\s*\)?(?:,\s*(\p{Lu}[\p{L}\p{M}'’\-]*(?:\s+\p{Lu}[\p{L}\p{M}'’\-]*){0,2}))?[.,]?\s+([^.]{6,40}?)\s*(?:\.-|\.|[–—-])\s+\S`)

func datelineWithDate(s string) (place, date string, ok bool) {
	m := datedLeadRE().FindStringSubmatch(s)
	if m == nil {
		return "", "", false
	}
	if _, _, isDate := fullDate(fold(m[3])); !isDate {
		return "", "", false
	}
	place = m[1]
	if m[2] != "" {
		place += ", " + m[2]
	}
	return place, m[3], true
}

// afterDateline is a lead without the dateline that opens it (one that
// dateline accepted): "GENEVA, 3 May 2024 – The office…" → "The office…".
func afterDateline(s string) string {
	re := datelineRE()
	head := leadHead(s)
	if !re.MatchString(head) {
		re = datedLeadRE()
	}
	loc := re.FindStringIndex(head)
	if loc == nil {
		return s
	}
	// The expression ends on the first character of the text.
	_, size := utf8.DecodeLastRuneInString(s[:loc[1]])
	return s[loc[1]-size:]
}

// placeJoin separates the places of a dateline that names several:
// "Mogadishu and Nairobi –", "Dakar et Bamako –", "Quito y Lima –".
var placeJoin = lazyRegexp(`\s+(?:and|et|y|e|&)\s+|\s*/\s*`)

// resolvePlace finds a dateline's place in the gazetteer; of several
// places, the first one it knows is the release's.
func resolvePlace(place, lang string) (city, cc string, ok bool) {
	g := gazetteer.Default()
	if city, cc, ok := g.Resolve(place, lang); ok {
		return city, cc, true
	}
	for _, p := range placeJoin().Split(place, -1) {
		if city, cc, ok := g.Resolve(p, lang); ok {
			return city, cc, true
		}
		// "Ciudad de Panamá", "City of Manila", "Ville de Québec".
		for _, prefix := range []string{"ciudad de ", "city of ", "ville de ", "cidade de "} {
			if len(p) > len(prefix) && strings.EqualFold(p[:len(prefix)], prefix) {
				if city, cc, ok := g.Resolve(p[len(prefix):], lang); ok {
					return city, cc, true
				}
			}
		}
	}
	return "", "", false
}

// Normalize turns one document into a record. It never fails: what cannot
// be known is left empty (a zero date is replaced by in.Date with DateKnown
// false).
func (n *Normalizer) Normalize(in Input) Record {
	return n.NormalizeParsed(in, Parse(in))
}

// Parsed is a document split into blocks of text: what frame learning
// (Lines) and Normalize both read, parsed once.
type Parsed struct {
	blocks    []block
	metaTitle string
	metaDate  time.Time
}

// Parse decodes a document and splits it into blocks.
func Parse(in Input) *Parsed {
	src := decode(in.Raw)
	if in.Format == HTML || sniff.HTML(src) {
		var base *url.URL
		if u, err := url.Parse(in.URL); err == nil && u.IsAbs() {
			base = u
		}
		d := parseHTML(src, base)
		return &Parsed{blocks: d.blocks, metaTitle: d.title, metaDate: d.date}
	}
	return &Parsed{blocks: textBlocks(src)}
}

// NormalizeParsed is Normalize for a document already parsed from in.
func (n *Normalizer) NormalizeParsed(in Input, p *Parsed) Record {
	blocks := dropFrame(p.blocks, in.Frame)
	lead := findLead(blocks)
	var r Record
	title, header, body := splitTitle(in, blocks, lead, p.metaTitle)
	var leadText, dateText string
	if lead >= 0 {
		leadText = blocks[lead].text
		r.Place, dateText, _ = dateline(leadText)
	}
	r.Published, r.DateSource = findDate(in, leadText, dateText, lead >= 0, header, body, p.metaDate)
	r.DateKnown = r.DateSource != FirstSeen

	body, r.Contacts = splitContacts(body)
	body = trimTrailing(dropLegal(dropEndMarks(body)))
	r.Text, r.HTML, r.Summary = n.render(body)
	if lead >= 0 {
		r.Summary = leadText
	}
	r.Title = plainText(title)
	if r.Title == "" && r.Summary != "" {
		// A title made from the lead starts after its dateline.
		from := r.Summary
		if lead >= 0 && r.Place != "" {
			from = afterDateline(leadText)
		}
		r.Title = firstWords(from, 12)
	}
	if r.Title == "" && len(body) > 0 {
		r.Title = firstWords(body[0].text, 12)
	}
	n.classify(&r, in, body)
	return r
}

// splitTitle finds the title (the source's, else a block, else the page's
// metadata) and returns it with the blocks before the lead that are about
// the release (header) and the blocks of the release (body).
func splitTitle(in Input, blocks []block, lead int, metaTitle string) (title string, header, body []block) {
	ti := -1
	if t := strings.TrimSpace(in.Title); t != "" {
		title, _, _ = inline(plainText(t))
		// Drop the title where the body repeats it.
		folded := fold(title)
		for i := 0; i < len(blocks) && i < 5; i++ {
			if foldEqual(blocks[i].text, folded) {
				ti = i
			}
		}
	} else {
		ti = findTitle(blocks, lead)
		if ti >= 0 {
			title = blocks[ti].text
		} else if metaTitle != "" {
			title = metaTitle
		}
	}
	start := ti + 1
	if ti < 0 && lead >= 0 && in.Title == "" {
		start = lead
	}
	if start < 0 {
		start = 0
	}
	body = blocks[min(start, len(blocks)):]
	if lead > start {
		// Between the title and the lead: bylines, "Published on …",
		// breadcrumbs and dates alone are about the release, not of it.
		kept := body[:0:0]
		for i, b := range body {
			if start+i < lead && neverTitle(strings.TrimSpace(b.text)) {
				continue
			}
			kept = append(kept, b)
		}
		body = kept
	}
	header = blocks[:min(max(ti, 0), len(blocks))]
	if lead > ti {
		header = append(header[:len(header):len(header)], blocks[ti+1:lead]...)
	}
	return title, header, body
}

// findDate returns the release's date and where it comes from, in order of
// trust: the dateline's date, a full date opening the text, one in the
// header, the page's metadata; then a day and month completed by a year or
// weekday nearby (inferred); then the source's own stated date. With none,
// the date is zero and FirstSeen.
func findDate(in Input, leadText, dateText string, hasLead bool, header, body []block, metaDate time.Time) (time.Time, string) {
	if dateText != "" {
		if t, _, ok := fullDate(fold(dateText)); ok {
			return t, Stated
		}
	}
	headText := leadText
	if !hasLead {
		// No dateline: the opening of the first paragraph may still say
		// when ("On 5 June 2023, the office…").
		for _, b := range body {
			if b.kind == para && b.words() >= 8 {
				headText = b.text
				break
			}
		}
	}
	head := fold(firstRunes(headText, 240))
	if t, _, ok := fullDate(head); ok {
		return t, Stated
	}
	for _, b := range header {
		if t, _, ok := fullDate(fold(b.text)); ok {
			return t, Stated
		}
	}
	if !metaDate.IsZero() {
		return metaDate, Stated
	}
	// A year written in the header or the lead completes a day and month;
	// so does the weekday the text names, or the feed entry's own date.
	near := head
	for _, b := range header {
		near += " " + fold(b.text)
	}
	year := yearIn(fold(leadText)+" "+near, in.Date)
	if t, ok := partialDate(head, in.Date, in.DateStated, year); ok {
		return t, Inferred
	}
	if in.DateStated && !in.Date.IsZero() {
		return in.Date.UTC(), Stated // the source's metadata says
	}
	return time.Time{}, FirstSeen
}

// render returns the body as plain text, as sanitized HTML, and its first
// real paragraph as a summary.
func (n *Normalizer) render(body []block) (text, html, summary string) {
	texts := make([]string, len(body))
	for i, b := range body {
		texts[i] = b.text
		if summary == "" && b.kind == para && !b.emph && b.words() >= 8 {
			summary = b.text
		}
	}
	return strings.Join(texts, "\n\n"), n.sanitize(markup(body)), summary
}

// markup is the body's HTML before sanitizing: a paragraph, heading or
// list for each block, around the block's own escaped HTML.
func markup(body []block) string {
	var htm []string
	for i, b := range body {
		switch {
		case b.kind == heading:
			htm = append(htm, "<h3>"+b.html+"</h3>")
		case b.kind == listItem:
			item := "<li>" + b.html + "</li>"
			if i > 0 && body[i-1].kind == listItem {
				htm[len(htm)-1] = strings.TrimSuffix(htm[len(htm)-1], "</ul>") + item + "</ul>"
			} else {
				htm = append(htm, "<ul>"+item+"</ul>")
			}
		default:
			htm = append(htm, "<p>"+b.html+"</p>")
		}
	}
	return strings.Join(htm, "\n")
}

// classify sets what is read from the finished text: language, topics,
// city and country, and the fingerprints that find copies. body is the
// blocks r.Text was made of: its words are their word keys in turn (the
// blank lines between blocks are in no word), made once per block for
// the frame and read again here.
func (n *Normalizer) classify(r *Record, in Input, body []block) {
	// The title's words then the body's, joined once; the list of words is
	// cut from the joined text, and the body's words joined are its end.
	parts := make([]string, 0, len(body)+1)
	if t := foldWords(r.Title); t != "" {
		parts = append(parts, t)
	}
	nt := 0
	if len(parts) > 0 {
		nt = strings.Count(parts[0], " ") + 1
	}
	for i := range body {
		if k := body[i].wordKey(); k != "" {
			parts = append(parts, k)
		}
	}
	all := strings.Join(parts, " ")
	ws := splitSpaces(all)
	bodyWords := ws[nt:]
	r.Language = detectLanguage(ws)
	if r.Language == "" {
		r.Language = in.Language
	}
	r.Topics = matchTopics(n.topics, all, r.Language)
	r.Country = in.Country
	if r.Place != "" {
		if city, cc, ok := resolvePlace(r.Place, r.Language); ok {
			r.City, r.Country = city, cc
		}
	}
	bodyText := all[len(all)-joinedLen(bodyWords):]
	if len(bodyWords) == 0 {
		bodyWords, bodyText = ws, all
	}
	r.Fingerprint = fingerprint(bodyText)
	r.Signature = minhash.Of(bodyWords)
}

// legalRE matches a site's legal footer in English, French and Spanish:
// copyright, rights reserved, privacy, terms, legal notices.
var legalRE = lazyRegexp(`(?i)(?:©|\(c\)\s*\d{4}|\bcopyright\b|all rights reserved|tous droits réservés|todos los derechos reservados|` +
	`privacy (?:policy|notice)|politique de confidentialité|política de privacidad|terms (?:of use|and conditions|of service)|` +
	`conditions (?:générales )?d'utilisation|conditions d’utilisation|términos (?:de uso|y condiciones)|condiciones de uso|` +
	`mentions légales|aviso legal|cookie policy|politique (?:relative aux|de) cookies|política de cookies)`)

// endMarkRE matches a line that marks the end of a release's text:
// "-ENDS-", "– FIN –", "###", "-30-", "***".
var endMarkRE = lazyRegexp(`(?i)^[\s\-–—*#]*(?:ends?|fin|fim|end of (?:press )?release|fin du communiqué|fin del comunicado|30)?[\s\-–—*#]*$`)

// dropEndMarks removes end-of-release marks; what follows them (notes to
// editors, contacts) is read as usual.
func dropEndMarks(body []block) []block {
	out := body[:0:0]
	for _, b := range body {
		if t := strings.TrimSpace(b.text); t != "" && b.words() <= 5 && endMarkRE().MatchString(t) && (strings.ContainsAny(t, "-–—*#") || strings.ToUpper(t) == t) {
			continue
		}
		out = append(out, b)
	}
	return out
}

// dropLegal removes the blocks of a legal footer: short blocks made of
// legal phrases (a release's own sentences are long and rarely say
// "all rights reserved").
func dropLegal(body []block) []block {
	out := body[:0:0]
	for _, b := range body {
		if b.words() <= 40 && mayBeLegal(b.text) && legalRE().MatchString(b.text) && legalShare(b.text) {
			continue
		}
		out = append(out, b)
	}
	return out
}

// legalWords are words of which legalRE's every phrase has one: a block
// with none of them is passed without running the expression.
var legalWords = []string{"©", "(c)", "copyright", "reserved", "réservés", "reservados", "privacy", "confidentialité",
	"privacidad", "terms", "conditions", "términos", "condiciones", "mentions légales", "aviso legal", "cookie"}

func mayBeLegal(t string) bool {
	t = strings.ToLower(t)
	for _, w := range legalWords {
		if strings.Contains(t, w) {
			return true
		}
	}
	return false
}

// legalShare reports whether legal phrases make up much of a block: a
// footer, not a sentence of the release that mentions privacy.
func legalShare(t string) bool {
	matched := 0
	for _, m := range legalRE().FindAllString(t, -1) {
		matched += countWords(fold(m))
	}
	n := countWords(fold(t))
	return strings.Contains(t, "©") || matched*3 >= n || n <= 8
}

// siteTailRE matches what a site adds after a release's text, in English,
// French and Spanish: links to more reading, invitations to follow or
// share, subscriptions, and the line blog software adds to feed items
// ("The post … appeared first on …").
var siteTailRE = lazyRegexp(`(?i)^(?:(?:à )?lire aussi|voir aussi|read (?:more|also)|see also|related(?: news| stories| articles| content)?\s*:|ver también|lea también|le puede interesar|follow us|suivez[- ]nous|síguenos|share (?:this|on)|partager (?:sur|cet|cette)|compartir (?:en|esta|este)|subscribe to|abonnez-vous|suscr[ií]bete|the post .+ appeared first on|l['’]article .+ est apparu en premier sur|la entrada .+ (?:se publicó primero|aparece primero) en)(?:\b|\s|$)`)

// trimTrailing drops the short lines that end a page after its text:
// "Share", "Back to top", tags. A line of a few words without a full stop
// at the very end of a release is never its text.
func trimTrailing(body []block) []block {
	for len(body) > 1 {
		b := body[len(body)-1]
		t := strings.TrimSpace(b.text)
		if b.words() <= 25 && siteTailRE().MatchString(t) {
			body = body[:len(body)-1]
			continue
		}
		if b.words() > 4 || strings.HasSuffix(t, ".") || strings.HasSuffix(t, "»") || strings.HasSuffix(t, "\"") {
			break
		}
		body = body[:len(body)-1]
	}
	return body
}

// findLead returns the index of the first block that opens with a
// dateline and reads as a paragraph, or -1.
func findLead(blocks []block) int {
	for i, b := range blocks {
		if i > 80 {
			break
		}
		if b.kind != heading && b.words() >= 12 {
			if _, _, ok := dateline(b.text); ok {
				return i
			}
		}
	}
	return -1
}

// findTitle picks the block that is the release's title: the most
// substantial heading before the lead, else the nearest line above the
// lead that reads as a headline, else the first heading or short line that
// a paragraph follows.
func findTitle(blocks []block, lead int) int {
	limit := lead
	if limit < 0 {
		limit = len(blocks)
	}
	best := -1
	for i := 0; i < limit; i++ {
		b := blocks[i]
		if b.kind == heading && headline(b) && (best < 0 || b.words() > blocks[best].words()) {
			best = i
		}
	}
	if best >= 0 {
		return best
	}
	if lead >= 0 {
		for i := lead - 1; i >= 0 && i >= lead-4; i-- {
			if b := blocks[i]; b.kind != listItem && headline(b) && !b.emph {
				return i
			}
		}
		for i := lead - 1; i >= 0 && i >= lead-4; i-- {
			if b := blocks[i]; b.kind != listItem && headline(b) {
				return i
			}
		}
		return -1
	}
	// No dateline: the first headline-like block followed by a paragraph.
	for i := 0; i+1 < len(blocks) && i < 80; i++ {
		b := blocks[i]
		if b.kind != listItem && headline(b) && blocks[i+1].words() > b.words() && blocks[i+1].words() >= 12 {
			return i
		}
	}
	return -1
}

// headline reports whether b reads like a headline: a few words, not a
// sentence that runs on, not a label ending in a colon.
func headline(b block) bool {
	w := b.words()
	t := strings.TrimSpace(b.text)
	return w >= 4 && w <= 40 && !strings.HasSuffix(t, ":") && !strings.Contains(t, "@") && !neverTitle(t)
}

// notTitleRE matches the lines of a page that are about the release, not
// its title: when and by whom it was posted, in the three languages.
var notTitleRE = lazyRegexp(`^(?i:published|posted|updated|last updated|publi[ée]e?s?|mis en ligne|mis à jour|mise à jour|publicado|actualizado|fecha de publicaci[oó]n|date de publication|date)(?:\s|$|[:,])|^(?i:by|par|por|written by|écrit par|escrito por)\s+\p{Lu}\S*\s+\p{Lu}`)

// breadcrumbRE matches a trail of links: "Home > News > Releases".
var breadcrumbRE = lazyRegexp(`^[^>/»›|]{1,40}(?:\s[>/»›|]\s[^>/»›|]{1,60}){2,}$`)

// neverTitle reports lines that look like headlines but never are one:
// "Published on …", "Posted …", bylines, a date alone, a breadcrumb
// trail, a dateline that opens the lead.
func neverTitle(t string) bool {
	if notTitleRE().MatchString(t) || breadcrumbRE().MatchString(t) {
		return true
	}
	if _, dateText, ok := dateline(t); ok && dateText != "" {
		return true
	}
	// A date and little else.
	f := fold(t)
	if d, pos, ok := fullDate(f); ok && !d.IsZero() {
		all := countWords(f)
		if rest := all - countWords(f[:pos]); rest <= 6 && all <= 8 {
			return true
		}
	}
	return false
}

// fingerprint names a body by its words, joined by spaces.
func fingerprint(joined string) string {
	h := sha256.New()
	io.WriteString(h, joined) // hashed where it is, not copied to bytes first
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func firstRunes(s string, n int) string {
	// The first n runes' bytes, without turning the whole of s into runes.
	i := 0
	for k := 0; k < n; k++ {
		if i >= len(s) {
			return s
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	if i >= len(s) {
		return s
	}
	if head := s[:i]; utf8.ValidString(head) {
		return head
	}
	return string([]rune(s)[:n]) // invalid bytes come out as U+FFFD, as before
}

func firstWords(s string, n int) string {
	f := strings.Fields(s)
	if len(f) <= n {
		return s
	}
	return strings.Join(f[:n], " ") + "…"
}

// decode returns the document as text. gather has decoded it to UTF-8
// already (internal/gather.Decode); what is left is a byte order mark,
// stray invalid bytes and control characters.
func decode(raw []byte) string {
	raw = bytes.TrimPrefix(raw, []byte{0xEF, 0xBB, 0xBF})
	if utf8.Valid(raw) { // as gather leaves it: checked 8 bytes at a time, not decoded rune by rune
		return stripControls(string(raw))
	}
	return stripControls(strings.ToValidUTF8(string(raw), "\uFFFD"))
}

// lazyRegexp compiles pattern on first use, once. The package's patterns
// are many and large: compiled at start, they cost every crier command
// 10 ms, most of which (push, serve's feeds, fetch of unchanged sources)
// never normalize a release.
func lazyRegexp(pattern string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(pattern) })
}
