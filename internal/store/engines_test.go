package store

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crier-hub/crier/internal/pgtest"
	"github.com/crier-hub/crier/internal/store/postgres"
	"github.com/crier-hub/crier/internal/store/schema"
	"github.com/crier-hub/crier/internal/store/sqlite"
)

// The store's tests run against both engines: eachEngine runs a test as
// the subtests "sqlite" and "postgres". The PostgreSQL half needs a server:
// CRIER_TEST_POSTGRES is the URL of a database on it where the tests may
// create and drop databases (bash .ci/run starts a throwaway cluster and
// sets it). Without it the PostgreSQL half skips and says so.
func eachEngine(t *testing.T, test func(t *testing.T)) {
	t.Run("sqlite", test)
	t.Run("postgres", func(t *testing.T) {
		pgtest.URL(t) // skips, saying how to run it, without a server
		test(t)
	})
}

// engineOf is the engine a subtest of eachEngine runs on.
func engineOf(t *testing.T) string {
	if strings.Contains(t.Name(), "/postgres") {
		return "postgres"
	}
	return "sqlite"
}

// openTemp opens a new, empty store of the test's engine, removed when
// the test ends. It returns the store and its DSN.
func openTemp(t *testing.T) (*Store, string) {
	t.Helper()
	dsn := tempDSN(t)
	s, err := Open(context.Background(), engineOf(t), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dsn
}

// startClock sets the store's clock to 2026-01-01 and returns it: the test
// moves it (*clock = clock.Add(…)) and the store reads it.
func startClock(s *Store) *time.Time {
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return clock }
	return &clock
}

// reopen opens the store at dsn again, as another process would.
func reopen(t *testing.T, dsn string) *Store {
	t.Helper()
	s, err := Open(context.Background(), engineOf(t), dsn)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// tempDSN makes a place for a new store: a file in a temporary folder, or
// a new database on the test server.
func tempDSN(t *testing.T) string {
	t.Helper()
	if engineOf(t) == "sqlite" {
		return filepath.Join(t.TempDir(), "crier.db")
	}
	return pgtest.Temp(t)
}

// migration is one numbered, embedded schema change.
type migration = schema.Migration

// migrationsOf lists an engine's embedded migrations in order.
func migrationsOf(engine string) ([]migration, error) {
	if engine == "postgres" {
		return postgres.Migrations()
	}
	return sqlite.Migrations()
}

// migrate applies migrations the store lacks, with the engine's own
// bookkeeping.
func (s *Store) migrate(ctx context.Context, all []migration) error {
	if s.pg {
		return postgres.Migrate(ctx, s.w.DB, all)
	}
	return sqlite.Migrate(ctx, s.w.DB, all)
}
