package normalize

import (
	"strings"
)

// Contact is a press contact found at the end of a release.
type Contact struct {
	Name   string `json:"name,omitempty"`
	Office string `json:"office,omitempty"`
	Email  string `json:"email,omitempty"`
	Phone  string `json:"phone,omitempty"`
}

var (
	emailRE = lazyRegexp(`[\p{L}0-9._%+\-]+@[\p{L}0-9.\-]+\.\p{L}{2,}`)
	phoneRE = lazyRegexp(`(?:\+|00|\()?\d[\d\s().\-/]{6,}\d`)
	// contactIntro matches the sentence that opens a contact section, in
	// English, French and Spanish: "For more information, please contact:",
	// "Pour plus d'informations, veuillez contacter :", "Para más
	// información, contacte a:", "Press contacts:", "Contacto:".
	contactIntro = lazyRegexp(`(?i)^(?:(?:for (?:more|further) information|pour (?:plus|de plus amples) (?:d'|d’)?informations?|pour toute demande[^,:]*|para (?:más|mayor) información)[^:]*?(?:contact(?:er|ez|e|ar)?(?:\s+(?:à|a|with)\s*:|\s+(?:à|a|with)\s)?\s*:?|:)|(?:(?:press|media) contacts?|(?:press|media) (?:inquiries|enquiries)|for media (?:inquiries|enquiries)|contacts? (?:presse|médias|de prensa)|contacts? (?:pour les|for) (?:médias|media|journalistes|the media)|contactos? (?:de prensa|para (?:los )?(?:medios|prensa)(?: de comunicación)?)|contacto|contact)\s*:)\s*`)
	labelRE      = lazyRegexp(`(?i)^(?:tel|tél|tél\.|tel\.|téléphone|telephone|teléfono|phone|mobile|mob|portable|cell|móvil|celular|email|e-mail|courriel|correo(?: electrónico)?|fax|ext)\b\.?\s*:?\s*`)
	honorific    = lazyRegexp(`^(?:Mme|Mlle|M|Mr|Mrs|Ms|Dr|Sr|Sra|Srta|Prof)\.?\s+`)
	urlRE        = lazyRegexp(`(?i)\b(?:https?://|www\.)\S+`)
)

// hasContactData reports whether a block carries an email address or a
// phone number.
func hasContactData(s string) bool {
	// The cheap tests first: most blocks have no @ and name no phone.
	if strings.IndexByte(s, '@') >= 0 && emailRE().MatchString(s) {
		return true
	}
	return phoneRun(s) && labelled(s)
}

// phoneClass is the bytes phoneRE's run may hold: digits, \s as RE2
// reads it, and ( ) . - /.
var phoneClass = func() (c [256]bool) {
	for _, b := range []byte("0123456789\t\n\f\r ().-/") {
		c[b] = true
	}
	return
}()

// phoneRun is phoneRE().MatchString without the matcher: whether s holds a
// run of phoneClass bytes whose first and last digits are at least seven
// bytes apart (a digit, six or more of the class, a digit).
func phoneRun(s string) bool {
	first := -1 // the first digit of the current run
	for i := 0; i < len(s); i++ {
		b := s[i]
		if first < 0 {
			// Outside a run only a digit matters: skip to the next.
			for b-'0' > 9 {
				if i++; i == len(s) {
					return false
				}
				b = s[i]
			}
		}
		switch {
		case b >= '0' && b <= '9':
			if first < 0 {
				first = i
			} else if i-first >= 7 {
				return true
			}
		case !phoneClass[b]:
			first = -1
		}
	}
	return false
}

