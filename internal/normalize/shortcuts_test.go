package normalize

// The tests here check each shortcut taken for speed against the plain
// way it replaces.

import (
	"cmp"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/crier-hub/crier/internal/minhash"
)

// fold, rune by rune through its table, must agree with the plain fold
// of the whole string.
func TestFoldAgreesWithWholeStringFold(t *testing.T) {
	for _, s := range []string{
		"Réfugiés À GENÈVE", "L’ŒUVRE d’AIDE", "Año Niño ÇA", "e\u0301te\u0301", "Ελλάδα", "Москва́", "İstanbul", "ǅemal", "Straße",
	} {
		if got, want := fold(s), foldNFD(s); got != want {
			t.Errorf("fold(%q) = %q, want %q", s, got, want)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		var b strings.Builder
		for j := 0; j < 12; j++ {
			r := rune(rng.IntN(0x3000))
			if rng.IntN(2) == 0 {
				r = rune(rng.IntN(0x250))
			}
			if r >= 0xD800 && r < 0xE000 {
				continue
			}
			b.WriteRune(r)
		}
		if got, want := fold(b.String()), foldNFD(b.String()); got != want {
			t.Fatalf("fold(%q) = %q, want %q", b.String(), got, want)
		}
	}
}

// foldEqual(s, f) must answer fold(s) == f, stopping early or not.
func TestFoldEqualAgreesWithFoldThenCompare(t *testing.T) {
	texts := []string{"", "Réfugiés À GENÈVE", "refugies a geneve", "REFUGIES A GENEVE!", "Réfugiés", "L’ŒUVRE d’AIDE",
		"l'oeuvre d'aide", "Straße", "Ελλάδα", "ελλαδα", "İstanbul", "e\u0301te\u0301", "ete", "\xff\xfe broken", "한국"}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 300; i++ {
		var b strings.Builder
		for j := 0; j < 1+rng.IntN(6); j++ {
			b.WriteRune([]rune("aAeEéÉœŒ ’'ßsΣσ한\u0301")[rng.IntN(17)])
		}
		texts = append(texts, b.String())
	}
	for _, s := range texts {
		for _, other := range texts[:40] {
			for _, f := range []string{fold(s), fold(other), fold(s) + "x", strings.TrimSuffix(fold(s), "e")} {
				if got, want := foldEqual(s, f), fold(s) == f; got != want {
					t.Fatalf("foldEqual(%q, %q) = %v, want %v", s, f, got, want)
				}
			}
		}
	}
}

// mayBeLegal only lets dropLegal skip its expression: it must say yes to
// every text the expression matches, in any case.
func TestMayBeLegalPassesEveryLegalPhrase(t *testing.T) {
	phrases := []string{"© 2024 IOM", "(c) 2023", "Copyright UN", "All rights reserved", "Tous droits réservés",
		"Todos los derechos reservados", "Privacy policy", "privacy notice", "Politique de confidentialité",
		"Política de privacidad", "Terms of use", "terms and conditions", "Terms of service",
		"Conditions générales d'utilisation", "conditions d'utilisation", "Conditions d’utilisation",
		"Términos de uso", "Términos y condiciones", "Condiciones de uso", "Mentions légales", "Aviso legal",
		"Cookie policy", "Politique relative aux cookies", "Politique de cookies", "Política de cookies"}
	for _, p := range phrases {
		for _, s := range []string{p, strings.ToUpper(p), strings.ToLower(p), "Home | " + p + " | Contact"} {
			if !legalRE().MatchString(s) {
				t.Errorf("legalRE does not match %q: the list of phrases is out of date", s)
			}
			if !mayBeLegal(s) {
				t.Errorf("mayBeLegal(%q) = false, but legalRE matches it", s)
			}
		}
	}
	if mayBeLegal("Floods displaced 4,000 families in the north of the country.") {
		t.Error("mayBeLegal passes a plain sentence")
	}
}

// collapseSpace's shortcut for lines already collapsed agrees with
// splitting and joining, on every kind of space.
func TestCollapseSpaceAgreesWithFields(t *testing.T) {
	pieces := []string{"a", "é", "word", " ", "  ", "\t", "\n", "\u00a0", "\u2003", "\u0085", "-", "", "\xff", "\xc3", "\v"}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 5000; i++ {
		s := pieceText(rng, pieces, 8)
		if got, want := collapseSpace(s), strings.Join(strings.Fields(s), " "); got != want {
			t.Fatalf("collapseSpace(%q) = %q, want %q", s, got, want)
		}
	}
}

// The word shortcuts agree with splitting at every rune that is not a
// letter or digit, on text in every script and on bytes that are not
// UTF-8.
func TestWordShortcutsAgree(t *testing.T) {
	plain := func(s string) []string { return strings.FieldsFunc(s, func(r rune) bool { return !isWordRune(r) }) }
	texts := []string{"", " ", "GENEVA – The IOM's 12th report, “Migrants”; l’OIM à Genève",
		"  deux\u00a0espaces\u2003et\ttabs\n\nfin ", "año-2024/05 ñandú 北京 москва 42", "\xff\xfeinvalid \xc3 bytes\x80x",
		"…—«»", "a", "word.", "\u200bzero\u200bwidth"}
	for _, s := range texts {
		for _, f := range []string{s, fold(s)} {
			want := plain(f)
			if got := words(f); !slices.Equal(got, want) {
				t.Errorf("words(%q) = %q, want %q", f, got, want)
			}
			if got := appendWords([]string{"x"}, f); !slices.Equal(got, append([]string{"x"}, want...)) {
				t.Errorf("appendWords(%q) = %q, want %q after x", f, got, want)
			}
			if got := countWords(f); got != len(want) {
				t.Errorf("countWords(%q) = %d, want %d", f, got, len(want))
			}
			if got := joinedLen(want); got != len(strings.Join(want, " ")) {
				t.Errorf("joinedLen(%q) = %d, want %d", want, got, len(strings.Join(want, " ")))
			}
			if got, want := countFields(f), len(strings.Fields(f)); got != want {
				t.Errorf("countFields(%q) = %d, want %d", f, got, want)
			}
		}
	}
}

// classify, reading the body's words from its blocks' word keys, finds
// the language, fingerprint and signature that folding the whole text
// r.Text finds, title or no title, and a block whose text changed after
// its key was made is read again.
func TestClassifyReadsTheBlocksWords(t *testing.T) {
	n := New(nil)
	paras := []string{"GENEVA – L’OIM a annoncé aujourd’hui un programme de retour pour 1 200 migrants bloqués au Niger, financé par l’Union européenne.",
		"", "…", "Ελλάδα 北京 L’ŒUVRE e\u0301te\u0301 İstanbul Straße", "Contact : presse@oim.int, +41 22 717 91 11", "The office said it would help.",
		"  deux\u00a0espaces\tet\n\nfin ", "\xff\xfe bytes \xc3"}
	rng := rand.New(rand.NewPCG(9, 10))
	for i := 0; i < 500; i++ {
		title := []string{"L’OIM au Niger", "", "—", "Floods: 4,000 families"}[rng.IntN(4)]
		var body []block
		var texts []string
		for j := rng.IntN(5); j > 0; j-- {
			b := block{text: paras[rng.IntN(len(paras))]}
			if rng.IntN(3) == 0 {
				b.wordKey() // a key made, then the text changed
				b.text = paras[rng.IntN(len(paras))]
			}
			body, texts = append(body, b), append(texts, b.text)
		}
		r := &Record{Title: title, Text: strings.Join(texts, "\n\n")}
		n.classify(r, Input{Language: "fr"}, body)
		bw := words(fold(r.Text))
		ws := append(words(fold(title)), bw...)
		if len(bw) == 0 {
			bw = ws
		}
		if want := detectLanguage(ws); r.Language != cmp.Or(want, "fr") {
			t.Errorf("title %q, text %q: language %q, want %q", title, r.Text, r.Language, want)
		}
		if want := fingerprint(strings.Join(bw, " ")); r.Fingerprint != want {
			t.Errorf("title %q, text %q: fingerprint %s, want %s", title, r.Text, r.Fingerprint, want)
		}
		if !slices.Equal(r.Signature, minhash.Of(bw)) {
			t.Errorf("title %q, text %q: signature differs from the words of the text", title, r.Text)
		}
	}
}

// labelled, looking only where a label could start, agrees with
// lower-casing the text and looking everywhere.
func TestLabelledAgreesWithLowerCasing(t *testing.T) {
	plain := func(s string) bool {
		l := strings.ToLower(s)
		return strings.Contains(l, "tel") || strings.Contains(l, "tél") || strings.Contains(l, "phone") ||
			strings.Contains(l, "mobile") || strings.Contains(l, "móvil") || strings.Contains(l, "+")
	}
	pieces := []string{"T", "t", "E", "É", "é", "L", "l", "PH", "ph", "ONE", "one", "MOBI", "mobi", "LE", "MÓ", "mó", "VIL", "vil",
		"+", " ", "İ", "Ⱥ", "x", "hotel", "Tel:", "TÉL", "Móvil", "\xff", "phOne", ""}
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 20000; i++ {
		if s := pieceText(rng, pieces, 8); labelled(s) != plain(s) {
			t.Fatalf("labelled(%q) = %v, want %v", s, labelled(s), plain(s))
		}
	}
}

// yearIn finds the years the plain expression finds, in the same order.
func TestYearInAgreesWithExpression(t *testing.T) {
	yearRE := regexp.MustCompile(`\b(19[89]\d|20\d\d)\b`)
	plain := func(s string, ref time.Time) int {
		for _, m := range yearRE.FindAllString(s, -1) {
			y, _ := strconv.Atoi(m)
			if ref.IsZero() || y <= ref.Year() {
				return y
			}
		}
		return 0
	}
	pieces := []string{"1985", "2024", "2099", "2100", "1979", "19", "20", "9", "0", "a", "Z", "_", " ", "-", "é", "\xff", "/", ".", "2031"}
	refs := []time.Time{{}, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)}
	rng := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 20000; i++ {
		s, ref := pieceText(rng, pieces, 7), refs[rng.IntN(len(refs))]
		if got, want := yearIn(s, ref), plain(s, ref); got != want {
			t.Fatalf("yearIn(%q, %d) = %d, want %d", s, ref.Year(), got, want)
		}
	}
}

