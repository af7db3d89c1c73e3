package gather

import (
	"bytes"
	"mime"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html/charset"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/encoding/unicode/utf32"
	"golang.org/x/text/transform"
)

var xmlDeclRE = regexp.MustCompile(`^\s*<\?xml\s[^>]*?\?>`)
var encAttrRE = regexp.MustCompile(`\s+encoding\s*=\s*["']([^"']*)["']`)
var versionAttrRE = regexp.MustCompile(`(version\s*=\s*["'])1\.1(["'])`)

// toUTF8 returns an XML document as UTF-8 text whatever its encoding, with
// its declaration rewritten to say so. The byte order mark decides first,
// then the byte pattern of UTF-16/32 without one, then the HTTP charset,
// then the XML declaration. A declaration that lies (UTF-8 bytes declared
// as Latin-1, Latin-1 bytes declared as UTF-8) is caught by looking at the
// bytes, and invalid UTF-8 is repaired rather than the feed rejected.
// warnings says what was repaired.
func toUTF8(b []byte, contentType string) (text string, warnings []string) {
	if enc, n := sniffUnicode(b); enc != nil {
		out, err := enc.NewDecoder().Bytes(b[n:])
		if err == nil {
			return fixDecl(cleanXMLChars(string(out))), nil
		}
		warnings = append(warnings, "could not decode the document as "+name(enc))
	}
	bom := bytes.HasPrefix(b, []byte{0xEF, 0xBB, 0xBF})
	b = bytes.TrimPrefix(b, []byte{0xEF, 0xBB, 0xBF})
	label := ""
	if _, params, err := mime.ParseMediaType(contentType); err == nil {
		label = params["charset"]
	}
	declared := ""
	if m := xmlDeclRE.Find(b); m != nil {
		if e := encAttrRE.FindSubmatch(m); e != nil {
			declared = string(e[1])
		}
	}
	if bom && declared != "" && !strings.EqualFold(declared, "utf-8") && !strings.EqualFold(declared, "utf8") {
		warnings = append(warnings, "a UTF-8 byte order mark, but the declaration says "+declared+"; read as UTF-8")
		declared = ""
	}
	if label == "" {
		label = declared
	}
	if l := strings.ToLower(label); (l == "us-ascii" || l == "ascii") && hasHighBit(b) {
		warnings = append(warnings, "declared "+label+" but holds bytes above 127")
	}
	var enc encoding.Encoding
	canonical := ""
	if label != "" {
		if e, c := charset.Lookup(label); e != nil {
			if c != "utf-8" {
				enc, canonical = e, c
			}
		} else {
			warnings = append(warnings, "unknown charset "+label+"; read as UTF-8")
		}
	}
	validUTF8 := utf8.Valid(b)
	if l := strings.ToLower(label); strings.HasPrefix(l, "utf-16") || strings.HasPrefix(l, "utf-32") || strings.HasPrefix(l, "ucs-2") || l == "unicode" {
		// A UTF-16 or UTF-32 document would have been recognised above by
		// its byte order mark or its first bytes: this one is not.
		warnings = append(warnings, "declared "+label+" but the bytes are not UTF-16 or UTF-32; read as UTF-8")
		enc = nil
	}
	if enc != nil && validUTF8 && hasMultibyte(b) && isSingleByte(canonical) {
		warnings = append(warnings, "declared charset "+label+" but the bytes are UTF-8; read as UTF-8")
		enc = nil
	}
	var s string
	switch {
	case enc != nil:
		out, err := enc.NewDecoder().Bytes(b)
		if err != nil {
			warnings = append(warnings, "could not decode as "+label+"; read as UTF-8")
			s = strings.ToValidUTF8(string(b), "\uFFFD")
		} else {
			s = string(out)
		}
	case validUTF8:
		s = string(b)
	case !hasMultibyte(b):
		// Not one valid UTF-8 sequence: the bytes are a single-byte charset.
		out, _ := charmap.Windows1252.NewDecoder().Bytes(b)
		s = string(out)
		warnings = append(warnings, "invalid UTF-8: read as Windows-1252")
	default:
		s = repairUTF8(b)
		warnings = append(warnings, "invalid UTF-8 repaired")
	}
	return fixDecl(cleanXMLChars(s)), warnings
}

