package store

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"
	"time"
)

// docFilter is a Bloom filter over the documents stored, by source and
// key, and over the items' fingerprints: a source's run asks which of its
// documents are stored already (DocumentHashes), and those the filter
// rules out, every one in a run of new releases, are not looked up (half
// a millisecond a run of 50 in the ingest bench, before the run could
// make its first release).
//
// To DocumentHashes it is a hint: a document it wrongly calls absent is
// made again and found unchanged as it is saved. It learns each document
// and fingerprint this process saves (saveDocument, insertItem,
// updateItem), so a document another process stored after it was built
// costs that one extra making. It is built by Warm, learning meanwhile,
// and used once built; one that outgrows its room is dropped, and the
// next merge builds it anew, larger.
//
// To the save itself it is a rule while it is exact: while it holds every
// document and fingerprint of the store as of the items generation (the
// counter every transaction that stores or changes items moves by one,
// under the store's write lock or, on PostgreSQL, the items lock), a key
// or fingerprint it rules out is new, and saveDocument does not look it
// up (two statements a new release, about 14 µs of the store's goroutine).
// It is exact as of the generation its build read in its snapshot, and
// then of each later generation this process's own commits made, if they
// learnt into it (committed): a transaction binds the filter it learns
// into as it begins. A generation it did not see made (another process's
// commit) leaves it a hint until it is built again (stale).
type docFilter struct {
	mu    sync.Mutex
	built bool  // every document of the snapshot it was built from is in it
	bloom       // documents, by source and key
	fps   bloom // items' fingerprints

	// exactAt is the generation as of which it holds everything, -1
	// while it is not built; ahead are the generations this process's
	// commits made that it learnt, beyond exactAt.
	exactAt int64
	ahead   map[int64]bool
	// misses counts the transactions in a row that found it behind the
	// store; at staleAfter it is built again (startDocFilter).
	misses int
}

// staleAfter is how many saving transactions in a row find the filter
// behind the store's generation before it is built again: one may, when
// another goroutine's commit has not told the filter yet.
const staleAfter = 3

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

func fingerprintHash(fp string) (uint64, uint64) {
	x := maphash.String(docSeed, fp)
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

// learnFingerprint adds an item's fingerprint; a nil filter learns
// nothing.
func (f *docFilter) learnFingerprint(fp string) {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fps.set(fingerprintHash(fp))
}

// exact reports whether the filter holds every document and fingerprint
// stored as of generation gen, the store's now: its "no" is then sure. A
// transaction that finds it behind counts a miss (stale).
func (f *docFilter) exact(gen int64) bool {
	if f == nil {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.built || f.overfull() || f.fps.overfull() || f.exactAt != gen {
		if f.built {
			f.misses++
		}
		return false
	}
	f.misses = 0
	return true
}

// ruledOut reports whether the filter rules out the document; the caller
// knows it exact.
func (f *docFilter) ruledOut(source, key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.test(docHash(source, key))
}

// fingerprintRuledOut reports whether the filter rules out an item of
// the fingerprint; the caller knows it exact. The empty fingerprint (of
// retracted items) is never ruled out.
func (f *docFilter) fingerprintRuledOut(fp string) bool {
	if fp == "" {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.fps.test(fingerprintHash(fp))
}

// committed tells the filter that a commit of this process made
// generation gen, having learnt into it what it stored: the filter is
// then exact as of gen if it was as of the generation before (or becomes
// so once it is). A nil filter is told nothing.
func (f *docFilter) committed(gen int64) {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ahead == nil {
		f.ahead = map[int64]bool{}
	}
	f.ahead[gen] = true
	f.advance()
}

// advance moves exactAt over the generations ahead that follow it; the
// caller holds mu. Those left beyond a generation it did not see are
// dropped once there are many: the filter is stale then anyway.
func (f *docFilter) advance() {
	if f.exactAt < 0 {
		return
	}
	for f.ahead[f.exactAt+1] {
		delete(f.ahead, f.exactAt+1)
		f.exactAt++
	}
	if len(f.ahead) > 1024 {
		clear(f.ahead)
	}
}

// stale reports whether saving transactions keep finding the filter
// behind the store: another process stored or changed items since it was
// built, and only a new build makes it exact again.
func (f *docFilter) stale() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.misses >= staleAfter
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

// full reports whether the filter holds more documents or fingerprints
// than it has room for.
func (f *docFilter) full() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.overfull() || f.fps.overfull()
}

// buildDocFilter puts a new filter, sized for the documents and items
// stored, to use at once, reads every document's source and key and every
// item's fingerprint into it in one snapshot, and then lets DocumentHashes
// and the saves consult it: what this process saves meanwhile, after the
// snapshot or not, is learnt by saveDocument, and the commits that made
// the generations after the snapshot's are told to it (committed).
func (s *Store) buildDocFilter(ctx context.Context) error {
	var docs, items int64
	if err := s.r.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM items)`).Scan(&docs, &items); err != nil {
		return fmt.Errorf("document filter: %w", err)
	}
	f := &docFilter{bloom: newBloom(docs, 1<<16), fps: newBloom(items, 1<<16), exactAt: -1}
	s.docFilter.Store(f)
	var gen int64
	err := s.snapshot(ctx, func(tx *txn) error {
		if err := tx.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'items'`).Scan(&gen); err != nil {
			return err
		}
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
		if err := rows.Err(); err != nil {
			return err
		}
		rows, err = tx.QueryContext(ctx, `SELECT fingerprint FROM items`)
		if err != nil {
			return err
		}
		defer rows.Close()
		var fp string
		for rows.Next() {
			if err := rows.Scan(&fp); err != nil {
				return err
			}
			f.learnFingerprint(fp)
		}
		return rows.Err()
	})
	if err != nil {
		s.docFilter.CompareAndSwap(f, nil)
		return fmt.Errorf("document filter: %w", err)
	}
	f.mu.Lock()
	f.built = true
	f.exactAt = gen
	f.advance()
	f.mu.Unlock()
	return nil
}