// The tables behind isWordRune and countFields answer as the unicode
// package does, for every rune.
func TestRuneTablesAgreeWithUnicode(t *testing.T) {
	for r := rune(-1); r <= unicode.MaxRune+1; r++ {
		if got, want := isWordRune(r), unicode.IsLetter(r) || unicode.IsDigit(r); got != want {
			t.Fatalf("isWordRune(%U) = %v, want %v", r, got, want)
		}
		if got, want := countFields(string(r)+"a"), len(strings.Fields(string(r)+"a")); r >= 0 && got != want {
			t.Fatalf("countFields(%q) = %d, want %d", string(r)+"a", got, want)
		}
	}
}

// foldWords, in one pass, is fold, then words, then a join.
func TestFoldWordsAgreesWithFoldThenJoin(t *testing.T) {
	pieces := []string{"Réfugiés", "L’ŒUVRE", " ", "  ", "-", "e\u0301", "İstanbul", "Straße", "Ελλάδα", "北京", "\xff", "\xc3", "ǅ", "42", "a.b", "\u00a0", "ﬁ", "Å", "", "Z9", "_", "\t", "@"}
	rng := rand.New(rand.NewPCG(9, 10))
	for i := 0; i < 20000; i++ {
		s := pieceText(rng, pieces, 8)
		if want := strings.Join(words(fold(s)), " "); foldWords(s) != want {
			t.Fatalf("foldWords(%q) = %q, want %q", s, foldWords(s), want)
		}
	}
}

