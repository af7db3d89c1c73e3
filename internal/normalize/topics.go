package normalize

import (
	"sort"
	"strings"
)

// Topic is one entry of the taxonomy: keywords per language.
type Topic struct {
	Slug     string
	Keywords map[string][]string
}

type topicMatcher struct {
	slug     string
	keywords map[string][]string // language -> folded keywords
}

func compileTopics(ts []Topic) []topicMatcher {
	out := make([]topicMatcher, 0, len(ts))
	for _, t := range ts {
		m := topicMatcher{slug: t.Slug, keywords: map[string][]string{}}
		for lang, kws := range t.Keywords {
			for _, k := range kws {
				if k = foldWords(k); k != "" {
					m.keywords[lang] = append(m.keywords[lang], k)
				}
			}
		}
		out = append(out, m)
	}
	return out
}

// matchTopics returns, sorted, the slugs of the topics whose keywords occur
// at the start of a word of text (words joined by single spaces, folded).
// The keywords of lang are used; when the taxonomy has none for lang, every
// language's keywords are.
func matchTopics(ms []topicMatcher, text, lang string) []string {
	haveLang := false
	for _, m := range ms {
		if len(m.keywords[lang]) > 0 {
			haveLang = true
			break
		}
	}
	var out []string
	for _, m := range ms {
		var kws []string
		if haveLang {
			kws = m.keywords[lang]
		} else {
			for _, k := range m.keywords {
				kws = append(kws, k...)
			}
		}
		for _, k := range kws {
			// k starts a word: at the start of text or after a space.
			if strings.HasPrefix(text, k) || strings.Contains(text, " "+k) {
				out = append(out, m.slug)
				break
			}
		}
	}
	sort.Strings(out)
	return out
}
