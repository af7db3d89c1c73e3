package store

import (
	"bytes"
	"io"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/s2"
)

// A raw document is kept compressed (most are HTML or text), behind a
// marker that documents stored before compression lack: the store grows
// by what it must keep. New documents are compressed with S2 (Snappy's
// format, extended), s2Magic; until 2026-12-07 they were deflated,
// deflateMagic, which is still read. Deflate made them about a quarter
// smaller (2.2 against 1.7 times smaller than the sample releases, each of
// about 4 KB), at nearly three times the CPU (22.5 against 8 µs a
// release), most of it building each document's Huffman tables: that CPU
// was taken from the cores a run's releases are made on, and the ingest
// bench measured about 5% more releases a second with S2.
var (
	deflateMagic = []byte("\x00crz1")
	s2Magic      = []byte("\x00crs2")
)

// packRaw compresses a raw document for storage; one that does not shrink
// is kept as it is.
func packRaw(raw []byte) []byte {
	out := make([]byte, len(s2Magic), len(s2Magic)+s2.MaxEncodedLen(len(raw)))
	copy(out, s2Magic)
	enc := s2.EncodeBetter(out[len(s2Magic):cap(out)], raw) // in out's array, after the marker
	out = out[:len(s2Magic)+len(enc)]
	if len(out) >= len(raw) {
		return raw
	}
	return out
}

// Pack compresses and hashes d's raw bytes for storage now, on the
// caller's core, not the writer's: a caller making many documents at once
// packs each as it makes it. SaveDocuments packs the documents that are
// not packed yet.
func (d *Document) Pack() {
	if d.packed == nil {
		d.packed = packRaw(d.Raw)
		d.hash = ContentHash(d.Raw)
	}
}

// unpackRaw returns a stored raw document as it was given.
func unpackRaw(stored []byte) []byte {
	switch {
	case bytes.HasPrefix(stored, s2Magic):
		if out, err := s2.Decode(nil, stored[len(s2Magic):]); err == nil {
			return out
		}
	case bytes.HasPrefix(stored, deflateMagic):
		if out, err := io.ReadAll(flate.NewReader(bytes.NewReader(stored[len(deflateMagic):]))); err == nil {
			return out
		}
	}
	return stored
}
