package gather

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// cleanXMLChars drops what XML forbids (controls but tab, newline and
// carriage return; U+FFFE, U+FFFF; references to them) and keeps every
// other character, U+FFFD and the rest of the U+FFxx block among them.
func TestCleanXMLChars(t *testing.T) {
	cases := []struct{ in, want string }{
		{"plain ascii\ttext\r\n", "plain ascii\ttext\r\n"},
		{"a\x00b\x01c\x1fd", "abcd"},
		{"é€\uFFFD\uFFFC\uFFEF", "é€\uFFFD\uFFFC\uFFEF"},
		{"x\uFFFEy\uFFFFz", "xyz"},
		{"ends with \uFFFF", "ends with "},
		{"ref &#1; &#x41; &#xFFFE;", "ref  &#x41; "},
	}
	for _, c := range cases {
		if got := cleanXMLChars(c.in); got != c.want {
			t.Errorf("cleanXMLChars(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// Whatever bytes and label it is given, toUTF8 gives valid UTF-8 without
// the characters XML forbids: ParseFeed's fast reader (fastRSS) takes its
// text as plain without reading it again.
func TestToUTF8GivesPlainText(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	pieces := []string{"<rss>", "é", "€", "\xff", "\xe2\x80", "\x00", "\x01", "\t", "\n", "\uFFFE", "\uFFFF", "\uFEFF", "&#1;", "&#x41;", "&#xFFFE;",
		"<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>", "\xef\xbb\xbf", "\xfe\xff", "\xff\xfe", "a", " ", "\x85", "\x9f"}
	labels := []string{"", "text/xml", "text/xml; charset=utf-8", "text/xml; charset=iso-8859-1", "text/xml; charset=us-ascii", "text/xml; charset=utf-16", "text/xml; charset=windows-1251", "text/xml; charset=nonsense"}
	for i := 0; i < 20000; i++ {
		var b strings.Builder
		for n := rng.IntN(16); n > 0; n-- {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		in, label := b.String(), labels[rng.IntN(len(labels))]
		if out, _ := toUTF8([]byte(in), label); !plainText(out) && !strings.HasPrefix(out, "\uFEFF") {
			t.Fatalf("toUTF8(%q, %q) = %q: not plain text", in, label, out)
		}
	}
}

// hasIllegalXMLChar, eight bytes at a time, must say what reading a byte
// at a time says, wherever in a word the character falls.
func TestHasIllegalXMLCharAgreesByteByByte(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	pieces := []string{"a", "é", " ", "\t", "\n", "\r", "\x00", "\x1f", "\x20", "\x7f", "\xef", "\uFFFE", "\uFFFF", "\uFFFD", "\uFEFF", "\xef\xbf", "\xbf\xbe", "€", "abcdefg"}
	found := 0
	for i := 0; i < 50000; i++ {
		var b strings.Builder
		for n := rng.IntN(14); n > 0; n-- {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		s := b.String()
		want := illegalAt(s, 0, len(s))
		if got := hasIllegalXMLChar(s); got != want {
			t.Fatalf("hasIllegalXMLChar(%q) = %v, byte by byte %v", s, got, want)
		}
		if want {
			found++
		}
	}
	if found < 5000 {
		t.Fatalf("only %d of the strings had a forbidden character", found)
	}
}

// plainText says the text is valid UTF-8 holding only characters XML
// allows, and no byte order mark: what fastRSS takes its text to be.
func plainText(s string) bool {
	if !utf8.ValidString(s) || strings.HasPrefix(s, "\uFEFF") {
		return false
	}
	return !illegalAt(s, 0, len(s))
}