func name(e encoding.Encoding) string {
	if s, ok := e.(interface{ String() string }); ok {
		return s.String()
	}
	return "its Unicode encoding"
}

// sniffUnicode recognises UTF-16 and UTF-32 by byte order mark or by the
// pattern of "<" and "?" at the start.
func sniffUnicode(b []byte) (encoding.Encoding, int) {
	switch {
	case bytes.HasPrefix(b, []byte{0xFF, 0xFE, 0, 0}):
		return utf32.UTF32(utf32.LittleEndian, utf32.IgnoreBOM), 4
	case bytes.HasPrefix(b, []byte{0, 0, 0xFE, 0xFF}):
		return utf32.UTF32(utf32.BigEndian, utf32.IgnoreBOM), 4
	case bytes.HasPrefix(b, []byte{0xFF, 0xFE}):
		return unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM), 2
	case bytes.HasPrefix(b, []byte{0xFE, 0xFF}):
		return unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM), 2
	case bytes.HasPrefix(b, []byte{'<', 0, 0, 0}):
		return utf32.UTF32(utf32.LittleEndian, utf32.IgnoreBOM), 0
	case bytes.HasPrefix(b, []byte{0, 0, 0, '<'}):
		return utf32.UTF32(utf32.BigEndian, utf32.IgnoreBOM), 0
	case bytes.HasPrefix(b, []byte{'<', 0}):
		return unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM), 0
	case bytes.HasPrefix(b, []byte{0, '<'}):
		return unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM), 0
	}
	return nil, 0
}

func hasHighBit(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

func hasMultibyte(b []byte) bool {
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r != utf8.RuneError && n > 1 {
			return true
		}
		b = b[n:]
	}
	return false
}

// isSingleByte reports whether a charset (by its WHATWG name) has one
// byte per character: text in it is almost never valid UTF-8 with
// multibyte sequences, so a document that is must be UTF-8 mislabelled.
func isSingleByte(canonical string) bool {
	switch {
	case strings.HasPrefix(canonical, "windows-"), strings.HasPrefix(canonical, "iso-8859-"), strings.HasPrefix(canonical, "koi8-"):
		return true
	}
	return canonical == "macintosh" || canonical == "ibm866" || canonical == "x-mac-cyrillic"
}

// fixDecl makes the XML declaration say UTF-8 (the text now is) and
// version 1.0 (Go's XML reader knows no other; 1.1 documents read the same).
// A declaration that says both already is kept, and the text not copied.
func fixDecl(s string) string {
	s = strings.TrimLeft(s, " \t\r\n\uFEFF")
	loc := xmlDeclRE.FindStringIndex(s)
	if loc == nil {
		return s
	}
	if e := encAttrRE.FindAllStringSubmatch(s[loc[0]:loc[1]], 2); (len(e) == 0 || len(e) == 1 && strings.EqualFold(e[0][1], "utf-8")) && !versionAttrRE.MatchString(s[loc[0]:loc[1]]) {
		return s
	}
	decl := encAttrRE.ReplaceAllString(s[loc[0]:loc[1]], "")
	decl = versionAttrRE.ReplaceAllString(decl, "${1}1.0${2}")
	return decl + s[loc[1]:]
}

var charRefRE = regexp.MustCompile(`&#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,10}));`)

func illegalXMLChar(r rune) bool {
	return r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0xFFFE || r == 0xFFFF || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF)
}

