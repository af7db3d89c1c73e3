package normalize

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkNormalize normalizes every golden release, read from disk, and
// in the same run only reads and hashes the same files: the floor any
// ingest pays. It reports both rates and their ratio:
//
//	go test ./internal/normalize -run '^$' -bench Normalize -benchtime 3s
func BenchmarkNormalize(b *testing.B) {
	var paths []string
	var langs []string
	for _, src := range goldenSources {
		files, _ := filepath.Glob(filepath.Join(src.dir, "*.*"))
		for _, f := range files {
			if ext := filepath.Ext(f); ext == ".txt" || ext == ".md" || ext == ".html" {
				paths = append(paths, f)
				langs = append(langs, src.lang)
			}
		}
	}
	if len(paths) == 0 {
		b.Fatal("no releases to normalize")
	}
	n := New(goldenTopics)
	var norm, hash time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		for _, p := range paths {
			raw, err := os.ReadFile(p)
			if err != nil {
				b.Fatal(err)
			}
			sha256.Sum256(raw)
		}
		hash += time.Since(start)
		start = time.Now()
		for j, p := range paths {
			raw, err := os.ReadFile(p)
			if err != nil {
				b.Fatal(err)
			}
			f := Text
			if filepath.Ext(p) == ".html" {
				f = HTML
			}
			n.Normalize(Input{Raw: raw, Format: f, Date: goldenRef, Language: langs[j]})
		}
		norm += time.Since(start)
	}
	releases := float64(b.N * len(paths))
	b.ReportMetric(releases/norm.Seconds(), "normalized/s")
	b.ReportMetric(releases/hash.Seconds(), "read+hash/s")
	b.ReportMetric(norm.Seconds()/hash.Seconds(), "x_hash_time")
}
