package store

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// randomRows makes n rows like a merge's snapshot: sixteen bands, keys
// spread over 63 bits, items numbered, a few keys shared by several
// items (copies of a release), and, for the sort's sake, some values a
// store never makes (negative keys and items, bands out of range).
func randomRows(n int, odd bool) []bandRow {
	r := rand.New(rand.NewPCG(1, 2))
	rows := make([]bandRow, 0, n)
	for len(rows) < n {
		item := int64(r.IntN(4 * n))
		for b := 0; b < 16 && len(rows) < n; b++ {
			row := bandRow{bandKey{int64(r.Uint64() >> 1), b}, item}
			switch {
			case len(rows) > 0 && r.IntN(50) == 0: // a copy: a key another item has
				row.bandKey = rows[r.IntN(len(rows))].bandKey
			case odd && r.IntN(100) == 0:
				row.key, row.item, row.band = -row.key, -row.item, []int{-3, 99, math.MaxInt, math.MinInt}[r.IntN(4)]
			}
			rows = append(rows, row)
		}
	}
	r.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
	return rows
}

// TestSortRows checks the bucket sort against the comparison sort, on sets
// large enough to take it, with keys shared, and with negative values and
// bands out of range, which the comparison sort takes.
func TestSortRows(t *testing.T) {
	for _, n := range []int{0, 1, 100, bucketRows, 3*bucketRows + 17, 200_000} {
		for _, odd := range []bool{false, true} {
			rows := randomRows(n, odd)
			want := slices.Clone(rows)
			slices.SortFunc(want, compareRows)
			sortRows(rows)
			if !slices.Equal(rows, want) {
				i := 0
				for i < n && rows[i] == want[i] {
					i++
				}
				t.Fatalf("%d rows (odd values %v): row %d is %+v, want %+v", n, odd, i, rows[i], want[i])
			}
		}
	}
	// Every row the same but the item.
	rows := make([]bandRow, bucketRows)
	for i := range rows {
		rows[i] = bandRow{bandKey{42, 3}, int64(len(rows) - i)}
	}
	sortRows(rows)
	if !slices.IsSortedFunc(rows, compareRows) {
		t.Error("rows sharing one band and key are not in item order")
	}
}

// BenchmarkSortRows sorts a million-key snapshot, as a merge after a
// large import does, by buckets and with the comparison sort it
// replaced (the baseline, in the same run), and reports the ratio:
//
//	go test ./internal/store -run '^$' -bench SortRows
func BenchmarkSortRows(b *testing.B) {
	rows := randomRows(1_000_000, false)
	work := make([]bandRow, len(rows))
	var bucket, compare float64
	for b.Loop() {
		copy(work, rows)
		start := time.Now()
		if !bucketSortRows(work) {
			b.Fatal("a store's band keys were not bucket sorted")
		}
		bucket += float64(time.Since(start))
		copy(work, rows)
		start = time.Now()
		slices.SortFunc(work, func(a, b bandRow) int { // as sortRows did until 2026-12-07
			return cmp.Or(cmp.Compare(a.band, b.band), cmp.Compare(a.key, b.key), cmp.Compare(a.item, b.item))
		})
		compare += float64(time.Since(start))
	}
	b.ReportMetric(bucket/float64(b.N)/1e6, "bucket_ms")
	b.ReportMetric(compare/float64(b.N)/1e6, "compare_ms")
	b.ReportMetric(compare/bucket, "x_faster")
}
