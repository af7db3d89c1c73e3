package normalize

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// frameByMaps is FrameOf as it was first written, with maps for sets: the
// reference the faster FrameOf is held to (the grouping, unchanged, is
// shared).
func frameByMaps(sets []FrameLines) map[string]bool {
	jaccard := func(a, b FrameLines) float64 {
		if len(a) == 0 || len(b) == 0 {
			return 0
		}
		inter := 0
		for k := range a {
			if b[k] {
				inter++
			}
		}
		return float64(inter) / float64(len(a)+len(b)-inter)
	}
	find := groupsBy(len(sets), func(i, j int) bool { return jaccard(sets[i], sets[j]) >= 0.5 })
	groupsOf := map[string]map[int]bool{}
	for i, set := range sets {
		for k := range set {
			if groupsOf[k] == nil {
				groupsOf[k] = map[int]bool{}
			}
			groupsOf[k][find(i)] = true
		}
	}
	out := map[string]bool{}
	for k, gs := range groupsOf {
		need := 2
		if len(strings.Fields(k)) > 40 {
			need = 3
		}
		if len(gs) >= need {
			out[k] = true
		}
	}
	return out
}

// TestFrameOfAgreesWithMaps compares FrameOf with the map-based reference
// on random sources: shared frame lines, copies of one release, long
// shared passages and empty documents.
func TestFrameOfAgreesWithMaps(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	long := strings.Repeat("word ", 45)
	for round := 0; round < 200; round++ {
		var sets []FrameLines
		n := rng.IntN(40)
		for i := 0; i < n; i++ {
			set := FrameLines{}
			for l := 0; l < rng.IntN(12); l++ {
				set[fmt.Sprintf("menu line %d", rng.IntN(8))] = true
			}
			for l := 0; l < rng.IntN(6); l++ {
				set[fmt.Sprintf("body %d of release %d", l, i)] = true
			}
			if rng.IntN(4) == 0 {
				set[fmt.Sprintf("%s%d", long, rng.IntN(3))] = true
			}
			sets = append(sets, set)
			if rng.IntN(5) == 0 { // a copy of the release, a line added
				c := FrameLines{"added " + fmt.Sprint(i): true}
				for k := range set {
					c[k] = true
				}
				sets = append(sets, c)
			}
		}
		want := frameByMaps(sets)
		got := FrameOf(sets)
		if got.Len() != len(want) {
			t.Fatalf("round %d: %d frame lines, the reference %d", round, got.Len(), len(want))
		}
		for k := range want {
			if !got.lines[k] {
				t.Fatalf("round %d: %q is frame by the reference, not by FrameOf", round, k)
			}
		}
	}
}
