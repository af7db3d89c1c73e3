package store

import (
	"cmp"
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// Near-duplicate band keys live in two levels: those of the items stored
// since the last merge wait in memory (waitingKeys), the rest are in
// item_bands. A new key lands on a random page, so once item_bands is
// larger than memory each item stored there would write sixteen pages;
// MergeBands moves the waiting keys over in sorted batches of about one
// key for each item of the store, which writes each page of item_bands
// about once for ten keys instead of once per key.

// minBandBatch is the fewest waiting keys worth a merge (a variable for
// the tests).
var minBandBatch int64 = 1 << 16

// bandsDue reports, in tx, a transaction that stored items, whether
// enough keys wait to merge: one for each item of the store, and at least
// minBandBatch. (Four for each item made merges cheaper by a tenth a key,
// but the waiting level, then a table, four times as large cost more on
// every release stored.) The keys a running merge took are not counted:
// until 2026-12-07 they were, so that every commit during a merge asked
// for another, and the keys stored meanwhile were merged right after it,
// however few (in the ingest bench at 150 rounds, 54,000 keys after
// 65,536, 100 ms alone at the end of the runs), each page of item_bands
// written again for fewer keys.
func (s *Store) bandsDue(ctx context.Context, tx *txn) (bool, error) {
	var items int64
	err := s.wstmt(ctx, tx, `SELECT value FROM counters WHERE name = 'item_count'`).QueryRowContext(ctx).Scan(&items)
	waiting := s.waiting.untaken()
	if p := tx.pending; p != nil {
		waiting += p.added.n
	}
	return waiting >= max(items, minBandBatch), err
}

// startMerges asks for the merge of the near-duplicate keys a commit made
// due and starts the process's merger, under mergeMu, unless it is
// running or the store is closing. (Under writers that never pause it
// still falls far behind: a bench/scale build of a million items left 13
// million keys waiting; README, "At a million items".) The search index
// has an indexer of its own (searchindex.go).
func (s *Store) startMerges() {
	s.bandsWanted.Store(true)
	if s.closing.Err() != nil || !s.mergeMu.TryLock() {
		return
	}
	s.background.Add(1)
	go func() {
		defer s.background.Done()
		for {
			s.runMerges(s.closing)
			s.mergeMu.Unlock()
			// Asked for after the merger's last look: it goes on, unless
			// another took the lock meanwhile.
			if !s.bandsWanted.Load() || s.closing.Err() != nil || !s.mergeMu.TryLock() {
				return
			}
		}
	}()
}

// WaitForMerges returns once the merges this process's commits asked for
// are done, doing them itself if no merger is left to (for the
// benchmarks, which time them).
func (s *Store) WaitForMerges(ctx context.Context) {
	s.mergeMu.Lock()
	s.runMerges(ctx)
	s.mergeMu.Unlock()
	s.catchUpSearch(ctx, 1)
}

// runMerges does the merges asked for until none is; the caller holds
// mergeMu. An error leaves the keys or segments as they are: the next
// commit asks again.
func (s *Store) runMerges(ctx context.Context) {
	for ctx.Err() == nil && s.bandsWanted.Swap(false) {
		s.mergeBands(ctx)
	}
}

// MergeBands writes the waiting band keys into item_bands, a chunk of
// keys per transaction, so that writers wait for one chunk at most, and
// then moves the watermark: a key is in memory or in item_bands, or both
// while the merge runs. It is safe beside other writers and other
// processes. A merge running in this process is waited for.
func (s *Store) MergeBands(ctx context.Context) error {
	s.mergeMu.Lock()
	defer s.mergeMu.Unlock()
	return s.mergeBands(ctx)
}

// mergeBands is MergeBands; the caller holds mergeMu.
func (s *Store) mergeBands(ctx context.Context) error {
	if err := s.mergeWaiting(ctx); err != nil {
		return fmt.Errorf("merge near-duplicate keys: %w", err)
	}
	// The store has grown since the writer's cache was sized, and perhaps
	// past the near-duplicate filter's room.
	if err := s.sizeWriterCache(ctx); err != nil {
		return err
	}
	if f := s.docFilter.Load(); s.wantsFilter.Load() && (f == nil || f.full()) {
		if err := s.buildDocFilter(ctx); err != nil {
			return err
		}
	}
	if f := s.bandFilter.Load(); s.wantsFilter.Load() && (f == nil || f.full()) {
		return s.buildBandFilter(ctx)
	}
	return nil
}

// catchUpWaiting catches the waiting keys up with the items stored, in a
// transaction of its own that holds the items lock, and returns them.
func (s *Store) catchUpWaiting(ctx context.Context) (*waitingKeys, error) {
	tx, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if err := s.lockItems(ctx, tx); err != nil {
		return nil, err
	}
	now, err := s.readItemsNow(ctx, tx)
	if err != nil {
		return nil, err
	}
	return s.waitingFor(ctx, tx, now)
}

// mergeWaiting writes the keys waiting now into item_bands and moves the
// watermark past their items.
func (s *Store) mergeWaiting(ctx context.Context) error {
	w, err := s.catchUpWaiting(ctx)
	if err != nil {
		return err
	}
	w.mu.Lock()
	taken, upTo := w.take()
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.ended()
		w.mu.Unlock()
	}()
	rows := taken.rows() // no one writes what a merge took
	sortRows(rows)
	if len(rows) == 0 {
		return nil
	}
	// The first chunk is the size the last merge ended on, or the
	// smallest: at a million items a first chunk of 8,192 keys held the
	// writer 237 ms before the sizes adapted.
	chunk := cmp.Or(s.mergeSize, min(minMergeChunk, mergeChunk))
	defer func() { s.mergeSize = chunk }()
	for len(rows) > 0 {
		n := min(chunk, len(rows))
		wrote, took, err := s.writeBandKeys(ctx, rows[:n])
		if err != nil {
			return err
		}
		rows = rows[wrote:]
		// The chunk's pages go back into the database file before the next
		// chunk, on the checkpointer's connection while writers go on.
		// Without this, every few chunks a commit took 80-190 ms (why is
		// not found; README, "At a million items"); with it, at a million
		// items, runs of 50 releases beside a merge took 47 ms (median),
		// 124 ms (nine in ten) and 146 ms at most, against 63, 206 and 240
		// ms without. The merge takes longer, in the background.
		s.checkpoint(ctx)
		if wrote == n { // a chunk cut short says nothing of its size
			chunk = nextChunk(chunk, took)
		}
	}
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE counters SET value = ? WHERE name = 'bands_merged' AND value < ?`, upTo, upTo); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	w.mergedUpTo(upTo)
	return nil
}

// bandsPerInsert is how many keys one statement of a merge inserts.
const bandsPerInsert = 64

// writeBandKeys inserts rows, in key order, into item_bands in one
// transaction, or the first of them if a writer comes (cutShort), and
// says how many and how long it held the writer.
func (s *Store) writeBandKeys(ctx context.Context, rows []bandRow) (int, time.Duration, error) {
	stop := s.cutShort(s.giveWay(ctx))
	tx, err := s.beginMerge(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer tx.Rollback()
	start := time.Now()
	args := make([]any, 0, 3*bandsPerInsert)
	wrote := 0
	for len(rows) > 0 && (wrote == 0 || !stop()) {
		n := bandsPerInsert
		if len(rows) < n {
			n = 1
		}
		args = args[:0]
		for _, r := range rows[:n] {
			args = append(args, r.band, r.key, r.item)
		}
		if _, err := s.wstmt(ctx, tx, `INSERT INTO item_bands (band, key, item_id) VALUES `+valueRows(n, 3)+` ON CONFLICT DO NOTHING`).ExecContext(ctx, args...); err != nil {
			return 0, 0, err
		}
		rows = rows[n:]
		wrote += n
	}
	if err := tx.Commit(); err != nil {
		return 0, 0, err
	}
	took := time.Since(start)
	s.merges.chunkDone(took)
	return wrote, took, nil
}

// A merge moves its keys a chunk a transaction, so that writers (a
// source's run) wait for one chunk at most. The keys of a chunk are
// sorted, but in a large store they still land on about as many pages of
// item_bands as there are keys: a chunk of 8,192 keys held the writer for
// up to 330 ms at a million items, and a few tens of ms at ten thousand.
// So each chunk is sized from the time the last one took, to hold the
// writer about mergeHold: at most twice or half the last one's size,
// between minMergeChunk and mergeChunk keys. The pages written are about
// the same whatever the size: consecutive chunks cover consecutive
// ranges of keys.
var (
	mergeChunk = 8192
	mergeHold  = 20 * time.Millisecond
)

const minMergeChunk = 256

// A merge gives way to the store's other writers: before each chunk it
// waits, for mergeYield at most, until none holds or waits for the writer
// and none let it go in the last mergeGap. A source's run takes the writer
// two or three times close together (its releases, then its record);
// without the gap, a chunk took it in between and the run waited for the
// chunk each time. Under writers that never pause, a merge still has at
// least a fifth of the writer's time.
var (
	mergeGap   = 3 * time.Millisecond
	mergeYield = 4 * mergeHold
)

// giveWay waits as a merge gives way (see mergeGap), and says whether it
// stopped waiting at mergeYield, writers still about.
func (s *Store) giveWay(ctx context.Context) (forced bool) {
	deadline := time.Now().Add(mergeYield)
	for {
		quiet := time.Since(time.Unix(0, s.lastWrite.Load()))
		if s.writing.Load() == 0 && quiet >= mergeGap {
			return false
		}
		wait := mergeGap - quiet
		if s.writing.Load() > 0 || wait <= 0 {
			wait = mergeGap
		}
		if time.Until(deadline) < wait {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
	}
}

// A merge's chunk is a few statements (64 keys each), and it stops
// between two, committing what it did, once a writer holds or waits for
// the writer, or a run said it will write: a
// run that came while a chunk was under way waited for the rest of it, 7.6
// ms on average in the ingest bench, with chunks sized to hold the writer
// 5 ms (the merger, holding it, shares the cores with the run's makers).
// A chunk taken after waiting mergeYield for writers to pause (forced) is
// taken whole: that is the merge's share of the writer. The first
// statement is always done.
func (s *Store) cutShort(forced bool) (stop func() bool) {
	return func() bool {
		if chunkStep != nil {
			chunkStep()
		}
		return !forced && s.writing.Load() > 0
	}
}

// chunkStep, when set (by the tests), is called between two statements
// of a merge's chunk.
var chunkStep func()

// nextChunk is the size of the chunk after one of size keys that held
// the writer for took.
func nextChunk(size int, took time.Duration) int {
	return adaptChunk(size, took, mergeHold, min(minMergeChunk, mergeChunk), mergeChunk)
}

// adaptChunk is the size of the chunk after one of size that held the
// writer for took, to hold it about hold: at most twice or half size,
// between lo and hi.
func adaptChunk(size int, took, hold time.Duration, lo, hi int) int {
	next := size * 2
	if took > 0 {
		next = min(next, max(size/2, int(int64(size)*int64(hold)/int64(took))))
	}
	return min(hi, max(lo, next))
}

// MergeActivity is what this process's merges of near-duplicate keys
// have done since the store was opened (for the benchmarks).
type MergeActivity struct {
	Chunks  int64         // transactions that moved keys
	Held    time.Duration // the writer held by them, in all
	Longest time.Duration // the longest of them
	// Search is what the merges of the search index's segments have done
	// (SQLite), counted the same way, on the index's own writer.
	Search *MergeActivity
	// Index is what the indexer's transactions that apply the log or
	// rebuild the index have done (SQLite).
	Index *MergeActivity
}

// mergeStats counts MergeActivity.
type mergeStats struct {
	chunks, held, longest atomic.Int64
}

// chunkDone counts a chunk's transaction, which held the writer for took.
func (m *mergeStats) chunkDone(took time.Duration) {
	d := int64(took)
	m.chunks.Add(1)
	m.held.Add(d)
	for {
		l := m.longest.Load()
		if d <= l || m.longest.CompareAndSwap(l, d) {
			return
		}
	}
}

// MergeActivity reports what the merges have done so far.
func (s *Store) MergeActivity() MergeActivity {
	a := s.merges.activity()
	search, index := s.searched.activity(), s.indexed.activity()
	a.Search, a.Index = &search, &index
	return a
}

// activity is what m counted.
func (m *mergeStats) activity() MergeActivity {
	return MergeActivity{Chunks: m.chunks.Load(), Held: time.Duration(m.held.Load()), Longest: time.Duration(m.longest.Load())}
}

// BandsWaiting waits for a merge running in this process, then counts
// the near-duplicate keys waiting (for the benchmarks).
func (s *Store) BandsWaiting(ctx context.Context) (int64, error) {
	s.mergeMu.Lock()
	defer s.mergeMu.Unlock()
	w, err := s.catchUpWaiting(ctx)
	if err != nil {
		return 0, err
	}
	return w.held(), nil
}