// Every block of every golden release, from HTML or text, knows its
// number of words as countFields counts them.
func TestBlocksCountTheirWords(t *testing.T) {
	n := 0
	for _, src := range goldenSources {
		files, _ := filepath.Glob(filepath.Join(src.dir, "*.*"))
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			format := Text
			if filepath.Ext(f) == ".html" {
				format = HTML
			}
			for _, b := range Parse(Input{Raw: raw, Format: format}).blocks {
				if n++; b.nwords != countFields(b.text) {
					t.Errorf("%s: a block of %d words says %d: %q", f, countFields(b.text), b.nwords, b.text)
				}
			}
		}
	}
	if n < 100 {
		t.Fatalf("only %d blocks in the golden releases", n)
	}
}

// dashThenSpace agrees with an expression for a dash or colon and a
// space, on the dashes' own bytes, their neighbours and cut sequences;
// and whatever datelineRE matches, it passes.
func TestDashThenSpaceAgrees(t *testing.T) {
	re := regexp.MustCompile(`[–—:-][\t\n\f\r ]`)
	pieces := []string{"a", " ", "\t", "\v", "\n", "-", ":", "–", "—", "―", "‒", "\xe2", "\xe2\x80", "\x80\x93", "\xe2\x80\x92", "\xe2\x81\x93",
		"é", "GENEVA", "(Bruxelles)", ", 3 May 2024", "COVID-19", "\xff"}
	rng := rand.New(rand.NewPCG(5, 6))
	matched := 0
	for i := 0; i < 50000; i++ {
		s := pieceText(rng, pieces, 7)
		if i%2 == 0 { // a place first, as a dateline starts
			s = []string{"GENEVA", "(Bruxelles)", "Ciudad de Guatemala"}[rng.IntN(3)] + s
		}
		got := dashThenSpace(s)
		if want := re.MatchString(s); got != want {
			t.Fatalf("dashThenSpace(%q) = %v, want %v", s, got, want)
		}
		if datelineRE().MatchString(s) {
			matched++
			if !got {
				t.Fatalf("datelineRE matches %q, but dashThenSpace passes it by", s)
			}
		}
	}
	if matched < 100 {
		t.Errorf("only %d texts had a dateline: the test reads too few", matched)
	}
}

