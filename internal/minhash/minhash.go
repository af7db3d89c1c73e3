// Package minhash finds near-duplicate texts: MinHash signatures of word
// shingles, and locality-sensitive hashing bands to find candidates.
package minhash

import (
	"encoding/binary"
	"math"
)

// Signature is a MinHash signature of a release's body: the estimated
// Jaccard similarity of two bodies' word shingles is the share of equal
// positions. Copies of one release under different frames, with a line
// added or a typo mended, come out close; different releases far apart.
type Signature []uint32

// SignatureSize is the number of hashes; Bands*Rows must equal it.
const (
	SignatureSize = 64
	Bands         = 16
	Rows          = 4
	shingleWords  = 4
	minShingles   = 20 // shorter bodies get no signature: too little to judge
)

// Of computes the MinHash of the 4-word shingles of ws, or nil when ws is
// too short to judge.
func Of(ws []string) Signature {
	if len(ws) < shingleWords+minShingles {
		return nil
	}
	// The shingles' hashes first, then each slot's minimum over them:
	// a slot's multiplier and addend stay in registers for the whole
	// run, and the minimum is one compare a hash.
	var buf [512]uint64
	hs := shingleHashes(ws, buf[:0])
	low := make(Signature, SignatureSize)
	// Universal hashing family: a different odd multiplier per slot.
	// Four slots a pass, four minimums that do not wait on each other.
	for j := 0; j < SignatureSize; j += 4 {
		m0, m1, m2, m3 := mult[j], mult[j+1], mult[j+2], mult[j+3]
		a0, a1, a2, a3 := add[j], add[j+1], add[j+2], add[j+3]
		l0, l1, l2, l3 := uint32(math.MaxUint32), uint32(math.MaxUint32), uint32(math.MaxUint32), uint32(math.MaxUint32)
		for _, h := range hs {
			l0 = min(l0, uint32((h*m0+a0)>>32))
			l1 = min(l1, uint32((h*m1+a1)>>32))
			l2 = min(l2, uint32((h*m2+a2)>>32))
			l3 = min(l3, uint32((h*m3+a3)>>32))
		}
		low[j], low[j+1], low[j+2], low[j+3] = l0, l1, l2, l3
	}
	return low
}

var mult, add = func() (m, a [SignatureSize]uint64) {
	x := uint64(0x9E3779B97F4A7C15)
	for i := range m {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		m[i] = x | 1
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		a[i] = x
	}
	return
}()

// shingleHashes appends to hs the 64-bit FNV-1a hash of each run of
// shingleWords words of ws joined by spaces, without joining them. Each
// word is read once for the four shingles it is part of, their four
// hashes taken a byte at a time side by side: four chains of multiplies
// that do not wait on each other.
func shingleHashes(ws []string, hs []uint64) []uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	// st[k] is the hash of the shingle that starts at a word j with
	// j%4 == k, up to the word being read.
	const _ = uint(shingleWords-4) + uint(4-shingleWords) // the loop below reads four words a shingle
	var st [shingleWords]uint64
	for j, w := range ws {
		for k := range st {
			st[k] = (st[k] ^ ' ') * prime
		}
		st[j%shingleWords] = offset // the shingle starting here: no space
		s0, s1, s2, s3 := st[0], st[1], st[2], st[3]
		for i := 0; i < len(w); i++ {
			c := uint64(w[i])
			s0 = (s0 ^ c) * prime
			s1 = (s1 ^ c) * prime
			s2 = (s2 ^ c) * prime
			s3 = (s3 ^ c) * prime
		}
		st = [shingleWords]uint64{s0, s1, s2, s3}
		if j >= shingleWords-1 { // the shingle starting shingleWords-1 words back is whole
			hs = append(hs, st[(j+1)%shingleWords])
		}
	}
	return hs
}

// Similarity estimates the Jaccard similarity of the bodies two signatures
// were made of; 0 if either is missing.
func Similarity(a, b Signature) float64 {
	if len(a) != SignatureSize || len(b) != SignatureSize {
		return 0
	}
	eq := 0
	for i := range a {
		if a[i] == b[i] {
			eq++
		}
	}
	return float64(eq) / SignatureSize
}

// BandKeys returns the locality-sensitive hashing keys of a signature:
// documents that share a key are candidates for comparison.
func (s Signature) BandKeys() []int64 {
	if len(s) != SignatureSize {
		return nil
	}
	keys := make([]int64, Bands)
	for b := 0; b < Bands; b++ {
		h := uint64(14695981039346656037) ^ uint64(b)
		for _, v := range s[b*Rows : (b+1)*Rows] {
			h ^= uint64(v)
			h *= 1099511628211
		}
		keys[b] = int64(h >> 1)
	}
	return keys
}

// Bytes encodes s for storage.
func (s Signature) Bytes() []byte {
	b := make([]byte, 4*len(s))
	for i, v := range s {
		binary.LittleEndian.PutUint32(b[4*i:], v)
	}
	return b
}

// FromBytes decodes a stored signature.
func FromBytes(b []byte) Signature {
	if len(b) != 4*SignatureSize {
		return nil
	}
	s := make(Signature, SignatureSize)
	for i := range s {
		s[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return s
}

// Threshold is the similarity above which two bodies are one release.
const Threshold = 0.7
