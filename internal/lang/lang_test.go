package lang

import "testing"

func TestKnown(t *testing.T) {
	if n := len(known); n != 183 {
		t.Errorf("%d codes, want the 183 of ISO 639-1", n)
	}
	for code, want := range map[string]bool{"fr": true, "en": true, "es": true, "de": true, "zu": true, "xx": false, "FR": false, "fra": false, "": false} {
		if Known(code) != want {
			t.Errorf("Known(%q) = %v, want %v", code, !want, want)
		}
	}
}
