package normalize

import (
	"strconv"
	"strings"
	"time"
)

// months maps month names and abbreviations in English, French and Spanish,
// accent-folded and lower case, to their number.
var months = map[string]time.Month{}

func init() {
	names := [][]string{
		{"january", "jan", "janvier", "janv", "enero", "ene"},
		{"february", "feb", "fevrier", "fevr", "fev", "febrero"},
		{"march", "mar", "mars", "marzo"},
		{"april", "apr", "avril", "avr", "abril", "abr"},
		{"may", "mai", "mayo"},
		{"june", "jun", "juin", "junio"},
		{"july", "jul", "juillet", "juil", "julio"},
		{"august", "aug", "aout", "agosto", "ago"},
		{"september", "sep", "sept", "septembre", "septiembre", "setiembre", "set"},
		{"october", "oct", "octobre", "octubre"},
		{"november", "nov", "novembre", "noviembre"},
		{"december", "dec", "decembre", "diciembre", "dic"},
	}
	for i, ns := range names {
		for _, n := range ns {
			months[n] = time.Month(i + 1)
		}
	}
}

const monthAlt = `january|february|march|april|may|june|july|august|september|october|november|december|` +
	`janvier|fevrier|mars|avril|mai|juin|juillet|aout|septembre|octobre|novembre|decembre|` +
	`enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|noviembre|diciembre|` +
	`janv|fevr|fev|avr|juil|sept|jan|feb|mar|apr|jun|jul|aug|sep|oct|nov|dec|ene|abr|ago|dic`

// The patterns run on accent-folded, lower-case text.
var (
	// 26 mai 2017, 1er juillet 2019, 21 de septiembre de 2022, 5th november 2018
	dayMonthYear = lazyRegexp(`\b(\d{1,2})(?:er|re|st|nd|rd|th|º|°|o)?\.?\s+(?:de\s+)?(` + monthAlt + `)\.?,?\s+(?:de\s+|del\s+)?(\d{4})\b`)
	// Nov 5, 2018, November 5th 2018
	monthDayYear = lazyRegexp(`\b(` + monthAlt + `)\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})\b`)
	isoDate      = lazyRegexp(`\b(\d{4})-(\d{2})-(\d{2})(?:\b|t\d)`)
	numericDate  = lazyRegexp(`\b(\d{1,2})[/.](\d{1,2})[/.](\d{4})\b`)
	// (12/04), (11/12): a day and month, the year left to the context
	dayMonthFrag = lazyRegexp(`\((\d{1,2})[/.](\d{1,2})\)`)
	// 3 mars, 12 de mayo, March 3: a day and month named, the year left out
	dayMonthName = lazyRegexp(`\b(\d{1,2})(?:er|st|nd|rd|th)?\s+(?:de\s+)?(` + monthAlt + `)\b`)
	monthNameDay = lazyRegexp(`\b(` + monthAlt + `)\.?\s+(\d{1,2})(?:st|nd|rd|th)?\b`)
	relative     = lazyRegexp(`\b(avant-hier|avant hier|anteayer|antier|day before yesterday|aujourd'hui|aujourd’hui|today|hoy|hier|yesterday|ayer)\b`)
)

// relativeParts are parts of relative's words, one in each: text with
// none of them is passed without running the expression.
var relativeParts = []string{"hier", "ayer", "antier", "yesterday", "aujourd", "today", "hoy"}

// relativeWord is relative().FindString(s), run only on text that holds a
// part of one of its words.
func relativeWord(s string) string {
	for _, p := range relativeParts {
		if strings.Contains(s, p) {
			return relative().FindString(s)
		}
	}
	return ""
}

func mkDate(y int, m time.Month, d int) (time.Time, bool) {
	if m < 1 || m > 12 || d < 1 || d > 31 || y < 1900 || y > 2200 {
		return time.Time{}, false
	}
	t := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	if t.Day() != d { // 31 February
		return time.Time{}, false
	}
	return t, true
}

