package minhash

import (
	"slices"
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

// Signatures are stored: a signature made now must be the one earlier
// crier made of the same words (FNV-1a of each shingle joined by spaces,
// then one universal hash per slot), or near-duplicates of stored items
// would go unnoticed.
func TestSignatureIsTheStoredScheme(t *testing.T) {
	fnv := func(s string) uint64 {
		h := uint64(14695981039346656037)
		for i := 0; i < len(s); i++ {
			h ^= uint64(s[i])
			h *= 1099511628211
		}
		return h
	}
	reference := func(ws []string) Signature {
		sig := make(Signature, SignatureSize)
		for i := range sig {
			sig[i] = ^uint32(0)
		}
		for i := 0; i+shingleWords <= len(ws); i++ {
			h := fnv(strings.Join(ws[i:i+shingleWords], " "))
			for j := range sig {
				if v := uint32((h*mult[j] + add[j]) >> 32); v < sig[j] {
					sig[j] = v
				}
			}
		}
		return sig
	}
	text := strings.Fields(`l'OIM et ses partenaires à Genève ont annoncé aujourd'hui un programme
		de retour volontaire pour 1 200 migrants bloqués au Niger, financé par l'Union européenne;
		the programme will support reintegration in Mali, Guinea and Senegal over the next 24 months,
		según la oficina regional en Dakar, que coordinará el registro y la asistencia médica`)
	if got, want := Of(text), reference(text); !slices.Equal(got, want) {
		t.Errorf("signature changed:\n got %v\nwant %v", got, want)
	}
	// Nothing is shared between calls.
	a := Of(text)
	b := Of(append(slices.Clone(text[1:]), "fin"))
	if slices.Equal(a, b) || !slices.Equal(a, reference(text)) {
		t.Errorf("signatures share memory or depend on earlier calls")
	}
}

func BenchmarkOf(b *testing.B) {
	var ws []string
	for i := range 400 {
		ws = append(ws, strings.Repeat("w", 3+i%7)+string(rune('a'+i%26)))
	}
	for b.Loop() {
		Of(ws)
	}
}