// labelled reports whether s names a phone as such, so that dates and
// figures are not taken for phone numbers.
// A label is looked for only where a letter could start one, without
// lower-casing s.
func labelled(s string) bool {
	if strings.IndexByte(s, '+') >= 0 {
		return true
	}
	// A label starts with t, p or m, in either case, and its second byte
	// is one of few: most letters are passed over on two bytes.
	for i := 0; i+2 < len(s); i++ {
		c0, c1, rest := s[i]|0x20, s[i+1], s[i:]
		switch {
		case c0 == 't' && (c1|0x20 == 'e' || c1 == 0xC3): // tel, tél
			if hasPrefixFold(rest, "tel") || hasPrefixFold(rest, "tél") {
				return true
			}
		case c0 == 'p' && c1|0x20 == 'h':
			if hasPrefixFold(rest, "phone") {
				return true
			}
		case c0 == 'm' && (c1|0x20 == 'o' || c1 == 0xC3): // mobile, móvil
			if hasPrefixFold(rest, "mobile") || hasPrefixFold(rest, "móvil") {
				return true
			}
		}
	}
	return false
}

// hasPrefixFold reports whether s starts with prefix in any case.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// splitContacts finds the contact section at the end of body and returns
// the body without it and the contacts it lists. The section starts at a
// contact introduction in the last part of the body, or at the first of
// the trailing blocks that carry an email or a phone.
func splitContacts(body []block) ([]block, []Contact) {
	start := -1
	// The section is in the last half of the body, or its last 12 blocks
	// when it gives a line to each field of each contact.
	minStart := min(len(body)/2, max(len(body)-12, 0))
	for i := len(body) - 1; i >= minStart && i >= 0; i-- {
		b := body[i]
		if contactIntro().MatchString(b.text) {
			start = i
			break
		}
	}
	if start < 0 {
		for i := len(body) - 1; i >= minStart && i >= 0; i-- {
			if hasContactData(body[i].text) && body[i].words() < 80 {
				start = i
				continue
			}
			if start >= 0 {
				break
			}
		}
	}
	if start < 0 {
		return body, nil
	}
	// A name and an office on lines of their own open the section.
	for n := 0; n < 3 && start > minStart && contactLine(body[start-1].text); n++ {
		start--
	}
	contacts := sectionContacts(body[start:])
	if len(contacts) == 0 && !contactIntro().MatchString(body[start].text) {
		return body, nil
	}
	return body[:start], contacts
}

// sectionContacts reads a contact section written a block per contact
// ("Jane Doe, IOM, jane@iom.int, +41 …") or a line per field ("Laura
// Pérez", "OIM Colombia", "lperez@iom.int", "+57 …"): lines without an
// email or a phone (a name, an office) belong to the contact whose email
// or phone comes next, and a lone email or phone that follows a contact
// lacking it completes that contact.
func sectionContacts(section []block) []Contact {
	var contacts []Contact
	var pending []string
	for _, b := range section {
		text := strings.TrimSpace(contactIntro().ReplaceAllString(strings.TrimSpace(b.text), ""))
		if text == "" {
			continue
		}
		if !hasContactData(text) && !phoneAlone(text) {
			pending = append(pending, text)
			continue
		}
		found := parseContacts(strings.Join(append(pending, text), "\n"))
		pending = nil
		if len(found) == 1 && len(contacts) > 0 && found[0].Name == "" && found[0].Office == "" {
			last := &contacts[len(contacts)-1]
			if last.Email == "" && found[0].Phone == "" {
				last.Email = found[0].Email
				continue
			}
			if last.Phone == "" && found[0].Email == "" {
				last.Phone = found[0].Phone
				continue
			}
		}
		contacts = append(contacts, found...)
	}
	return contacts
}

// contactLine reports whether a block could be a contact's name or office
// on a line of its own: a few capitalised words, not a sentence.
func contactLine(s string) bool {
	s = strings.TrimSpace(s)
	ws := strings.Fields(s)
	if len(ws) == 0 || len(ws) > 5 || strings.HasSuffix(s, ".") || strings.HasSuffix(s, ":") {
		return false
	}
	r := []rune(s)
	return strings.ToUpper(string(r[0])) == string(r[0]) && strings.ToLower(string(r[0])) != string(r[0])
}

// phoneAlone reports whether a line is a phone number and nothing else.
func phoneAlone(s string) bool {
	s = strings.TrimSpace(labelRE().ReplaceAllString(s, ""))
	return s != "" && phoneRE().FindString(s) == s
}

