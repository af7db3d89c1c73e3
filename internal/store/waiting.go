package store

import (
	"context"
	"slices"
	"sync"

	"github.com/crier-hub/crier/internal/minhash"
)

// The near-duplicate keys of the items stored since the last merge are
// written nowhere: they are the band keys of those items' signatures,
// which each item's row holds. Every process keeps them in memory
// (waitingKeys), read from the signatures of the items above the merge's
// watermark (the counter bands_merged) when it first stores items, and
// caught up, like the filter, in each transaction that stores items.
// A merge writes them into item_bands in key order and then moves the
// watermark. (Until migration 0027 they waited in a table,
// item_bands_new: sixteen rows and two index entries a release, each on
// a random page of the table, so that every source run rewrote most of
// its pages; and a merge that deleted them again.)
//
// A corrected item's new keys go straight into item_bands, where every
// process finds them (each filter learns them through the item's
// change). The old keys of an item corrected or retracted may stay, in
// another process's memory or in item_bands after a merge that read them
// first: a lookup reads each candidate's current signature and skips
// retracted items, so a stale key costs a read and finds nothing.
//
// A merge takes the keys held (take) and leaves an empty set in their
// place: it reads what it took without the lock, lookups read both sets,
// and the merge drops what it took once written (mergedUpTo). Copying a
// million keys under the lock took 25 ms, and forgetting them one by one
// 40 ms, while a source's run waited to look a release up.
type waitingKeys struct {
	mu     sync.Mutex
	built  bool
	merged int64   // the items up to this id have their keys in item_bands
	upTo   int64   // those above merged up to this id have theirs here
	keySet         // the keys held, but a running merge's
	taken  *keySet // the keys a merge took and has not yet written, read-only; nil when none
	// merging says a merge is writing what it took (take to ended). Keys
	// taken by a merge that failed wait for the next, and count towards
	// it (untaken).
	merging bool
}

// keySet is a set of items' band keys.
type keySet struct {
	first map[bandKey]int64
	more  map[bandKey][]int64 // other items with the same key (rare)
	n     int64               // keys held
}

func newKeySet() keySet {
	return keySet{first: map[bandKey]int64{}, more: map[bandKey][]int64{}}
}

// bandKey is a band's key.
type bandKey struct {
	key  int64
	band int
}

// bandRow is a key of an item.
type bandRow struct {
	bandKey
	item int64
}

// reset empties w, for the items above merged; the caller holds mu.
func (w *waitingKeys) reset(merged int64) {
	w.merged, w.upTo = merged, merged
	w.keySet, w.taken = newKeySet(), nil
}

// add records the keys of item id, a signature's band keys by band; the
// caller holds mu.
func (w *keySet) add(id int64, keys []int64) {
	for b, k := range keys {
		w.addKey(bandKey{k, b}, id)
	}
}

// addKey records one key of item id; the caller holds mu.
func (w *keySet) addKey(bk bandKey, id int64) {
	cur, ok := w.first[bk]
	switch {
	case !ok:
		w.first[bk] = id
	case cur == id || slices.Contains(w.more[bk], id):
		return
	default:
		w.more[bk] = append(w.more[bk], id)
	}
	w.n++
}

// dropKey forgets one key of item id; the caller holds mu. A key a
// merge took stays until the merge ends: a lookup that finds it reads the
// item's current signature.
func (w *keySet) dropKey(bk bandKey, id int64) {
	cur, ok := w.first[bk]
	if !ok {
		return
	}
	more := w.more[bk]
	if cur == id {
		if len(more) == 0 {
			delete(w.first, bk)
		} else {
			w.first[bk] = more[0]
			more = more[1:]
		}
	} else if i := slices.Index(more, id); i >= 0 {
		more = slices.Delete(more, i, i+1)
	} else {
		return
	}
	if len(more) == 0 {
		delete(w.more, bk)
	} else {
		w.more[bk] = more
	}
	w.n--
}

// candidates appends to ids the items holding one of keys, held or taken
// by a running merge; the caller holds mu.
func (w *waitingKeys) candidates(ids []int64, keys []int64) []int64 {
	ids = w.keySet.candidates(ids, keys)
	if w.taken != nil {
		ids = w.taken.candidates(ids, keys)
	}
	return ids
}

// candidates appends to ids the items holding one of keys.
func (w *keySet) candidates(ids []int64, keys []int64) []int64 {
	for b, k := range keys {
		bk := bandKey{k, b}
		if id, ok := w.first[bk]; ok {
			ids = append(ids, id)
			ids = append(ids, w.more[bk]...)
		}
	}
	return ids
}

// rows returns every key held or taken, in no order (the caller holds
// w.mu).
func (w *waitingKeys) rows() []bandRow {
	out := w.keySet.rows()
	if w.taken != nil {
		out = append(out, w.taken.rows()...)
	}
	return out
}

