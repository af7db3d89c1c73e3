package normalize

import (
	"strings"
	"unicode"
)

// stripControls removes control characters other than line breaks and tabs,
// which binary files and broken encodings bring in.
func stripControls(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return r
		}
		if unicode.IsControl(r) || r == '\uFFFD' || r == '\uFEFF' {
			return -1
		}
		return r
	}, s)
}
