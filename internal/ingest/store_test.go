package ingest

import "github.com/crier-hub/crier/internal/store"

// concrete is the store behind a Store, for tests that look inside it.
func concrete(s Store) *store.Store { return s.(*store.Store) }
