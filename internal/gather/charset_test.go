package gather

import "testing"

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
