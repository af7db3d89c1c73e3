package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The store's tests run against both engines: eachEngine runs a test as
// the subtests "sqlite" and "postgres". The PostgreSQL half needs a server:
// CRIER_TEST_POSTGRES is the URL of a database on it where the tests may
// create and drop databases (bash .ci/run starts a throwaway cluster and
// sets it). Without it the PostgreSQL half skips and says so.
func eachEngine(t *testing.T, test func(t *testing.T)) {
	t.Run("sqlite", test)
	t.Run("postgres", func(t *testing.T) {
		if os.Getenv("CRIER_TEST_POSTGRES") == "" {
			t.Skip("CRIER_TEST_POSTGRES is not set: run `CRIER_TEST_POSTGRES=postgres://user@127.0.0.1:5432/postgres go test ./internal/store` against a server where the user may create databases (bash .ci/run starts one)")
		}
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
	return TempPostgres(t, os.Getenv("CRIER_TEST_POSTGRES"))
}

// TempPostgres creates an empty database on the server of admin (a URL),
// dropped when the test ends, and returns its URL. A URL that leads to no
// server fails the test.
func TempPostgres(t testing.TB, admin string) string {
	t.Helper()
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatalf("CRIER_TEST_POSTGRES: %v", err)
	}
	defer db.Close()
	b := make([]byte, 6)
	rand.Read(b)
	name := "crier_test_" + hex.EncodeToString(b)
	if _, err := db.ExecContext(context.Background(), "CREATE DATABASE "+name); err != nil {
		t.Fatalf("CRIER_TEST_POSTGRES=%s: create a test database: %v", admin, err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", admin)
		if err == nil {
			db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
			db.Close()
		}
	})
	u, _ := url.Parse(admin)
	u.Path = "/" + name
	return u.String()
}
