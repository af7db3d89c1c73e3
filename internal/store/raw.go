package store

import (
	"bytes"
	"compress/flate"
	"io"
	"sync"
)

// A raw document is kept compressed (most are HTML or text that deflate
// shrinks several times over), behind a marker that documents stored
// before compression lack: the store grows by what it must keep.
var rawMagic = []byte("\x00crz1")

var writers = sync.Pool{New: func() any { w, _ := flate.NewWriter(nil, flate.BestSpeed); return w }}

// packRaw compresses a raw document for storage; one that does not shrink
// is kept as it is.
func packRaw(raw []byte) []byte {
	var b bytes.Buffer
	b.Write(rawMagic)
	w := writers.Get().(*flate.Writer)
	w.Reset(&b)
	w.Write(raw)
	w.Close()
	writers.Put(w)
	if b.Len() >= len(raw) {
		return raw
	}
	return b.Bytes()
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
