package store

import (
	"bytes"
	"io"
	"runtime"

	// The same deflate streams as compress/flate's, made in about two
	// thirds of the time.
	"github.com/klauspost/compress/flate"
)

// A raw document is kept compressed (most are HTML or text that deflate
// shrinks several times over), behind a marker that documents stored
// before compression lack: the store grows by what it must keep.
var rawMagic = []byte("\x00crz1")

// writers keeps compressors for reuse, one per core: making one costs
// more than compressing a release, and a sync.Pool loses them at every
// collection.
var writers = make(chan *flate.Writer, runtime.GOMAXPROCS(0))

// packRaw compresses a raw document for storage; one that does not shrink
// is kept as it is.
func packRaw(raw []byte) []byte {
	var b bytes.Buffer
	b.Write(rawMagic)
	var w *flate.Writer
	select {
	case w = <-writers:
		w.Reset(&b)
	default:
		w, _ = flate.NewWriter(&b, flate.BestSpeed)
	}
	w.Write(raw)
	w.Close()
	select {
	case writers <- w:
	default:
	}
	if b.Len() >= len(raw) {
		return raw
	}
	return b.Bytes()
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
	if !bytes.HasPrefix(stored, rawMagic) {
		return stored
	}
	out, err := io.ReadAll(flate.NewReader(bytes.NewReader(stored[len(rawMagic):])))
	if err != nil {
		return stored
	}
	return out
}
