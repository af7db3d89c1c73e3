package normalize

import (
	"slices"
	"strings"
)

// Frame is what a source's pages share: navigation, headers, footers, share
// and cookie lines. It is learnt from the source's own documents (a line
// that recurs in different releases of one source is that site's frame),
// so a new office's frame is recognised without code changes.
type Frame struct {
	lines map[string]bool
}

// Len returns the number of frame lines.
func (f *Frame) Len() int {
	if f == nil {
		return 0
	}
	return len(f.lines)
}

// SameFor says whether documents with these frame lines come out the
// same under f and g: a block is dropped as frame when its line is a frame
// line (dropFrame), so they do when f and g agree on each of the lines.
func (f *Frame) SameFor(g *Frame, lines FrameLines) bool {
	for k := range lines {
		if f.has(k) != g.has(k) {
			return false
		}
	}
	return true
}

func (f *Frame) has(k string) bool { return f != nil && f.lines[k] }

// FrameLines is what one document contributes to its source's frame: the
// keys of the lines that may be frame. A source keeps the lines of its
// recent documents and learns its frame from them (FrameOf) without
// parsing those documents again.
type FrameLines map[string]bool

// LinesOf returns the frame candidates of one document.
func LinesOf(d Input) FrameLines { return Parse(d).Lines() }

// Lines returns the frame candidates of a parsed document.
func (p *Parsed) Lines() FrameLines {
	set := FrameLines{}
	for i := range p.blocks {
		b := &p.blocks[i]
		if !frameCandidate(*b) {
			continue
		}
		if k := b.wordKey(); k != "" {
			set[k] = true
		}
	}
	return set
}

// LearnFrame learns a source's frame from its documents.
func LearnFrame(docs []Input) *Frame {
	sets := make([]FrameLines, len(docs))
	for i, d := range docs {
		sets[i] = LinesOf(d)
	}
	return FrameOf(sets)
}

// FrameOf learns a frame from the lines of a source's documents. Copies of
// one release (documents sharing most of their lines) count once, so that
// a release published twice does not turn its own text into frame. A line
// is frame when it occurs in at least two different releases.
func FrameOf(sets []FrameLines) *Frame {
	// Each distinct line gets a number, and each document the sorted
	// numbers of its lines: comparing two documents is then a merge of two
	// short lists, not a map lookup of every long line.
	ids := map[string]int32{}
	var texts []string
	docs := make([][]int32, len(sets))
	for i, set := range sets {
		d := make([]int32, 0, len(set))
		for k := range set {
			id, ok := ids[k]
			if !ok {
				id = int32(len(texts))
				ids[k] = id
				texts = append(texts, k)
			}
			d = append(d, id)
		}
		slices.Sort(d)
		docs[i] = d
	}
	// Group near-identical documents (Jaccard of their lines >= 0.5).
	find := groupsBy(len(docs), func(i, j int) bool { return jaccardSorted(docs[i], docs[j]) >= 0.5 })
	// The groups each line is found in, each group counted once.
	groupsOf := make([][]int, len(texts))
	for i, d := range docs {
		g := find(i)
		for _, id := range d {
			if !slices.Contains(groupsOf[id], g) {
				groupsOf[id] = append(groupsOf[id], g)
			}
		}
	}
	f := &Frame{lines: map[string]bool{}}
	for id, gs := range groupsOf {
		if len(gs) < 2 {
			continue
		}
		// A long paragraph found in two releases is more likely a passage
		// they share than the site's frame: it takes a third to tell.
		if k := texts[id]; len(gs) >= 3 || len(strings.Fields(k)) <= 40 {
			f.lines[k] = true
		}
	}
	return f
}

// groupsBy joins 0 … n-1 into groups, i and j in one whenever near(i, j),
// and returns the function naming each one's group.
func groupsBy(n int, near func(i, j int) bool) func(int) int {
	group := make([]int, n)
	for i := range group {
		group[i] = i
	}
	find := func(i int) int {
		for group[i] != i {
			group[i] = group[group[i]]
			i = group[i]
		}
		return i
	}
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			if near(i, j) {
				group[find(i)] = find(j)
			}
		}
	}
	return find
}

// jaccardSorted is the Jaccard similarity of two sets given as sorted
// lists.
func jaccardSorted(a, b []int32) float64 {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	inter := 0
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] == b[j]:
			inter++
			i++
			j++
		case a[i] < b[j]:
			i++
		default:
			j++
		}
	}
	return float64(inter) / float64(len(a)+len(b)-inter)
}

// frameCandidate reports whether a block may be frame at all: a lead that
// opens with a dateline, and a block carrying contact data, never are.
func frameCandidate(b block) bool {
	if hasContactData(b.text) {
		return false
	}
	if b.words() >= 12 {
		if _, _, ok := dateline(b.text); ok {
			return false
		}
	}
	return true
}

// dropFrame removes frame blocks, keeping those that carry contact data.
func dropFrame(blocks []block, f *Frame) []block {
	if f.Len() == 0 {
		return blocks
	}
	out := blocks[:0:0]
	for _, b := range blocks {
		if !f.lines[b.wordKey()] || !frameCandidate(b) {
			out = append(out, b)
		}
	}
	return out
}
