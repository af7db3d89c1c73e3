package store

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// phraseInSlow is PhraseIn's meaning, written plainly: the text's words
// as ParseSearch folds them hold the phrase's words one after the other.
func phraseInSlow(text string, words []string) bool {
	return phraseInWords(searchWords(text), words)
}

// PhraseIn agrees with folding the whole text as ParseSearch does, on
// texts of words in three languages with capitals, accents (precomposed
// and combining), punctuation, ligatures, digits, other scripts and words
// longer than its buffer, for phrases taken from the text and elsewhere.
func TestPhraseInAgrees(t *testing.T) {
	pieces := []string{
		"réfugiés", "Réfugiés", "REFUGIES", "refugies", "migrants", "l'OIM", "L’eau", "eau", "niños", "NIÑOS", "ninos",
		"e\u0301te\u0301", "été", "ete", "ﬁnance", "finance", "Straße", "strasse", "Ελλάδα", "ελλαδα", "Москва", "москва",
		"2021", "3,5", "COVID-19", "covid", "19", "—", "–", ",", ".", ";", "(", ")", "«", "»", "\u00a0", "&amp;",
		"北京", "مرحبا", "İstanbul", "istanbul", strings.Repeat("long", 40), strings.Repeat("Long", 40),
		"water", "Water", "families", "river", "the", "a", "À", "à",
	}
	seps := []string{" ", "  ", "\n", ", ", "-", "'", "/", "", "\u202f"}
	r := rand.New(rand.NewPCG(7, 9))
	text := func(n int) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			b.WriteString(pieces[r.IntN(len(pieces))])
			b.WriteString(seps[r.IntN(len(seps))])
		}
		return b.String()
	}
	matched := 0
	for i := 0; i < 4000; i++ {
		body := text(1 + r.IntN(30))
		var words []string
		if r.IntN(2) == 0 { // from the text: often found
			ws := searchWords(body)
			if len(ws) < 2 {
				continue
			}
			at, n := r.IntN(len(ws)-1), 2+r.IntN(3)
			words = ws[at:min(len(ws), at+n)]
		} else {
			words = searchWords(text(2 + r.IntN(2)))
		}
		if len(words) == 0 {
			continue
		}
		want := phraseInSlow(body, words)
		if got := PhraseIn("", body, strings.Join(words, " ")); got != want {
			t.Fatalf("PhraseIn(%q, %q) = %v, want %v", body, words, got, want)
		}
		if want {
			matched++
		}
	}
	if matched < 1000 {
		t.Errorf("only %d of the phrases matched: the test says little", matched)
	}
}

func TestPhraseIn(t *testing.T) {
	for _, tt := range []struct {
		title, body, phrase string
		want                bool
	}{
		{"", "Heavy rain forced families from their homes", "forced families", true},
		{"", "Heavy rain forced the families", "forced families", false},
		{"", "families forced", "forced families", false},
		{"Les réfugiés arrivent", "", "refugies arrivent", true},
		{"LES RÉFUGIÉS, ARRIVENT", "", "refugies arrivent", true},
		{"forced", "families", "forced families", false}, // not across title and body
		{"", "the water—families", "water families", true},
		{"", "l'eau potable", "l eau potable", true},
		{"", "forced families", "", false},
		{"", strings.Repeat("word ", 70) + "end", strings.Repeat("word ", 69) + "end", true}, // more words than the state's bits
		{"", strings.Repeat("word ", 70) + "end", strings.Repeat("word ", 71) + "end", false},
	} {
		if got := PhraseIn(tt.title, tt.body, tt.phrase); got != tt.want {
			t.Errorf("PhraseIn(%q, %q, %q) = %v, want %v", tt.title, tt.body, tt.phrase, got, tt.want)
		}
	}
}

func BenchmarkPhraseIn(b *testing.B) {
	words := benchText()
	b.SetBytes(int64(len(words)))
	for b.Loop() {
		PhraseIn("", words, "absent phrase")
	}
}

// benchText is a release's body of about 300 words with accents.
func benchText() string {
	ws := strings.Fields("Les réfugiés et les migrants arrivent à Genève, où l'OIM les accueille dans des centres d'hébergement près du lac")
	r := rand.New(rand.NewPCG(1, 1))
	var b strings.Builder
	for i := 0; i < 300; i++ {
		b.WriteString(ws[r.IntN(len(ws))])
		b.WriteByte(' ')
	}
	return b.String()
}
