package normalize

import (
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// fold lower-cases s and strips its accents, so that "Réfugiés" and
// "refugies" compare equal. Typographic apostrophes become ASCII ones. Only
// combining marks are dropped, so byte offsets differ from s's.
func fold(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	var table *[foldRunes]string
	for _, r := range s {
		switch {
		case r < 0x80:
			if 'A' <= r && r <= 'Z' {
				r += 'a' - 'A'
			}
			b.WriteByte(byte(r))
		case r < foldRunes:
			if table == nil {
				table = foldTable()
			}
			b.WriteString(table[r])
		default:
			b.WriteString(foldRune(r))
		}
	}
	return b.String()
}

// foldEqual reports whether fold(s) == folded, folding s only as far as
// it agrees: most texts differ within their first few letters.
func foldEqual(s, folded string) bool {
	table := foldTable()
	for _, r := range s {
		var f string
		if r < foldRunes {
			f = table[r]
		} else {
			f = foldRune(r)
		}
		var ok bool
		if folded, ok = strings.CutPrefix(folded, f); !ok {
			return false
		}
	}
	return folded == ""
}

// foldRunes is how many runes foldTable holds: the Latin, Greek and
// Cyrillic blocks, which make up nearly every non-ASCII letter of a
// release in crier's languages.
const foldRunes = 0x800

// foldTable holds foldRune's answers for the first foldRunes runes. It is
// made on first use (about a millisecond of decompositions), not at every
// start of crier, whose commands mostly fold nothing.
var foldTable = sync.OnceValue(func() *[foldRunes]string {
	var t [foldRunes]string
	for r := range t {
		t[r] = foldRune(rune(r))
	}
	return &t
})

// foldRune folds one rune.
func foldRune(r rune) string { return foldNFD(string(r)) }

// foldNFD folds s the plain way: its canonical decomposition without
// combining marks, lower-cased. fold gives the same answer faster.
func foldNFD(s string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
			continue
		case r == '’' || r == 'ʼ' || r == '‘':
			r = '\''
		case r == 'œ' || r == 'Œ':
			b.WriteString("oe")
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// isWordRune reports whether r is part of a word: a letter or a digit.
func isWordRune(r rune) bool {
	if r >= 0 && r < rune(len(wordTable)) {
		return wordTable[r]
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}

// wordTable holds isWordRune's answers for the runes foldTable holds.
var wordTable = func() (t [foldRunes]bool) {
	for r := range t {
		t[r] = unicode.IsLetter(rune(r)) || unicode.IsDigit(rune(r))
	}
	return t
}()

// spaceTable holds unicode.IsSpace's answers for Latin-1.
var spaceTable = func() (t [256]bool) {
	for r := range t {
		t[r] = unicode.IsSpace(rune(r))
	}
	return t
}()

// isSpace is unicode.IsSpace, by table for the first 256 runes.
func isSpace(r rune) bool {
	if r >= 0 && r < rune(len(spaceTable)) {
		return spaceTable[r]
	}
	return unicode.IsSpace(r)
}

// words splits folded text into words.
func words(s string) []string { return appendWords(nil, s) }

// appendWords appends the words of s to dst: words(s) without a list of
// its own.
func appendWords(dst []string, s string) []string {
	start := -1
	for i, r := range s {
		switch {
		case isWordRune(r):
			if start < 0 {
				start = i
			}
		case start >= 0:
			dst, start = append(dst, s[start:i]), -1
		}
	}
	if start >= 0 {
		dst = append(dst, s[start:])
	}
	return dst
}

// splitSpaces cuts words joined by single spaces (foldWords' output)
// apart: strings.Split(s, " ") made to measure, and nothing for "".
func splitSpaces(s string) []string {
	if s == "" {
		return nil
	}
	ws := make([]string, 0, strings.Count(s, " ")+1)
	for {
		i := strings.IndexByte(s, ' ')
		if i < 0 {
			return append(ws, s)
		}
		ws, s = append(ws, s[:i]), s[i+1:]
	}
}

// joinedLen is len(strings.Join(ws, " ")).
func joinedLen(ws []string) int {
	n := max(0, len(ws)-1)
	for _, w := range ws {
		n += len(w)
	}
	return n
}

// countWords is len(words(s)), without making the words.
func countWords(s string) int {
	n, in := 0, false
	for _, r := range s {
		if w := isWordRune(r); w && !in {
			n++
			in = true
		} else if !w {
			in = false
		}
	}
	return n
}

// foldWords is strings.Join(words(fold(s)), " "), made in one pass: an
// ASCII byte by table, another rune by its fold.
func foldWords(s string) string {
	buf := make([]byte, 0, len(s))
	in := false
	var table *[foldRunes]string
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			i++
			if w := asciiFold[c]; w != 0 {
				if !in && len(buf) > 0 {
					buf = append(buf, ' ')
				}
				buf, in = append(buf, w), true
			} else {
				in = false
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		f := ""
		if r < foldRunes {
			if table == nil {
				table = foldTable()
			}
			f = table[r]
		} else {
			f = foldRune(r)
		}
		for _, fr := range f {
			if !isWordRune(fr) {
				in = false
				continue
			}
			if !in && len(buf) > 0 {
				buf = append(buf, ' ')
			}
			buf, in = utf8.AppendRune(buf, fr), true
		}
	}
	return string(buf)
}

// asciiFold maps an ASCII letter or digit to its fold, and any other
// ASCII byte to 0.
var asciiFold = func() (t [utf8.RuneSelf]byte) {
	for c := range t {
		if isWordRune(rune(c)) {
			t[c] = byte(unicode.ToLower(rune(c)))
		}
	}
	return
}()

// countFields is len(strings.Fields(s)), without making the fields.
func countFields(s string) int {
	n, in := 0, false
	for _, r := range s {
		sp := isSpace(r)
		if !sp && !in {
			n++
			in = true
		} else if sp {
			in = false
		}
	}
	return n
}