// docsLearnt is what a transaction taught its document filter.
type docsLearnt struct {
	keys [][2]string // source, key
	fps  []string
}

// learnDocument teaches the transaction's filter, if it has one, a
// document, and keeps it for docsCommitted in any case: a filter put in
// use while the transaction ran may need it.
func (t *txn) learnDocument(source, key string) {
	t.docs.learn(source, key)
	t.learnt.keys = append(t.learnt.keys, [2]string{source, key})
}

// learnFingerprint teaches the transaction's filter, if it has one, an
// item's fingerprint, and keeps it for docsCommitted.
func (t *txn) learnFingerprint(fp string) {
	t.docs.learnFingerprint(fp)
	t.learnt.fps = append(t.learnt.fps, fp)
}

// docsCommitted tells the document filters that tx, which stored
// documents or items, committed as generation gen: the filter it learnt
// into (if any), and the filter in use now if it is another one (built
// meanwhile, or the first), which learns what tx stored first. A build's
// snapshot began after its filter was put in use; a transaction that
// committed before that snapshot is in it, and one that committed after
// it finds the new filter here (it looks after its commit). Without
// this, the transaction that found the old filter stale, and started the
// build, committed into the old one after the new one's snapshot, and
// the new one was never exact.
func (s *Store) docsCommitted(tx *txn, gen int64) {
	tx.docs.committed(gen)
	if now := s.docFilter.Load(); now != nil && now != tx.docs {
		for _, k := range tx.learnt.keys {
			now.learn(k[0], k[1])
		}
		for _, fp := range tx.learnt.fps {
			now.learnFingerprint(fp)
		}
		now.committed(gen)
	}
}

// docRebuildEvery spaces the builds startDocFilter starts (a variable
// for the tests).
var docRebuildEvery = 5 * time.Minute

// startDocFilter builds the document filter again in the background, one
// build at a time and one every docRebuildEvery at most: another process
// stored or changed items, and until the filter is exact again every
// document saved is looked up. (Under processes that keep writing beside
// each other it is seldom exact for long, and the saves look up as they
// did before it was a rule.)
func (s *Store) startDocFilter() {
	now := time.Now().UnixNano()
	if now-s.docRebuild.Load() < int64(docRebuildEvery) || s.closing.Err() != nil || !s.docBuilding.CompareAndSwap(false, true) {
		return
	}
	s.docRebuild.Store(now)
	s.background.Add(1)
	go func() {
		defer s.background.Done()
		defer s.docBuilding.Store(false)
		s.buildDocFilter(s.closing) // one that fails leaves none: the next merge builds it
	}()
}
