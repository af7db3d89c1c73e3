package normalize

import (
	"math/bits"
	"sort"
)

// stopwords are frequent function words, accent-folded. A press release has
// hundreds of them, which makes counting them a reliable language test
// without a statistical model. The lists avoid words two languages share.
var stopwords = map[string][]string{
	"en": {"the", "and", "of", "to", "is", "was", "for", "that", "with", "which", "this", "have", "has", "from", "by", "are", "were", "their", "its", "will", "would", "been", "who", "said", "also", "they", "not", "but", "more", "than"},
	"fr": {"le", "les", "des", "du", "et", "est", "une", "dans", "pour", "qui", "sur", "avec", "aux", "au", "ont", "sont", "ce", "cette", "il", "elle", "nous", "pas", "plus", "leur", "leurs", "par", "mais", "ou", "ses", "ete"},
	"es": {"el", "los", "las", "del", "y", "es", "una", "por", "para", "con", "que", "su", "sus", "al", "lo", "como", "mas", "pero", "fue", "ha", "han", "este", "esta", "entre", "sobre", "tambien", "segun", "muy", "sin", "hay"},
	"de": {"der", "die", "und", "das", "ist", "nicht", "mit", "auf", "den", "dem", "sich", "ein", "eine", "auch", "wurde", "zu", "von", "im", "fur", "werden"},
	"it": {"il", "della", "di", "che", "non", "per", "sono", "nel", "gli", "alla", "questo", "anche", "delle", "degli", "ha", "e", "piu", "suo", "dei", "stato"},
	"pt": {"o", "os", "da", "do", "das", "dos", "em", "um", "uma", "nao", "com", "para", "que", "foi", "sao", "pelo", "pela", "mais", "tambem", "seu"},
	// Not "de" or "en": Spanish and French use them as much as Dutch.
	"nl": {"het", "een", "van", "niet", "zijn", "op", "dat", "voor", "met", "ook", "wordt", "werd", "aan", "bij", "naar", "heeft", "om", "deze", "wij", "hun", "worden", "hebben"},
}

// stopLangs lists stopwords' languages in a fixed order, and stopIndex
// says, for each stopword, in which of them it is one (bit i for
// stopLangs[i]): one map lookup per word of a release.
var stopLangs, stopIndex = func() ([]string, map[string]uint32) {
	var langs []string
	for lang := range stopwords {
		langs = append(langs, lang)
	}
	sort.Strings(langs)
	index := map[string]uint32{}
	for i, lang := range langs {
		for _, w := range stopwords[lang] {
			index[w] |= 1 << i
		}
	}
	return langs, index
}()

// detectLanguage returns the language whose function words dominate the
// folded words, or "" when the text is too short or too mixed to tell.
func detectLanguage(ws []string) string {
	counts := make([]int, len(stopLangs))
	for _, w := range ws {
		for set := stopIndex[w]; set != 0; set &= set - 1 {
			counts[bits.TrailingZeros32(set)]++
		}
	}
	scores := map[string]int{}
	for i, n := range counts {
		if n > 0 {
			scores[stopLangs[i]] = n
		}
	}
	type ls struct {
		lang  string
		score int
	}
	var ranked []ls
	for l, s := range scores {
		ranked = append(ranked, ls{l, s})
	}
	sort.Slice(ranked, func(i, j int) bool {
		if ranked[i].score != ranked[j].score {
			return ranked[i].score > ranked[j].score
		}
		return ranked[i].lang < ranked[j].lang
	})
	if len(ranked) == 0 || ranked[0].score < 5 {
		return ""
	}
	// The winner must clearly lead: 1.5 times the runner-up.
	if len(ranked) > 1 && ranked[0].score*2 < ranked[1].score*3 {
		return ""
	}
	return ranked[0].lang
}
