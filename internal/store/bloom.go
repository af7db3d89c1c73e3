package store

import "math/bits"

// bloom is a Bloom filter's bits, for the store's filters of what it
// holds (bandFilter, docFilter): a "no" is sure, and a "maybe" comes for
// about one absent value in a hundred while it holds no more than room
// values. Its callers lock it.
type bloom struct {
	bits []uint64
	mask uint64
	room int64 // values it holds before it answers "maybe" too often
	n    int64 // values added
}

// bloomHashes is the number of bits each value sets: with ten bits a
// value, about one absent value in a hundred is a "maybe".
const bloomHashes = 7

// newBloom sizes a filter for about n values, with room for as many
// again and for least values at the least.
func newBloom(n, least int64) bloom {
	room := max(2*n, least)
	m := uint64(1) << bits.Len64(uint64(room*10)-1) // bits, a power of two
	return bloom{bits: make([]uint64, m/64), mask: m - 1, room: room}
}

// set records a value by its two hashes (h, and an odd step between the
// bits it sets).
func (f *bloom) set(h, step uint64) {
	for i := 0; i < bloomHashes; i++ {
		b := h & f.mask
		f.bits[b/64] |= 1 << (b % 64)
		h += step
	}
	f.n++
}

// test reports whether the value of hashes h and step may have been set.
func (f *bloom) test(h, step uint64) bool {
	for i := 0; i < bloomHashes; i++ {
		b := h & f.mask
		if f.bits[b/64]&(1<<(b%64)) == 0 {
			return false
		}
		h += step
	}
	return true
}

// overfull reports whether it holds more values than it has room for.
func (f *bloom) overfull() bool { return f.n > f.room }
