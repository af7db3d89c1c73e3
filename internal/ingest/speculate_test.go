package ingest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crier-hub/crier/internal/store"
	"github.com/crier-hub/crier/internal/testenv"
)

// frameRelease is a release of an office whose pages share a frame, and
// extra lines after its text.
func frameRelease(i int, extra ...string) string {
	return fmt.Sprintf(`Home
Our offices
Media centre
Release %d of the office
GENEVA, %d March 2021 – The office published release number %d today, about a matter of its own that no other release shares: %d.
It goes on about that matter at some length, with figures of its own: %d people, %d sites and %d partners.
A third paragraph names the %d towns where the office works on it.
A fourth recalls what the office did about it in %d.
A fifth says what comes next, by the end of week %d.
%s
Follow us
Privacy policy
`, i, i%27+1, i, i*7919, i*13, i*17, i*19, i+3, 1990+i, i%50+1, strings.Join(extra, "\n"))
}

// A run's releases are made with the frame the source's last run learnt
// and stored as each is parsed; they are kept only if the frame learnt
// again with them treats each the same. When this run's releases make a
// new line frame (two of them share it), the run is made again with the
// new frame: what is stored is what learning the frame first gives.
func TestFrameOfTheLastRunTakenOnlyWhereItHolds(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "r"), 0o755)
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "r", name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 4; i++ {
		write(fmt.Sprintf("a%d.txt", i), frameRelease(i))
	}
	cfg, st := testenv.New(t, dir, "[[sources]]\nid = \"s\"\nkind = \"dir\"\npath = \"r\"\nlanguage = \"en\"\n")
	in := New(cfg, st, testenv.Log())
	var kept []bool
	defer func() { speculated = nil }()
	speculated = func(ok bool) { kept = append(kept, ok) }
	run := func() {
		t.Helper()
		if r := in.Run(ctx, cfg.Sources[0]); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	run() // the first run learns the frame before making anything
	// Two new releases share a line no earlier one has: frame now.
	const shared = "The office thanks its partners across the region"
	write("b1.txt", frameRelease(11, shared))
	write("b2.txt", frameRelease(12, shared))
	run()
	// A release with the frame as it stands.
	write("c1.txt", frameRelease(21))
	run()
	if fmt.Sprint(kept) != "[false true]" {
		t.Fatalf("releases made with the last run's frame kept: %v, want [false true] (the shared line moved the frame; then it held)", kept)
	}
	items, err := st.Items(ctx, store.Query{Limit: 50})
	if err != nil || len(items) != 7 {
		t.Fatalf("%d items (%v), want 7", len(items), err)
	}
	for _, it := range items {
		for _, frame := range []string{shared, "Our offices", "Privacy policy"} {
			if strings.Contains(it.ContentText, frame) {
				t.Errorf("%q keeps the frame line %q:\n%s", it.Title, frame, it.ContentText)
			}
		}
		if !strings.Contains(it.ContentText, "at some length") {
			t.Errorf("%q lost its own text:\n%s", it.Title, it.ContentText)
		}
	}
}
