package store

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"
)

// docFilter is a Bloom filter over the documents stored, by source and
// key: a source's run asks which of its documents are stored already
// (DocumentHashes), and those the filter rules out, every one in a run of
// new releases, are not looked up (half a millisecond a run of 50 in the
// ingest bench, before the run could make its first release).
//
// It is a hint, never a rule: a document it wrongly calls absent is made
// again and found unchanged by the store's own lookup as it is saved,
// which does not ask the filter. It learns each document this process
// saves or finds stored (saveDocument), so a document another process
// stored after it was built costs that one extra making. It is built by
// Warm, learning meanwhile, and used once built; one that outgrows its
// room is dropped, and the next merge builds it anew, larger.
type docFilter struct {
	mu    sync.Mutex
	built bool // every document of the snapshot it was built from is in it
	bloom
}

// docSeed seeds the filter's hashes; the filter lives in memory only.
var docSeed = maphash.MakeSeed()

func docHash(source, key string) (uint64, uint64) {
	var h maphash.Hash
	h.SetSeed(docSeed)
	h.WriteString(source)
	h.WriteByte(0)
	h.WriteString(key)
	x := h.Sum64()
	return x, (x>>32 | x<<32) | 1
}

// learn adds a document; a nil filter learns nothing.
func (f *docFilter) learn(source, key string) {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.set(docHash(source, key))
}

// mayHave returns those of keys of source the filter cannot rule out: all
// of them, as they are, when it is nil, not yet built, or full.
func (f *docFilter) mayHave(source string, keys []string) []string {
	if f == nil {
		return keys
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.built || f.overfull() {
		return keys
	}
	var out []string
	for _, k := range keys {
		if f.test(docHash(source, k)) {
			out = append(out, k)
		}
	}
	return out
}

// full reports whether the filter holds more documents than it has room
// for.
func (f *docFilter) full() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.overfull()
}

// buildDocFilter puts a new filter, sized for the documents stored, to
// use at once, reads every document's source and key into it in one
// snapshot, and then lets DocumentHashes consult it: what this process
// saves meanwhile, after the snapshot or not, is learnt by saveDocument.
func (s *Store) buildDocFilter(ctx context.Context) error {
	var n int64
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM documents`).Scan(&n); err != nil {
		return fmt.Errorf("document filter: %w", err)
	}
	f := &docFilter{bloom: newBloom(n, 1<<16)}
	s.docFilter.Store(f)
	err := s.snapshot(ctx, func(tx *txn) error {
		rows, err := tx.QueryContext(ctx, `SELECT source_id, key FROM documents`)
		if err != nil {
			return err
		}
		defer rows.Close()
		var source, key string
		for rows.Next() {
			if err := rows.Scan(&source, &key); err != nil {
				return err
			}
			f.learn(source, key)
		}
		return rows.Err()
	})
	if err != nil {
		s.docFilter.CompareAndSwap(f, nil)
		return fmt.Errorf("document filter: %w", err)
	}
	f.mu.Lock()
	f.built = true
	f.mu.Unlock()
	return nil
}
