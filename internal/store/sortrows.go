package store

import (
	"cmp"
	"slices"

	"github.com/crier-hub/crier/internal/minhash"
)

// sortRows puts rows in the order of item_bands' key: band, key, item. A
// merge sorts its snapshot after letting go of the waiting keys (sorting
// a million keys under the lock took about 300 ms, and a source's run,
// whose lookups take the lock, waited for it). After a large import the
// snapshot holds a million keys or more, and a comparison sort of them
// took about half a second of a core beside the first source runs after
// the store was opened: sets that large are bucket sorted.
func sortRows(rows []bandRow) {
	if len(rows) < bucketRows || !bucketSortRows(rows) {
		slices.SortFunc(rows, compareRows)
	}
}

func compareRows(a, b bandRow) int {
	if a.band != b.band {
		return cmp.Compare(a.band, b.band)
	}
	if a.key != b.key {
		return cmp.Compare(a.key, b.key)
	}
	return cmp.Compare(a.item, b.item)
}

// rowLess orders two rows of one bucket, whose band is the same.
func rowLess(a, b *bandRow) bool {
	return a.key < b.key || a.key == b.key && a.item < b.item
}

// bucketRows is the size from which sortRows sorts by buckets: below it,
// the buckets cost more than they save.
const bucketRows = 1 << 14

// topBits of a key, with its band, choose its bucket: 16 × 2,048 buckets,
// about 30 rows each at a million keys.
const topBits = 11

// bucketSortRows sorts rows in one pass that puts each in its bucket (its
// band, then the top bits of its key: band keys are hashes, spread evenly
// over 63 bits), then sorts each bucket by insertion, or by comparison if
// it is large. It returns false, having changed nothing, if a row is not
// a band key as minhash makes them (a band out of range, a negative key).
func bucketSortRows(rows []bandRow) bool {
	const buckets = minhash.Bands << topBits
	start := make([]int, buckets+1)
	for i := range rows {
		r := &rows[i]
		if r.band < 0 || r.band >= minhash.Bands || r.key < 0 {
			return false
		}
		start[bucketOf(r)+1]++
	}
	for b := 1; b <= buckets; b++ {
		start[b] += start[b-1]
	}
	sorted := make([]bandRow, len(rows))
	next := slices.Clone(start[:buckets])
	for i := range rows {
		b := bucketOf(&rows[i])
		sorted[next[b]] = rows[i]
		next[b]++
	}
	for b := range buckets {
		bucket := sorted[start[b]:start[b+1]]
		if len(bucket) > 64 { // keys not spread as hashes are
			slices.SortFunc(bucket, compareRows)
			continue
		}
		for i := 1; i < len(bucket); i++ { // insertion: about 30 rows
			r := bucket[i]
			j := i
			for ; j > 0 && rowLess(&r, &bucket[j-1]); j-- {
				bucket[j] = bucket[j-1]
			}
			bucket[j] = r
		}
	}
	copy(rows, sorted)
	return true
}

// bucketOf is a band key's bucket, in the rows' order: its band, then the
// top bits of its 63-bit key.
func bucketOf(r *bandRow) int {
	return r.band<<topBits | int(r.key>>(63-topBits))
}