// hasYearDigits reports whether s has four ASCII digits in a row, as
// every full date's year is written.
func hasYearDigits(s string) bool {
	run := 0
	for i := 0; i < len(s); i++ {
		if '0' <= s[i] && s[i] <= '9' {
			if run++; run == 4 {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}

// fullDate finds the first complete date written in s (folded text).
func fullDate(s string) (time.Time, int, bool) {
	if !hasYearDigits(s) { // every full date has a four-digit year
		return time.Time{}, 0, false
	}
	type cand struct {
		t   time.Time
		pos int
	}
	var best *cand
	try := func(t time.Time, ok bool, pos int) {
		if ok && (best == nil || pos < best.pos) {
			best = &cand{t, pos}
		}
	}
	if m := dayMonthYear().FindStringSubmatchIndex(s); m != nil {
		d, _ := strconv.Atoi(s[m[2]:m[3]])
		y, _ := strconv.Atoi(s[m[6]:m[7]])
		t, ok := mkDate(y, months[s[m[4]:m[5]]], d)
		try(t, ok, m[0])
	}
	if m := monthDayYear().FindStringSubmatchIndex(s); m != nil {
		d, _ := strconv.Atoi(s[m[4]:m[5]])
		y, _ := strconv.Atoi(s[m[6]:m[7]])
		t, ok := mkDate(y, months[s[m[2]:m[3]]], d)
		try(t, ok, m[0])
	}
	if m := isoDate().FindStringSubmatchIndex(s); m != nil {
		y, _ := strconv.Atoi(s[m[2]:m[3]])
		mo, _ := strconv.Atoi(s[m[4]:m[5]])
		d, _ := strconv.Atoi(s[m[6]:m[7]])
		t, ok := mkDate(y, time.Month(mo), d)
		try(t, ok, m[0])
	}
	if m := numericDate().FindStringSubmatchIndex(s); m != nil {
		a, _ := strconv.Atoi(s[m[2]:m[3]])
		b, _ := strconv.Atoi(s[m[4]:m[5]])
		y, _ := strconv.Atoi(s[m[6]:m[7]])
		// Day first, as French and Spanish write it, unless that is impossible.
		t, ok := mkDate(y, time.Month(b), a)
		if !ok {
			t, ok = mkDate(y, time.Month(a), b)
		}
		try(t, ok, m[0])
	}
	if best == nil {
		return time.Time{}, 0, false
	}
	return best.t, best.pos, true
}

// Where a release's date comes from (_crier.date_source).
const (
	Stated    = "stated"     // the text or the source's metadata gives the full date
	Inferred  = "inferred"   // a partial date completed with evidence
	FirstSeen = "first_seen" // no date: when crier first saw the release
)

// weekdays are the names of the days, folded, in English, French and
// Spanish, by time.Weekday.
var weekdays = map[string]time.Weekday{
	"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday, "wednesday": time.Wednesday,
	"thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday,
	"dimanche": time.Sunday, "lundi": time.Monday, "mardi": time.Tuesday, "mercredi": time.Wednesday,
	"jeudi": time.Thursday, "vendredi": time.Friday, "samedi": time.Saturday,
	"domingo": time.Sunday, "lunes": time.Monday, "martes": time.Tuesday, "miercoles": time.Wednesday,
	"jueves": time.Thursday, "viernes": time.Friday, "sabado": time.Saturday,
}

// yearIn returns the first year written in s (folded text) that is not
// after ref's, or 0: the evidence that completes a day and month.
func yearIn(s string, ref time.Time) int {
	for i := 0; i+4 <= len(s); i++ {
		if y := yearAt(s, i); y > 0 && (ref.IsZero() || y <= ref.Year()) {
			return y
		}
	}
	return 0
}

// yearAt returns the year written at s[i:], or 0: 1980 to 2099, a word
// of its own, as `\b(19[89]\d|20\d\d)\b` would match.
func yearAt(s string, i int) int {
	c := s[i : i+4]
	century := (c[0] == '1' && c[1] == '9' && (c[2] == '8' || c[2] == '9')) || (c[0] == '2' && c[1] == '0' && isDigit(c[2]))
	if !century || !isDigit(c[3]) || (i > 0 && asciiWord(s[i-1])) || (i+4 < len(s) && asciiWord(s[i+4])) {
		return 0
	}
	return int(c[0]-'0')*1000 + int(c[1]-'0')*100 + int(c[2]-'0')*10 + int(c[3]-'0')
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// asciiWord reports whether c is a word character as \b sees it.
func asciiWord(c byte) bool {
	return isDigit(c) || ('a' <= c|0x20 && c|0x20 <= 'z') || c == '_'
}

// namedWeekday returns the day of the week s names, if it names one.
func namedWeekday(s string) (time.Weekday, bool) {
	for _, w := range words(s) {
		if d, ok := weekdays[w]; ok {
			return d, true
		}
	}
	return 0, false
}

// partialDate completes a day and month written without a year (or a
// relative word) in s, but only with evidence, and never in the future
// of ref: the weekday the text names (the latest year in which that day
// falls on it, or the year the text gives), a year written near it, or
// ref itself when refStated (a feed entry's own date). A file's time is no
// evidence: without any, there is no date.
func partialDate(s string, ref time.Time, refStated bool, year int) (time.Time, bool) {
	if ref.IsZero() {
		return time.Time{}, false
	}
	ref = time.Date(ref.Year(), ref.Month(), ref.Day(), 0, 0, 0, 0, time.UTC)
	digits := strings.ContainsAny(s, "0123456789") // a day is written in digits
	var mo time.Month
	var d int
	switch {
	case !digits:
	case dayMonthFrag().MatchString(s):
		m := dayMonthFrag().FindStringSubmatch(s)
		d, _ = strconv.Atoi(m[1])
		n, _ := strconv.Atoi(m[2])
		mo = time.Month(n)
	case dayMonthName().MatchString(s):
		m := dayMonthName().FindStringSubmatch(s)
		d, _ = strconv.Atoi(m[1])
		mo = months[m[2]]
	default:
		if m := monthNameDay().FindStringSubmatch(s); m != nil && len(m[1]) > 3 {
			d, _ = strconv.Atoi(m[2])
			mo = months[m[1]]
		}
	}
	if d > 0 {
		if wd, ok := namedWeekday(s); ok {
			if t, ok := mkDate(year, mo, d); ok && year > 0 && t.Weekday() == wd && !t.After(ref) {
				return t, true
			}
			for y := ref.Year(); y >= ref.Year()-28; y-- {
				if t, ok := mkDate(y, mo, d); ok && t.Weekday() == wd && !t.After(ref) {
					return t, true
				}
			}
			return time.Time{}, false // a weekday that fits no year: no date
		}
		if year > 0 {
			return mkDate(year, mo, d)
		}
		if refStated {
			for y := ref.Year(); y >= ref.Year()-1; y-- {
				if t, ok := mkDate(y, mo, d); ok && !t.After(ref) {
					return t, true
				}
			}
		}
		return time.Time{}, false
	}
	if !refStated {
		return time.Time{}, false
	}
	if m := relativeWord(s); m != "" {
		switch m {
		case "aujourd'hui", "aujourd’hui", "today", "hoy":
			return ref, true
		case "hier", "yesterday", "ayer":
			return ref.AddDate(0, 0, -1), true
		default:
			return ref.AddDate(0, 0, -2), true
		}
	}
	return time.Time{}, false
}
