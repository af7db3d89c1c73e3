package store

import (
	"errors"
	"strings"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// Search is a parsed full-text query: every term must match the title or
// the body (case and accents aside), but the negated ones, which must not.
type Search struct {
	Terms []Term
}

// Term is a word or a quoted phrase.
type Term struct {
	Words   []string // folded: lower case, no accents
	Negated bool
}

// ErrBadSearch is a search query crier cannot run.
var ErrBadSearch = errors.New("bad search")

// ParseSearch reads a query as people write it: words, "a phrase in
// quotes", -word to exclude. A query with nothing to look for, only
// exclusions, or an unclosed quote is refused with a reason.
func ParseSearch(q string) (*Search, error) {
	if len(q) > 500 {
		return nil, errors.Join(ErrBadSearch, errors.New("q is longer than 500 characters"))
	}
	if strings.Count(q, `"`)%2 == 1 {
		return nil, errors.Join(ErrBadSearch, errors.New(`q has a quote that is not closed: write phrases as "two words"`))
	}
	var s Search
	for i, part := range strings.Split(q, `"`) {
		if i%2 == 1 { // inside quotes: a phrase
			if ws := searchWords(part); len(ws) > 0 {
				neg := i > 0 && strings.HasSuffix(strings.Split(q, `"`)[i-1], "-")
				s.Terms = append(s.Terms, Term{Words: ws, Negated: neg})
			}
			continue
		}
		for _, f := range strings.Fields(part) {
			neg := strings.HasPrefix(f, "-")
			if ws := searchWords(strings.TrimPrefix(f, "-")); len(ws) > 0 {
				for _, w := range ws {
					s.Terms = append(s.Terms, Term{Words: []string{w}, Negated: neg})
				}
			}
		}
	}
	positive := 0
	for _, t := range s.Terms {
		if !t.Negated {
			positive++
		}
	}
	switch {
	case len(s.Terms) == 0:
		return nil, errors.Join(ErrBadSearch, errors.New("q has no words to look for"))
	case positive == 0:
		return nil, errors.Join(ErrBadSearch, errors.New("q only excludes words: give at least one to look for"))
	case len(s.Terms) > 20:
		return nil, errors.Join(ErrBadSearch, errors.New("q has more than 20 words"))
	}
	return &s, nil
}

// searchWords folds text into the words search compares: lower case,
// without accents, letters and digits only.
func searchWords(s string) []string {
	t := transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	folded, _, _ := transform.String(t, strings.ToLower(s))
	return strings.FieldsFunc(folded, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) })
}

// fts5 writes the query for SQLite's FTS5: quoted tokens and phrases
// joined by AND, exclusions after NOT.
func (s *Search) fts5() string {
	var pos, neg []string
	for _, t := range s.Terms {
		p := `"` + strings.Join(t.Words, " ") + `"`
		if t.Negated {
			neg = append(neg, p)
		} else {
			pos = append(pos, p)
		}
	}
	q := "(" + strings.Join(pos, " AND ") + ")"
	for _, n := range neg {
		q += " NOT " + n
	}
	return q
}

// websearch writes the query for PostgreSQL's websearch_to_tsquery.
func (s *Search) websearch() string {
	var parts []string
	for _, t := range s.Terms {
		p := strings.Join(t.Words, " ")
		if len(t.Words) > 1 {
			p = `"` + p + `"`
		}
		if t.Negated {
			p = "-" + p
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, " ")
}
