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

// stopLangs lists stopwords' languages in a fixed order, and stopTable
// says, for each stopword, in which of them it is one (bit i for
// stopLangs[i]). Every stopword is at most 8 bytes, so a word is looked up
// as an integer (stopKey) in a small open-addressed table: one multiply
// and a probe or two a word of a release, not a string hash.
var stopLangs, stopTable = func() ([]string, *[stopSlots]stopSlot) {
	var langs []string
	for lang := range stopwords {
		langs = append(langs, lang)
	}
	sort.Strings(langs)
	t := new([stopSlots]stopSlot)
	for i, lang := range langs {
		for _, w := range stopwords[lang] {
			k := stopKey(w)
			if k == 0 {
				panic("normalize: stopword " + w + " is longer than 8 bytes")
			}
			j := stopHash(k)
			for t[j].key != 0 && t[j].key != k {
				j = (j + 1) % stopSlots
			}
			t[j].key = k
			t[j].langs |= 1 << i
		}
	}
	return langs, t
}()

// stopSlots is the table's size: a power of two, over twice the
// stopwords, so that probes are short.
const stopSlots = 512

type stopSlot struct {
	key   uint64
	langs uint32
}

// stopKey packs a word of one to eight bytes into an integer, its first
// byte highest (words hold no NUL, so two words never share a key), and
// gives 0 for a longer or empty word: no stopword.
func stopKey(w string) uint64 {
	if len(w) == 0 || len(w) > 8 {
		return 0
	}
	var k uint64
	for i := 0; i < len(w); i++ {
		k = k<<8 | uint64(w[i])
	}
	return k
}

func stopHash(k uint64) int { return int((k * 0x9E3779B97F4A7C15) >> (64 - 9)) }

// stopLangsOf says in which languages w is a stopword (stopTable's bits).
func stopLangsOf(w string) uint32 {
	k := stopKey(w)
	if k == 0 {
		return 0
	}
	for j := stopHash(k); ; j = (j + 1) % stopSlots {
		switch stopTable[j].key {
		case k:
			return stopTable[j].langs
		case 0:
			return 0
		}
	}
}

// detectLanguage returns the language whose function words dominate the
// folded words, or "" when the text is too short or too mixed to tell.
func detectLanguage(ws []string) string {
	counts := make([]int, len(stopLangs))
	for _, w := range ws {
		for set := stopLangsOf(w); set != 0; set &= set - 1 {
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
