// Package testenv sets up what crier's tests share: a config parsed as if
// it were a file in a folder, a fresh SQLite store in that folder, and a
// logger that keeps quiet.
package testenv

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"github.com/crier-hub/crier/internal/config"
	"github.com/crier-hub/crier/internal/store"
)

// New parses doc as dir/config.toml and opens a store in dir/crier.db,
// closed when the test ends.
func New(t testing.TB, dir, doc string) (*config.Config, *store.Store) {
	t.Helper()
	cfg, err := config.Parse(filepath.Join(dir, "config.toml"), []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), "sqlite", filepath.Join(dir, "crier.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return cfg, st
}

// Log is a logger that writes nothing.
func Log() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// SampleWords returns the words of the sample releases in
// dir/testdata/releases (dir is the repository's root), lower-cased, each
// as often as it appears there: text drawn from them at random has the
// vocabulary of real releases, words of many kinds and a few common ones,
// where a short list of words made releases that share most of their
// four-word shingles and a search index of a few dozen terms.
func SampleWords(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "testdata", "releases", "*.txt"))
	if err != nil {
		return nil, err
	}
	var words []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		for _, w := range strings.Fields(string(b)) {
			w = strings.TrimFunc(w, func(r rune) bool { return !unicode.IsLetter(r) })
			if w != "" && strings.IndexFunc(w, func(r rune) bool { return !unicode.IsLetter(r) && r != '\'' && r != '’' && r != '-' }) < 0 {
				words = append(words, strings.ToLower(w))
			}
		}
	}
	if len(words) < 1000 {
		return nil, fmt.Errorf("the sample releases in %s gave %d words, want 1,000 or more", filepath.Join(dir, "testdata", "releases"), len(words))
	}
	return words, nil
}
