package minhash

import (
	"strings"
	"testing"
)

func TestSimilarity(t *testing.T) {
	base := strings.Fields(strings.Repeat("the organization said families need shelter water and schools after the floods in the north of the country ", 5) +
		"officials asked partners for tents blankets and medicine before the rains return next month")
	withLine := append(append([]string(nil), base...), strings.Fields("this release was first published by the regional office")...)
	other := strings.Fields(strings.Repeat("a new programme gives young people training loans and advice to start businesses in their home towns ", 5) +
		"the ministry of labour will run it with employers")
	if s := Similarity(Of(base), Of(base)); s != 1 {
		t.Errorf("identical texts: %v", s)
	}
	if s := Similarity(Of(base), Of(withLine)); s < Threshold {
		t.Errorf("a copy with a line added: %v, want at least %v", s, Threshold)
	}
	if s := Similarity(Of(base), Of(other)); s >= 0.3 {
		t.Errorf("different releases: %v", s)
	}
	if Of(strings.Fields("too short to judge")) != nil {
		t.Error("a short text got a signature")
	}
	sig := Of(base)
	if got := FromBytes(sig.Bytes()); Similarity(got, sig) != 1 || len(sig.BandKeys()) != Bands {
		t.Error("signatures do not survive storage")
	}
}