// stripControls' byte scan passes untouched exactly the texts the rune
// mapping leaves as they are.
func TestHasControlsAgrees(t *testing.T) {
	pieces := []string{"a", " ", "\n", "\r", "\t", "\x00", "\x1f", "\x7f", "\u0080", "\u009f", "\u00a0", "\u00c2", "\ufffd", "\ufeff",
		"\ufffe", "\uefbf", "é", "\u2028", "\xc2", "\xef\xbf", "\xef\xbb", "北"}
	rng := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 20000; i++ {
		s := strings.ToValidUTF8(pieceText(rng, pieces, 6), "\uFFFD") // as decode gives it
		mapped := strings.Map(dropControl, s)
		if got, want := hasControls(s), mapped != s; got != want {
			t.Fatalf("hasControls(%q) = %v, want %v", s, got, want)
		}
		if got := stripControls(s); got != mapped {
			t.Fatalf("stripControls(%q) = %q, want %q", s, got, mapped)
		}
	}
}

// matchTopics finds a keyword at the start of the text and after a space,
// as looking in the text with a space put before it does, and not inside
// a word.
func TestMatchTopicsAtWordStarts(t *testing.T) {
	ms := compileTopics([]Topic{{Slug: "migration", Keywords: map[string][]string{"en": {"migra"}}},
		{Slug: "health", Keywords: map[string][]string{"en": {"public health"}}}})
	pieces := []string{"migrants", "immigration", "public", "health", "public health", "the", "remigrate", "x"}
	rng := rand.New(rand.NewPCG(11, 12))
	for i := 0; i < 5000; i++ {
		var ws []string
		for j := rng.IntN(5); j >= 0; j-- {
			ws = append(ws, pieces[rng.IntN(len(pieces))])
		}
		text := strings.Join(ws, " ")
		var want []string
		for _, m := range ms {
			if strings.Contains(" "+text, " "+m.keywords["en"][0]) {
				want = append(want, m.slug)
			}
		}
		slices.Sort(want)
		if got := matchTopics(ms, text, "en"); !slices.Equal(got, want) {
			t.Fatalf("matchTopics(%q) = %q, want %q", text, got, want)
		}
	}
}