// parseContacts reads the contacts of a text whose introduction
// sectionContacts has taken off: each ends at its email address (or, with
// none, the text is one contact).
func parseContacts(s string) []Contact {
	s = urlRE().ReplaceAllString(s, "")
	var segments []string
	locs := emailRE().FindAllStringIndex(s, -1)
	if len(locs) <= 1 {
		segments = []string{s}
	} else {
		prev := 0
		for _, l := range locs {
			segments = append(segments, s[prev:l[1]])
			prev = l[1]
		}
		// What follows the last email belongs to the last contact.
		segments[len(segments)-1] += s[prev:]
	}
	var out []Contact
	for _, seg := range segments {
		if c, ok := parseContact(seg); ok {
			out = append(out, c)
		}
	}
	return out
}

var (
	extRE      = lazyRegexp(`(?i)\b(?:ext|extension|poste)\.?\s*\d{1,6}`)
	joinerWord = map[string]bool{"or": true, "ou": true, "o": true, "and": true, "et": true, "y": true}
)

var joiner = lazyRegexp(`(?i)^\s*(?:[,;]\s*)?(?:or|ou|o|and|et|y)\s+`)

func parseContact(seg string) (Contact, bool) {
	var c Contact
	seg = joiner().ReplaceAllString(strings.Trim(seg, " ,;.:"), "")
	c.Email = emailRE().FindString(seg)
	var phones []string
	rest := seg
	if c.Email != "" {
		rest = strings.Replace(rest, c.Email, "", 1)
	}
	for _, p := range phoneRE().FindAllString(rest, -1) {
		digits := 0
		for _, r := range p {
			if r >= '0' && r <= '9' {
				digits++
			}
		}
		if digits >= 7 {
			phones = append(phones, strings.TrimSpace(p))
			rest = strings.Replace(rest, p, "", 1)
		}
	}
	if m := extRE().FindString(rest); m != "" && len(phones) > 0 {
		phones[len(phones)-1] += " " + strings.TrimSpace(m)
		rest = strings.Replace(rest, m, "", 1)
	}
	c.Phone = strings.Join(phones, ", ")
	var office []string
	for i, part := range strings.FieldsFunc(rest, func(r rune) bool { return r == ',' || r == ';' || r == '\n' }) {
		part = strings.TrimSpace(labelRE().ReplaceAllString(strings.TrimSpace(part), ""))
		part = strings.Trim(part, " .:-–")
		for _, w := range []string{" ou", " or", " o", " y", " et", " and"} {
			part = strings.TrimSuffix(part, w)
		}
		if part == "" || joinerWord[strings.ToLower(part)] || labelRE().MatchString(part+" ") && len(strings.Fields(part)) == 1 {
			continue
		}
		if i == 0 && c.Name == "" && nameLike(part) {
			c.Name = honorific().ReplaceAllString(part, "")
			continue
		}
		office = append(office, part)
	}
	c.Office = strings.Join(office, ", ")
	if c.Email == "" && c.Phone == "" {
		return c, false
	}
	return c, true
}

// nameLike reports whether s reads as a person's name: two to five words,
// each capitalised or a particle (de, van, d').
func nameLike(s string) bool {
	s = honorific().ReplaceAllString(s, "")
	ws := strings.Fields(s)
	if len(ws) < 2 || len(ws) > 5 {
		return false
	}
	caps := 0
	for _, w := range ws {
		r := []rune(w)
		switch {
		case r[0] >= 'A' && r[0] <= 'Z' || (r[0] > 127 && strings.ToUpper(string(r[0])) == string(r[0])):
			caps++
		case strings.HasPrefix(w, "d'") || strings.HasPrefix(w, "d’"):
			if rest := []rune(strings.TrimLeft(w[1:], "'’")); len(rest) > 0 && strings.ToUpper(string(rest[0])) == string(rest[0]) {
				caps++
			}
		case w == "de" || w == "van" || w == "von" || w == "del" || w == "da" || w == "der" || w == "la" || w == "y":
		default:
			return false
		}
	}
	return caps >= 2
}
