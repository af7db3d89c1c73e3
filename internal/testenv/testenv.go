// Package testenv sets up what crier's tests share: a config parsed as if
// it were a file in a folder, a fresh SQLite store in that folder, and a
// logger that keeps quiet.
package testenv

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

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
