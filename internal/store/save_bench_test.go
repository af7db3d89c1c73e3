package store

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crier-hub/crier/internal/minhash"
)

// BenchmarkSaveReleases times the store's own part of an ingest, on
// SQLite: new releases saved 50 to a transaction (BeginSave, Save,
// Commit) as a source's run stores them, made beforehand as its makers
// make them (text, HTML, facets, signature, packed raw document); then the
// merges they leave, after each transaction. The baseline writes the same
// bytes (raw document, text and HTML) into one plain table, 50 rows to a
// transaction, in WAL mode with synchronous NORMAL as the store's writer:
// what the rows alone cost. It prints µs a release for crier's saving,
// for its merges, for the baseline, and the ratio of crier's saving to
// the baseline's.
//
//	go test ./internal/store -run '^$' -bench SaveReleases -benchtime 40x
func BenchmarkSaveReleases(b *testing.B) {
	ctx := context.Background()
	docs := benchReleases(b.N * 50)
	s, err := Open(ctx, "sqlite", filepath.Join(b.TempDir(), "crier.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.Warm(ctx); err != nil {
		b.Fatal(err)
	}
	plain, err := sql.Open("sqlite", "file:"+filepath.Join(b.TempDir(), "plain.db")+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate")
	if err != nil {
		b.Fatal(err)
	}
	defer plain.Close()
	plain.SetMaxOpenConns(1)
	if _, err := plain.Exec(`CREATE TABLE releases (key TEXT PRIMARY KEY, raw BLOB, text TEXT, html TEXT)`); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()

	// The merges each commit asks for run after it, timed apart: beside
	// the saving they would take the writer in turns with it.
	var saved, merged time.Duration
	for i := range b.N {
		start := time.Now()
		batch, err := s.BeginSave(ctx)
		if err != nil {
			b.Fatal(err)
		}
		out, err := batch.Save(ctx, docs[i*50:(i+1)*50])
		if err != nil {
			b.Fatal(err)
		}
		if err := batch.Commit(ctx); err != nil {
			b.Fatal(err)
		}
		saved += time.Since(start)
		for _, sv := range out {
			if sv.Status != Added {
				b.Fatalf("a release saved as %v, want added", sv.Status)
			}
		}
		start = time.Now()
		s.WaitForMerges(ctx)
		merged += time.Since(start)
	}

	start := time.Now()
	for i := range b.N {
		tx, err := plain.Begin()
		if err != nil {
			b.Fatal(err)
		}
		st, err := tx.Prepare(`INSERT INTO releases (key, raw, text, html) VALUES (?, ?, ?, ?)`)
		if err != nil {
			b.Fatal(err)
		}
		for _, d := range docs[i*50 : (i+1)*50] {
			if _, err := st.Exec(d.Key, d.packed, d.Item.ContentText, d.Item.ContentHTML); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	floor := time.Since(start)

	n := float64(len(docs))
	b.ReportMetric(float64(saved.Microseconds())/n, "crier_µs/release")
	b.ReportMetric(float64(merged.Microseconds())/n, "merges_µs/release")
	b.ReportMetric(float64(floor.Microseconds())/n, "plain_µs/release")
	b.ReportMetric(float64(saved)/float64(floor), "x_plain")
}

// benchReleases makes n distinct releases as the makers make them: about
// 2 KB of text from a vocabulary of a thousand words, its HTML, a country,
// a language, three topics, a signature and the packed raw document.
func benchReleases(n int) []Document {
	rng := rand.New(rand.NewPCG(7, 9))
	vocab := make([]string, 1000)
	for i := range vocab {
		vocab[i] = fmt.Sprintf("w%x%c", rng.Uint32()%0xfffff, 'a'+rune(i%26))
	}
	countries := []string{"BE", "LU", "FR", "ES", "CH", "MR", "SN"}
	topics := []string{"refugees", "health", "climate", "migration", "border", "return", "labour", "data"}
	docs := make([]Document, n)
	for i := range docs {
		words := make([]string, 300)
		for j := range words {
			words[j] = vocab[rng.IntN(len(vocab))]
		}
		text := strings.Join(words, " ")
		d := Document{SourceID: "bench", Key: fmt.Sprintf("release-%d", i), URL: fmt.Sprintf("https://example.org/r/%d", i), Raw: []byte("<html><body><p>" + text + "</p></body></html>"), Item: Item{
			Title:       strings.Join(words[:8], " "),
			Summary:     strings.Join(words[:40], " "),
			ContentText: text,
			ContentHTML: "<p>" + text + "</p>",
			Language:    []string{"fr", "en", "es"}[i%3],
			Country:     countries[i%len(countries)],
			Topics:      []string{topics[i%8], topics[(i+3)%8], topics[(i+5)%8]},
			Published:   time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute),
			DateKnown:   true,
			Fingerprint: fmt.Sprintf("fp-%d-%x", i, rng.Uint64()),
			Signature:   minhash.Of(words),
		}}
		d.Pack()
		docs[i] = d
	}
	return docs
}