// relativeWord's look for a part of a word before the expression finds
// every word the expression finds: each word of relative holds a part.
func TestRelativeWordAgrees(t *testing.T) {
	words := strings.Split(strings.TrimSuffix(strings.TrimPrefix(relative().String(), `\b(`), `)\b`), "|")
	if len(words) < 10 {
		t.Fatalf("relative's words not read: %q", words)
	}
	pieces := append([]string{" ", "x", "-", "le", "el", "2024", "hi", "er", "ay"}, words...)
	rng := rand.New(rand.NewPCG(13, 14))
	for i := 0; i < 20000; i++ {
		s := pieceText(rng, pieces, 6)
		if got, want := relativeWord(s), relative().FindString(s); got != want {
			t.Fatalf("relativeWord(%q) = %q, want %q", s, got, want)
		}
	}
	for _, w := range words {
		if relativeWord(" "+w+" ") != w {
			t.Errorf("relativeWord misses %q", w)
		}
	}
}

// pieceText is one to n pieces drawn at random, joined: the random texts
// the shortcut tests compare their code and its reference on.
func pieceText(rng *rand.Rand, pieces []string, n int) string {
	var b strings.Builder
	for j := rng.IntN(n); j >= 0; j-- {
		b.WriteString(pieces[rng.IntN(len(pieces))])
	}
	return b.String()
}

// decode reads valid UTF-8 as it is and drops what is not (each invalid
// byte is read as U+FFFD, which stripControls drops), whichever way it
// takes: a byte order mark and control characters go either way.
func TestDecodeValidAndNot(t *testing.T) {
	cases := []struct{ in, want string }{
		{"\xEF\xBB\xBFGENEVA – été", "GENEVA – été"},
		{"a\x00b\x07c", "abc"},
		{"caf\xe9 \xff ok", "caf  ok"},
		{"\xEF\xBB\xBFbroken \xc3", "broken "},
		{"zero\u200bwidth \uFFFD kept?", "zero\u200bwidth  kept?"},
	}
	for _, c := range cases {
		if got := decode([]byte(c.in)); got != c.want {
			t.Errorf("decode(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// stopLangsOf, a lookup by packed integer, must say for every word what a
// plain map from each stopword to its languages says.
func TestStopwordTableAgreesWithTheLists(t *testing.T) {
	want := map[string]uint32{}
	for i, lang := range stopLangs {
		for _, w := range stopwords[lang] {
			want[w] |= 1 << i
		}
	}
	words := []string{"", "a", "th", "thee", "them", "thes", "les ", "lesx", "élé", "tambienx", "abcdefghi", "\xff\xff", "werdenxx"}
	for w := range want {
		words = append(words, w, w+"s", w[1:], strings.ToUpper(w))
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 20000; i++ {
		b := make([]byte, 1+rng.IntN(9))
		for j := range b {
			b[j] = "aeioudelnrst"[rng.IntN(12)]
		}
		words = append(words, string(b))
	}
	found := 0
	for _, w := range words {
		if got := stopLangsOf(w); got != want[w] {
			t.Errorf("stopLangsOf(%q) = %b, want %b", w, got, want[w])
		}
		if want[w] != 0 {
			found++
		}
	}
	if found < len(want) {
		t.Fatalf("only %d of the %d stopwords were looked up", found, len(want))
	}
}

// firstRunes, which slices s, must give what converting the whole of s
// to runes and back gives, invalid bytes and all.
func TestFirstRunesAgreesWithRuneConversion(t *testing.T) {
	plain := func(s string, n int) string {
		if utf8.RuneCountInString(s) <= n {
			return s
		}
		return string([]rune(s)[:n])
	}
	rng := rand.New(rand.NewPCG(5, 6))
	alphabet := []string{"a", "é", "–", "€", "𝄞", "\xff", "\xe2\x80", " ", "\ufffd"}
	cut := 0
	for i := 0; i < 20000; i++ {
		var b strings.Builder
		for k := rng.IntN(12); k > 0; k-- {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		s, n := b.String(), rng.IntN(10)
		got, want := firstRunes(s, n), plain(s, n)
		if got != want {
			t.Fatalf("firstRunes(%q, %d) = %q, want %q", s, n, got, want)
		}
		if got != s {
			cut++
		}
	}
	if cut < 1000 {
		t.Fatalf("only %d strings were cut", cut)
	}
}
