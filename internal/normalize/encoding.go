package normalize

import (
	"strings"
	"unicode"
	"unicode/utf16"

	"golang.org/x/text/encoding/charmap"
)

func utf16Decode(raw []byte) string {
	be := raw[0] == 0xFE
	raw = raw[2:]
	u := make([]uint16, 0, len(raw)/2)
	for i := 0; i+1 < len(raw); i += 2 {
		if be {
			u = append(u, uint16(raw[i])<<8|uint16(raw[i+1]))
		} else {
			u = append(u, uint16(raw[i+1])<<8|uint16(raw[i]))
		}
	}
	return stripControls(string(utf16.Decode(u)))
}

func windows1252(raw []byte) string {
	s, err := charmap.Windows1252.NewDecoder().Bytes(raw)
	if err != nil {
		return strings.ToValidUTF8(string(raw), "\uFFFD")
	}
	return string(s)
}

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
