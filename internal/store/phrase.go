package store

import (
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"

	"github.com/crier-hub/crier/internal/store/sqlite"
)

// SQLite's search index keeps which items hold each word, not where in
// them (FTS5's detail=none): it is built in a third less CPU than with
// every word's positions, which the index mostly held for phrase queries.
// A phrase's words are looked up as words, and each item the index gives
// is then checked for the phrase in its own text by PhraseIn, which the
// readers know as crier_phrase(title, body, words) (store/sqlite).

func init() {
	sqlite.ReaderFunction("crier_phrase", 3, func(a []string) int64 {
		if PhraseIn(a[0], a[1], a[2]) {
			return 1
		}
		return 0
	})
}

// PhraseIn reports whether the words of phrase, folded as ParseSearch
// folds them and separated by spaces, follow one another in title or in
// body, folded the same way: one after the other, with nothing but
// spaces, punctuation and accents between them, as FTS5 matches a
// phrase in a column.
func PhraseIn(title, body, phrase string) bool {
	words := strings.Fields(phrase)
	switch {
	case len(words) == 0:
		return false
	case len(words) > 64: // longer than the state's bits: folded whole
		return phraseInWords(searchWords(title), words) || phraseInWords(searchWords(body), words)
	}
	return phraseInText(title, words) || phraseInText(body, words)
}

// phraseInWords reports whether words follow one another in ws.
func phraseInWords(ws, words []string) bool {
	for i := 0; i+len(words) <= len(ws); i++ {
		if slices.Equal(ws[i:i+len(words)], words) {
			return true
		}
	}
	return false
}

// phraseInText matches words against text's folded words as it folds
// them, with one bit of state for each prefix of the phrase matched so far
// (shift-and): nothing allocated.
func phraseInText(text string, words []string) bool {
	limit := 0 // a word longer than the phrase's longest matches none of them
	for _, w := range words {
		limit = max(limit, len(w))
	}
	var (
		state uint64
		last  = uint64(1) << (len(words) - 1)
		buf   [128]byte
		word  = buf[:0]
		long  bool // the word is longer than limit
	)
	if limit > len(buf) {
		word = make([]byte, 0, limit)
	}
	step := func() bool {
		if len(word) == 0 && !long {
			return false
		}
		var eq uint64
		if !long {
			for j, w := range words {
				if w == string(word) {
					eq |= 1 << j
				}
			}
		}
		state = (state<<1 | 1) & eq
		word, long = word[:0], false
		return state&last != 0
	}
	add := func(s string) {
		if len(word)+len(s) > limit {
			long = true
			return
		}
		word = append(word, s...)
	}
	for i := 0; i < len(text); {
		c := text[i]
		if c < utf8.RuneSelf {
			i++
			switch {
			case 'a' <= c && c <= 'z' || '0' <= c && c <= '9':
				if len(word) < limit {
					word = append(word, c)
				} else {
					long = true
				}
			case 'A' <= c && c <= 'Z':
				if len(word) < limit {
					word = append(word, c+'a'-'A')
				} else {
					long = true
				}
			default:
				if step() {
					return true
				}
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		i += size
		switch f := foldRune(r); {
		case f == "":
			// a mark ParseSearch drops: the word goes on
		case f == " ":
			if step() {
				return true
			}
		case strings.IndexByte(f, ' ') < 0:
			add(f)
		default: // a letter folded into two words' parts
			for k, part := range strings.Split(f, " ") {
				if k > 0 && step() {
					return true
				}
				add(part)
			}
		}
	}
	return step()
}

// foldRune is what ParseSearch's folding makes of one rune in a word:
// lower case without accents ("" for a mark it drops, " " for a rune
// that separates words). The runes of the Latin, Greek and Cyrillic
// blocks are folded once, into a table; the others each time.
func foldRune(r rune) string {
	if r < foldedBelow {
		return foldedTable()[r]
	}
	return foldSlow(r)
}

const foldedBelow = 0x800

var foldedTable = sync.OnceValue(func() []string {
	t := make([]string, foldedBelow)
	for r := rune(0); r < foldedBelow; r++ {
		t[r] = foldSlow(r)
	}
	return t
})

func foldSlow(r rune) string {
	if unicode.Is(unicode.Mn, r) {
		return ""
	}
	if !unicode.IsLetter(r) && !unicode.IsNumber(r) {
		return " "
	}
	t := transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	folded, _, _ := transform.String(t, strings.ToLower(string(r)))
	if folded == "" {
		return ""
	}
	// What folding leaves of a letter is letters (a ligature may be
	// two); anything else in it separates, as in ParseSearch.
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsNumber(r) {
			return r
		}
		return ' '
	}, folded)
}