// cleanXMLChars drops characters XML 1.0 forbids (most C0 controls), raw
// or as character references, which would stop any XML parser.
func cleanXMLChars(s string) string {
	if strings.Contains(s, "&#") {
		s = charRefRE.ReplaceAllStringFunc(s, func(m string) string {
			sub := charRefRE.FindStringSubmatch(m)
			var v int64
			var err error
			if sub[1] != "" {
				v, err = strconv.ParseInt(sub[1], 16, 64)
			} else {
				v, err = strconv.ParseInt(sub[2], 10, 64)
			}
			if err != nil || illegalXMLChar(rune(v)) || v > 0x10FFFF {
				return ""
			}
			return m
		})
	}
	if !hasIllegalXMLChar(s) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0xFFFE || r == 0xFFFF {
			return -1
		}
		return r
	}, s)
}

// hasIllegalXMLChar reports whether valid UTF-8 s holds a character XML
// forbids that cleanXMLChars drops: a control character other than tab,
// newline and carriage return (one byte below 0x20), or U+FFFE or U+FFFF
// (EF BF BE, EF BF BF). Read a byte at a time, not a rune: a feed is
// mostly ASCII, and decoding each rune took a third of reading it.
func hasIllegalXMLChar(s string) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		// Eight bytes at once: whether one is below 0x20 or is 0xEF (the
		// first byte of U+FFFE and U+FFFF), exactly (a byte's borrow
		// reaches its own high bit only if it is below the bound). Most
		// words of a document have neither; one that has is read a byte
		// at a time.
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		low := (x - 0x20*ones) &^ x & highs
		y := x ^ 0xEF*ones
		ef := (y - ones) &^ y & highs
		if low|ef != 0 && illegalAt(s, i, i+8) {
			return true
		}
	}
	return illegalAt(s, i, len(s))
}

// illegalAt reports whether a character XML forbids starts at one of the
// bytes of s from i up to end.
func illegalAt(s string, i, end int) bool {
	for ; i < end; i++ {
		switch c := s[i]; {
		case c < 0x20 && c != '\t' && c != '\n' && c != '\r':
			return true
		case c == 0xEF && i+2 < len(s) && s[i+1] == 0xBF && (s[i+2] == 0xBE || s[i+2] == 0xBF):
			return true
		}
	}
	return false
}

// repairUTF8 keeps the valid UTF-8 of a document and reads each byte that
// is not as Windows-1252: a document pasted together from UTF-8 and
// Latin-1 comes out whole.
func repairUTF8(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b))
	dec := charmap.Windows1252
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n <= 1 {
			sb.WriteRune(dec.DecodeByte(b[0]))
			b = b[1:]
			continue
		}
		sb.Write(b[:n])
		b = b[n:]
	}
	return sb.String()
}

// Decode returns an HTML page or a text file as UTF-8, deciding its
// encoding as browsers do (the HTML standard's order): a byte order mark,
// then the HTTP Content-Type charset, then a <meta> charset in the first
// 1024 bytes, else UTF-8 when the bytes are valid UTF-8, else
// Windows-1252. It is the one place where pages and files are decoded;
// normalize reads UTF-8.
func Decode(b []byte, contentType string) []byte {
	enc, label, _ := charset.DetermineEncoding(b, contentType)
	switch {
	case bytes.HasPrefix(b, []byte{0xEF, 0xBB, 0xBF}):
		b = b[3:]
	case label == "utf-8" && !utf8.Valid(b) && !hasMultibyte(b):
		// Declared UTF-8 (or assumed), but not one multi-byte sequence in
		// it: a single-byte file.
		enc = charmap.Windows1252
	case isSingleByte(label) && utf8.Valid(b) && hasMultibyte(b):
		// Declared single-byte, but the bytes are UTF-8: mislabelled.
		return b
	}
	if label == "utf-8" && enc != charmap.Windows1252 {
		return []byte(strings.ToValidUTF8(string(b), "\uFFFD"))
	}
	out, _, err := transform.Bytes(unicode.BOMOverride(enc.NewDecoder()), b)
	if err != nil {
		return []byte(strings.ToValidUTF8(string(b), "\uFFFD"))
	}
	return out
}
