package gather

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mmcdole/gofeed"

	"github.com/crier-hub/crier/internal/normalize"
)

// TestCorpusConformance runs crier's feed reader over the parser and
// validator suites of other projects (shared/corpora/MANIFEST.tsv): every
// RSS, Atom, RDF and JSON Feed input a conforming parser must accept is
// accepted, with at least as many entries as plain gofeed finds; every
// ill-formed one is refused with ErrNotFeed or accepted with a warning,
// but for the few listed with their reason in testdata/corpus_silent.tsv.
// It prints the counts and the slowest input.
func TestCorpusConformance(t *testing.T) {
	root, f := openCorpus(t, "Corpus")
	defer f.Close()
	formats := map[string]bool{"rss": true, "atom": true, "rdf": true, "json": true, "rss11": true, "atom-entry": true}
	type counts struct{ accepted, warned, refused, fewer int }
	byVerdict := map[string]*counts{"yes": {}, "no": {}}
	norm := normalize.New(nil)
	var slowest time.Duration
	var slowestPath string
	var failures []string
	silent := map[string]bool{} // known, and why, in the file
	known, err := os.ReadFile("testdata/corpus_silent.tsv")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(known), "\n") {
		if p, why, ok := strings.Cut(line, "\t"); ok && !strings.HasPrefix(line, "#") && why != "" {
			silent[p] = false
		}
	}
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		col := strings.Split(sc.Text(), "\t")
		if len(col) < 3 || !formats[col[1]] {
			continue
		}
		path, expect := col[0], col[2]
		raw, err := os.ReadFile(filepath.Join(root, path))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		p, err := ParseFeed(raw, "", "")
		for _, d := range p.Docs { // the rest of the ingest path
			f := normalize.Text
			if d.HTML {
				f = normalize.HTML
			}
			norm.Normalize(normalize.Input{Raw: d.Raw, Format: f, Title: d.Title, Date: d.Date, DateStated: d.DateStated})
		}
		if d := time.Since(start); d > slowest {
			slowest, slowestPath = d, path
		}
		c := byVerdict[expect]
		if c == nil {
			continue
		}
		want := 0
		if g, gerr := gofeed.NewParser().Parse(bytes.NewReader(raw)); gerr == nil {
			want = len(g.Items)
		}
		switch {
		case err != nil && !errors.Is(err, ErrNotFeed):
			failures = append(failures, path+": an error that is not ErrNotFeed: "+err.Error())
		case err != nil:
			c.refused++
			if expect == "yes" {
				failures = append(failures, path+": well-formed, refused: "+err.Error())
			}
		default:
			c.accepted++
			if len(p.Warnings) > 0 {
				c.warned++
			}
			if len(p.Docs) < want {
				c.fewer++
				failures = append(failures, path+": fewer entries than gofeed")
			}
			if expect == "no" && len(p.Warnings) == 0 {
				if _, ok := silent[path]; !ok {
					failures = append(failures, path+": ill-formed, read without a warning (refuse it, warn, or list it with its reason in testdata/corpus_silent.tsv)")
				}
				silent[path] = true
			}
		}
	}
	for p, seen := range silent {
		if !seen {
			failures = append(failures, p+": listed in testdata/corpus_silent.tsv but now refused or warned about: take it off the list")
		}
	}
	sort.Strings(failures)
	for _, fl := range failures {
		t.Error(fl)
	}
	y, n := byVerdict["yes"], byVerdict["no"]
	t.Logf("well-formed inputs: %d accepted (%d with a warning), %d refused, %d with fewer entries than gofeed", y.accepted, y.warned, y.refused, y.fewer)
	t.Logf("ill-formed inputs:  %d accepted with a warning, %d accepted silently, %d refused with ErrNotFeed", n.warned, n.accepted-n.warned, n.refused)
	t.Logf("slowest input: %s in %v", slowestPath, slowest)
}

// openCorpus opens the shared corpora's manifest, from CRIER_SHARED; a
// test without it is skipped, saying how to run it (-run pattern).
func openCorpus(t *testing.T, pattern string) (root string, manifest *os.File) {
	t.Helper()
	shared := os.Getenv("CRIER_SHARED")
	if shared == "" {
		t.Skip("CRIER_SHARED is not set: run `CRIER_SHARED=/path/to/shared go test ./internal/gather -run " + pattern + " -v` (bash .ci/run sets it when ../shared exists)")
	}
	root = filepath.Join(shared, "corpora")
	f, err := os.Open(filepath.Join(root, "MANIFEST.tsv"))
	if err != nil {
		t.Fatalf("CRIER_SHARED=%s: %v", shared, err)
	}
	return root, f
}
