// Package pgtest gives tests a fresh PostgreSQL database on the server
// that CRIER_TEST_POSTGRES names (bash .ci/run starts a throwaway one).
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// Env is the variable that names the test server's admin database.
const Env = "CRIER_TEST_POSTGRES"

// URL returns the test server's URL, or skips the test with a message
// saying how to run it.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(Env)
	if u == "" {
		t.Skip(Env + " is not set: run with " + Env + "=postgres://user@127.0.0.1:5432/postgres against a server where the user may create databases (bash .ci/run starts one)")
	}
	return u
}

// Temp creates an empty database on the test server, dropped when the
// test ends, and returns its URL. A URL that leads to no server fails
// the test.
func Temp(t testing.TB) string {
	t.Helper()
	admin := URL(t)
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatalf("%s: %v", Env, err)
	}
	defer db.Close()
	b := make([]byte, 6)
	rand.Read(b)
	name := "crier_test_" + hex.EncodeToString(b)
	if _, err := db.ExecContext(context.Background(), "CREATE DATABASE "+name); err != nil {
		t.Fatalf("%s=%s: create a test database: %v", Env, admin, err)
	}
	t.Cleanup(func() {
		if db, err := sql.Open("pgx", admin); err == nil {
			db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
			db.Close()
		}
	})
	u, _ := url.Parse(admin)
	u.Path = "/" + name
	return u.String()
}