// take hands the keys held to a merge, with the last item they reach, and
// holds none; keys a merge took and did not write (it failed) are handed
// over with them. The caller holds mu, and mergeMu.
func (w *waitingKeys) take() (*keySet, int64) {
	if w.taken == nil {
		taken := w.keySet
		w.taken = &taken
	} else {
		w.each(w.taken.addKey)
	}
	w.keySet = newKeySet()
	w.merging = true
	return w.taken, w.upTo
}

// ended says the merge that took keys is over, done or failed; the
// caller holds mu.
func (w *waitingKeys) ended() { w.merging = false }

// rows returns every key of the set, in no order.
func (w *keySet) rows() []bandRow {
	out := make([]bandRow, 0, w.n)
	w.each(func(bk bandKey, id int64) { out = append(out, bandRow{bk, id}) })
	return out
}

// each calls f with every key of the set and its item.
func (w *keySet) each(f func(bk bandKey, id int64)) {
	for bk, id := range w.first {
		f(bk, id)
		for _, more := range w.more[bk] {
			f(bk, more)
		}
	}
}

// mergedUpTo forgets the keys of the items up to id, which a merge has
// written to item_bands, and moves the watermark: the keys the merge took,
// and those held of items up to id (a commit may add keys a merge had
// already read from the database), few.
func (w *waitingKeys) mergedUpTo(id int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if id <= w.merged {
		return
	}
	w.taken = nil
	w.keySet.forgetUpTo(id)
	w.merged = id
	w.upTo = max(w.upTo, id)
}

// forgetUpTo drops the keys of the items up to id.
func (w *keySet) forgetUpTo(id int64) {
	for bk, first := range w.first {
		more := w.more[bk]
		kept := more[:0]
		for _, m := range more {
			if m > id {
				kept = append(kept, m)
			} else {
				w.n--
			}
		}
		if first <= id {
			w.n--
			if len(kept) == 0 {
				delete(w.first, bk)
			} else {
				w.first[bk] = kept[0]
				kept = kept[1:]
			}
		}
		if len(kept) == 0 {
			delete(w.more, bk)
		} else {
			w.more[bk] = kept
		}
	}
}

// untaken counts the keys w holds that no running merge has taken: those
// that wait for the next merge (a failed merge's among them).
func (w *waitingKeys) untaken() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := w.n
	if w.taken != nil && !w.merging {
		n += w.taken.n
	}
	return n
}

// held counts the keys w holds, a running merge's among them.
func (w *waitingKeys) held() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := w.n
	if w.taken != nil {
		n += w.taken.n
	}
	return n
}

// pendingKeys are the changes a transaction made to the waiting keys,
// applied to the process's when it commits.
type pendingKeys struct {
	added   keySet    // the keys of the items it stored
	dropped []bandRow // keys of items it corrected or retracted
	newest  int64     // the largest item id it stored
}

// waitingFor returns the process's waiting keys caught up to now in tx,
// a transaction that holds the items lock: built from the signatures
// above the watermark the first time, rebuilt if another process merged
// meanwhile, then with the keys of the items other processes stored
// since.
func (s *Store) waitingFor(ctx context.Context, tx *txn, now itemsNow) (*waitingKeys, error) {
	w := &s.waiting
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.built || now.merged > w.merged {
		w.reset(now.merged)
		w.built = true
	}
	if now.last > w.upTo {
		rows, err := s.wstmt(ctx, tx, `SELECT id, signature FROM items WHERE id > ? AND retracted = ''`).QueryContext(ctx, w.upTo)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			var raw []byte
			if err := rows.Scan(&id, &raw); err != nil {
				return nil, err
			}
			if keys := minhash.FromBytes(raw).BandKeys(); keys != nil {
				w.add(id, keys)
			}
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
		w.upTo = now.last
	}
	return w, nil
}

// commitWaiting applies what a transaction that has committed did to
// the waiting keys. It takes their lock at once and applies the change on
// a goroutine of its own, which lets the lock go when done: the commit
// returns without waiting (a run of 50 new releases waited 0.3 ms for
// their 800 keys, the last thing it did before its record), and whoever
// reads or changes the keys next (the next transaction that stores items,
// a merge) waits for them, so that none sees the store without them.
func (s *Store) commitWaiting(p *pendingKeys) {
	w := &s.waiting
	w.mu.Lock()
	go func() {
		defer w.mu.Unlock()
		w.apply(p)
	}()
}

// apply is commitWaiting's change; the caller holds mu.
func (w *waitingKeys) apply(p *pendingKeys) {
	for _, r := range p.dropped {
		w.dropKey(r.bandKey, r.item)
	}
	if !w.built {
		return // built from the signatures when first wanted
	}
	// A merge that caught up from the database between the commit and
	// now has these keys already, and may have merged them.
	p.added.each(func(bk bandKey, id int64) {
		if id > w.merged {
			w.addKey(bk, id)
		}
	})
	w.upTo = max(w.upTo, p.newest)
}
