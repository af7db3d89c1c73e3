package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"
)

// The search index of a SQLite store lives in a file of its own, written
// by a connection of its own (sqlite.SearchPath): the store's commits only
// log the items whose text may have changed (search_log, migration 0032),
// and the indexer applies the log to the index in order, in the index's
// own transactions, never holding the store's writer. The index records
// the last entry it applied (search_state.applied) in the transaction
// that applies it, so an entry is applied once whatever stops crier, and
// two processes on one store take turns (the index's writer takes its
// lock at begin). PostgreSQL keeps each item's search vector in its row
// and has none of this.
//
// The indexer, a goroutine of the store (searchLoop), applies the log once
// searchBatch entries wait, in one transaction, so that the index's
// segments are of a few hundred items, and then merges the segments a
// chunk at a time (mergeSearchChunk) until FTS5 finds no level with
// 'usermerge' (16) segments to merge; writers that outrun it meet FTS5's
// crisis merge (32 segments on a level), which bounds the segments a
// search reads. A search first applies whatever waits (Items), so that it
// finds every item stored before it.
//
// The index is made again from the items (a rebuild, rebuildChunk items a
// transaction) when it is new, is of another store (search_epoch), or
// lags behind what the log still holds: a file deleted, restored from
// another day, or copied beside another store. Searches wait for a
// rebuild to end.

// searchBatch is how many log entries wait before the indexer applies
// them.
var searchBatch = 256

// searchApply bounds the log entries one transaction of the index
// applies.
var searchApply = 8192

// rebuildChunk is how many items one transaction of a rebuild indexes.
var rebuildChunk = 2048

// trimEvery is how many entries the index applies between two trims of
// the store's log, each a small transaction of the store's writer.
var trimEvery int64 = 4096

// A merge's chunk is sized from the time the last one took, to hold the
// index's writer (which a search waits for, and no one else) about
// searchHold, between minSearchChunk and maxSearchChunk pages.
var (
	searchHold     = 5 * time.Millisecond
	minSearchChunk = 16
	maxSearchChunk = 256
)

// searchYield is the longest the indexer pauses, between two of its
// statements, for runs making releases (Store.Making): under runs that
// never pause it still moves a statement at a time.
var searchYield = 20 * time.Millisecond

// yieldEvery is how many items the indexer inserts between two looks at
// the runs.
const yieldEvery = 4

// yieldPages is the pages one merge statement takes when it follows a
// pause for a run: a statement is not paused.
const yieldPages = 4

// yieldToRuns waits, searchYield at most, while a source's run makes
// releases on every core, unless a search waits for the index.
func (s *Store) yieldToRuns(ctx context.Context) (paused bool) {
	if s.searchWaiters.Load() > 0 {
		return false
	}
	s.makeMu.Lock()
	n, made := s.makers, s.made
	s.makeMu.Unlock()
	if n == 0 {
		return false
	}
	t := time.NewTimer(searchYield)
	defer t.Stop()
	select {
	case <-made:
	case <-t.C:
	case <-ctx.Done():
	}
	return true
}

// searchState is the index's row of search_state.
type searchState struct {
	store   string // the search_epoch of the store it is of
	applied int64  // the last log entry applied
	next    int64  // the first item id a rebuild has yet to index
	upto    int64  // the last item id the rebuild under way indexes
	rebuilt int64  // the last id the last rebuild indexed
}

// searchStatus is the index's state and the store's log seen together.
type searchStatus struct {
	state  searchState
	epoch  string        // the store's search_epoch
	lo, hi sql.NullInt64 // the log's first and last entries
}

// stale says that the index is to be made again: it is of another store,
// or behind what the log still holds.
func (t searchStatus) stale() bool {
	return t.state.store != t.epoch || t.hi.Int64 < t.state.applied || t.lo.Valid && t.lo.Int64 > t.state.applied+1
}

// waiting is how many log entries the index has yet to apply: the log's
// ids follow each other above the last applied (only entries before it
// are trimmed, and a rolled-back insert gives its id back).
func (t searchStatus) waiting() int64 { return max(0, t.hi.Int64-t.state.applied) }

// unbuilt is how many ids a rebuild under way has yet to index.
func (t searchStatus) unbuilt() int64 { return max(0, t.state.upto-t.state.next+1) }

// readSearchStatus reads the index's state and the store's log in one
// statement on a reader, without the indexer's locks.
func (s *Store) readSearchStatus(ctx context.Context) (searchStatus, error) {
	var t searchStatus
	var epoch int64
	err := s.rstmt(ctx, `SELECT st.store, st.applied, st.rebuild_next, st.rebuild_upto, st.rebuilt_upto,
		(SELECT value FROM counters WHERE name = 'search_epoch'), (SELECT min(seq) FROM search_log), (SELECT max(seq) FROM search_log)
		FROM search.search_state st`).QueryRowContext(ctx).
		Scan(&t.state.store, &t.state.applied, &t.state.next, &t.state.upto, &t.state.rebuilt, &epoch, &t.lo, &t.hi)
	t.epoch = strconv.FormatInt(epoch, 10)
	return t, err
}

// wakeSearch tells the indexer that the log grew.
func (s *Store) wakeSearch() {
	if s.searchWake == nil {
		return
	}
	select {
	case s.searchWake <- struct{}{}:
	default:
	}
}

// searchLoop is the indexer: at start it makes the index again if that
// is due; then, woken by commits that logged items (and by Warm), it
// applies the log once searchBatch entries wait, merges the index's
// segments, and trims the log, until the store closes. A process that
// stores no items and warms nothing (crier push) leaves the log to
// others. An error leaves the log as it is: the next commit wakes it
// again.
func (s *Store) searchLoop() {
	defer s.background.Done()
	ctx := s.closing
	var trimmed int64
	pass := func() {
		s.searchLoopMu.Lock()
		defer s.searchLoopMu.Unlock()
		if err := s.catchUpSearch(ctx, searchBatch); err != nil {
			return
		}
		if applied := s.searchApplied.Load(); applied-trimmed >= trimEvery {
			if err := s.trimSearchLog(ctx, applied); err == nil {
				trimmed = applied
			}
		}
	}
	// A rebuild, if one is due, starts at once; the log waits for a
	// commit (or Warm) to wake the indexer.
	s.searchLoopMu.Lock()
	s.indexSearch(ctx, math.MaxInt32)
	s.searchLoopMu.Unlock()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.searchWake:
			pass()
		case done := <-s.searchSettle:
			select {
			case <-s.searchWake:
				pass()
			default:
			}
			close(done)
		}
	}
}

// searchSettled returns once the indexer has done the work of every
// wake-up sent before it (for the tests).
func (s *Store) searchSettled() {
	if s.search == nil {
		return
	}
	done := make(chan struct{})
	select {
	case s.searchSettle <- done:
		<-done
	case <-s.closing.Done():
	}
}

// indexSearch brings the index up to the log (a rebuild first, if one is
// due or under way), if at least least entries wait.
func (s *Store) indexSearch(ctx context.Context, least int) error {
	if s.search == nil {
		return nil
	}
	// Most searches find nothing to do: they need not queue for the
	// indexer's lock, nor begin a write of the index, to learn it.
	if t, err := s.readSearchStatus(ctx); err == nil && !t.stale() && t.unbuilt() == 0 && t.waiting() < int64(max(least, 1)) {
		return nil
	}
	s.searchMu.Lock()
	defer s.searchMu.Unlock()
	for {
		more, err := s.applySearch(ctx, least)
		if err != nil {
			return fmt.Errorf("index for search: %w", err)
		}
		if !more {
			return nil
		}
		least = 1
	}
}

// applySearch does one transaction of the index: the start of a rebuild,
// a chunk of one, or up to searchApply log entries if at least least
// wait. more says that there is more to do.
func (s *Store) applySearch(ctx context.Context, least int) (more bool, err error) {
	s.yieldToRuns(ctx)
	start := time.Now()
	tx, err := s.search.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	var st searchState
	if err := tx.QueryRowContext(ctx, `SELECT store, applied, rebuild_next, rebuild_upto, rebuilt_upto FROM search_state`).
		Scan(&st.store, &st.applied, &st.next, &st.upto, &st.rebuilt); err != nil {
		return false, err
	}
	wrote := false
	// What the index takes is read in one snapshot of the store: the log's
	// entries and the items' text as of the last of them.
	err = s.snapshot(ctx, func(rt *txn) error {
		t := searchStatus{state: st}
		var epoch int64
		if err := rt.QueryRowContext(ctx, traced(`SELECT value FROM counters WHERE name = 'search_epoch'`)).Scan(&epoch); err != nil {
			return err
		}
		if err := rt.QueryRowContext(ctx, traced(`SELECT (SELECT min(seq) FROM search_log), (SELECT max(seq) FROM search_log)`)).Scan(&t.lo, &t.hi); err != nil {
			return err
		}
		t.epoch = strconv.FormatInt(epoch, 10)
		if t.stale() {
			// Start over: every item up to the newest is indexed, and the
			// log is applied from its last entry now.
			var newest sql.NullInt64
			if err := rt.QueryRowContext(ctx, traced(`SELECT max(id) FROM items`)).Scan(&newest); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO items_fts (items_fts) VALUES ('delete-all')`); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE search_state SET store = ?, applied = ?, rebuild_next = 1, rebuild_upto = ?, rebuilt_upto = ?`,
				t.epoch, t.hi.Int64, newest.Int64, newest.Int64); err != nil {
				return err
			}
			st.applied = t.hi.Int64
			wrote, more = true, true
			return nil
		}
		if t.unbuilt() > 0 {
			n, last, err := s.rebuildChunk(ctx, rt, tx, st)
			if err != nil {
				return err
			}
			next := last + 1
			if n < rebuildChunk {
				next = st.upto + 1
			}
			if _, err := tx.ExecContext(ctx, `UPDATE search_state SET rebuild_next = ?`, next); err != nil {
				return err
			}
			wrote, more = true, true
			return nil
		}
		if t.waiting() < int64(max(least, 1)) {
			return nil
		}
		last, n, err := s.applyLog(ctx, rt, tx, st)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE search_state SET applied = ?`, last); err != nil {
			return err
		}
		st.applied = last
		wrote, more = true, n == searchApply
		return nil
	})
	if err != nil || !wrote {
		return false, err
	}
	if err := tx.Commit(); err != nil {
		return false, err
	}
	s.searchApplied.Store(st.applied)
	s.indexed.chunkDone(time.Since(start))
	return more, nil
}

// rebuildChunk indexes the items of a rebuild from st.next on, up to
// rebuildChunk of them, and returns how many ids it read and the last.
func (s *Store) rebuildChunk(ctx context.Context, rt *txn, tx *sql.Tx, st searchState) (n int, last int64, err error) {
	rows, err := rt.QueryContext(ctx, traced(`SELECT id, title, content_text, retracted FROM items WHERE id >= ? AND id <= ? ORDER BY id LIMIT ?`), st.next, st.upto, rebuildChunk)
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	ins, err := tx.PrepareContext(ctx, `INSERT INTO items_fts (rowid, title, body) VALUES (?, ?, ?)`)
	if err != nil {
		return 0, 0, err
	}
	defer ins.Close()
	for rows.Next() {
		var id int64
		var title, body, retracted string
		if err := rows.Scan(&id, &title, &body, &retracted); err != nil {
			return 0, 0, err
		}
		n, last = n+1, id
		if retracted != "" {
			continue
		}
		if n%yieldEvery == 0 {
			s.yieldToRuns(ctx)
		}
		if _, err := ins.ExecContext(ctx, id, title, body); err != nil {
			return 0, 0, err
		}
	}
	return n, last, rows.Err()
}

// applyLog applies up to searchApply log entries after st.applied to the
// index: each item named is indexed as it stands in the snapshot, its old
// entries deleted first when it may have had some (an item updated or
// deleted, or one a rebuild may have indexed). It returns the last entry
// applied and how many.
func (s *Store) applyLog(ctx context.Context, rt *txn, tx *sql.Tx, st searchState) (last int64, n int, err error) {
	rows, err := rt.QueryContext(ctx, traced(`SELECT seq, item_id, changed FROM search_log WHERE seq > ? ORDER BY seq LIMIT ?`), st.applied, searchApply)
	if err != nil {
		return 0, 0, err
	}
	var order []int64
	drop := map[int64]bool{}
	for rows.Next() {
		var seq, id int64
		var changed bool
		if err := rows.Scan(&seq, &id, &changed); err != nil {
			rows.Close()
			return 0, 0, err
		}
		n, last = n+1, seq
		if _, seen := drop[id]; !seen {
			order = append(order, id)
			drop[id] = false
		}
		if changed || id <= st.rebuilt {
			drop[id] = true
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, err
	}
	// An item only inserted since the index last saw it (one entry, not
	// changed, not a rebuild's) stands as this process inserted it, if it
	// did: its text is taken from memory, and only the others' is read.
	texts := s.fresh.take(order, drop)
	var read []int64
	for _, id := range order {
		if _, ok := texts[id]; !ok {
			read = append(read, id)
		}
	}
	for chunk := range slices.Chunk(read, maxListed) {
		var args []any
		rows, err := rt.QueryContext(ctx, traced(`SELECT id, title, content_text FROM items WHERE `+inShape("id", chunk, &args)+` AND retracted = ''`), args...)
		if err != nil {
			return 0, 0, err
		}
		for k := 0; rows.Next(); k++ {
			if k%(4*yieldEvery) == 4*yieldEvery-1 {
				s.yieldToRuns(ctx)
			}
			var id int64
			var t freshText
			if err := rows.Scan(&id, &t.title, &t.body); err != nil {
				rows.Close()
				return 0, 0, err
			}
			texts[id] = t
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return 0, 0, err
		}
	}
	del, err := tx.PrepareContext(ctx, `DELETE FROM items_fts WHERE rowid = ?`)
	if err != nil {
		return 0, 0, err
	}
	defer del.Close()
	ins, err := tx.PrepareContext(ctx, `INSERT INTO items_fts (rowid, title, body) VALUES (?, ?, ?)`)
	if err != nil {
		return 0, 0, err
	}
	defer ins.Close()
	// An item's statements are short: ctx is looked at between items, not
	// watched by the driver through each statement (a goroutine each).
	sctx := context.WithoutCancel(ctx)
	for i, id := range order {
		if i%yieldEvery == yieldEvery-1 {
			s.yieldToRuns(ctx)
		}
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		if drop[id] {
			if _, err := del.ExecContext(sctx, id); err != nil {
				return 0, 0, err
			}
		}
		if t, ok := texts[id]; ok {
			if _, err := ins.ExecContext(sctx, id, t.title, t.body); err != nil {
				return 0, 0, err
			}
		}
	}
	return last, n, nil
}

// mergeSearchChunk merges a chunk of the index's segments (FTS5's
// 'merge', minSearchChunk pages a statement) and says whether there was
// anything to merge.
func (s *Store) mergeSearchChunk(ctx context.Context) (worked bool, err error) {
	if s.search == nil {
		return false, nil
	}
	s.searchMu.Lock()
	defer s.searchMu.Unlock()
	pages := cmp.Or(s.searchSize, 2*minSearchChunk)
	tx, err := s.search.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	start := time.Now()
	done := 0
	worked = true
	for err == nil && worked && done < pages {
		step := min(minSearchChunk, pages-done)
		if s.yieldToRuns(ctx) {
			step = min(step, yieldPages) // a run may come back at any moment
		}
		var before, after int64
		err = tx.QueryRowContext(ctx, `SELECT total_changes()`).Scan(&before)
		if err == nil {
			_, err = tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO items_fts (items_fts, rank) VALUES ('merge', %d)`, step))
		}
		if err == nil {
			err = tx.QueryRowContext(ctx, `SELECT total_changes()`).Scan(&after)
		}
		done += step
		// FTS5's merge command did work when it changed two rows or more.
		worked = after-before >= 2
	}
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		return false, fmt.Errorf("merge the search index: %w", err)
	}
	took := time.Since(start)
	s.searched.chunkDone(took)
	if done >= pages {
		s.searchSize = adaptChunk(pages, took, searchHold, minSearchChunk, maxSearchChunk)
	}
	return worked, nil
}

// trimSearchLog deletes the log's entries before the last applied (that
// one stays, so that the log's ids go on from it).
func (s *Store) trimSearchLog(ctx context.Context, applied int64) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := s.wstmt(ctx, tx, `DELETE FROM search_log WHERE seq < ?`).ExecContext(ctx, applied); err != nil {
		return err
	}
	return tx.Commit()
}

// catchUpSearch applies the log if at least least entries wait (and a
// rebuild first, if one is due), then merges the index until there is
// nothing to merge.
func (s *Store) catchUpSearch(ctx context.Context, least int) error {
	if err := s.indexSearch(ctx, least); err != nil {
		return err
	}
	for ctx.Err() == nil {
		if worked, err := s.mergeSearchChunk(ctx); err != nil || !worked {
			return err
		}
	}
	return ctx.Err()
}

// SearchBacklog is how many items wait for the search index: the log's
// entries not yet applied, and the ids a rebuild has yet to index (at
// most: an id whose item was deleted counts too). The next search
// applies them first. It is false on PostgreSQL, whose items carry their
// search vector.
func (s *Store) SearchBacklog(ctx context.Context) (int64, bool, error) {
	if s.pg {
		return 0, false, nil
	}
	t, err := s.readSearchStatus(ctx)
	if err != nil {
		return 0, true, err
	}
	return t.waiting() + t.unbuilt(), true, nil
}

// searchMerged returns how many chunks this process's merges of the
// search index have committed, once the one under way ends (for the
// tests).
func (s *Store) searchMerged() int64 {
	s.searchMu.Lock()
	defer s.searchMu.Unlock()
	return s.searched.chunks.Load()
}

// freshText is an item's indexed text as it was inserted.
type freshText struct {
	id          int64
	title, body string
}

// freshTexts holds the text of the items this process inserted and
// committed until the indexer applies their log entries, so that it need
// not read back from the store what was just written there (in the ingest
// bench, reading the new items' rows again took as much CPU as indexing
// them). It is bounded in bytes: past freshLimit, items are read back as
// before.
type freshTexts struct {
	mu    sync.Mutex
	texts map[int64]freshText
	bytes int
	taken int // texts handed to the indexer (for the tests)
}

const freshLimit = 8 << 20

// add keeps the text of items just committed.
func (f *freshTexts) add(ts []freshText) {
	if len(ts) == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.texts == nil {
		f.texts = map[int64]freshText{}
	}
	for _, t := range ts {
		size := len(t.title) + len(t.body)
		if f.bytes+size > freshLimit {
			return
		}
		if old, ok := f.texts[t.id]; ok {
			f.bytes -= len(old.title) + len(old.body)
		}
		f.texts[t.id] = t
		f.bytes += size
	}
}

// take returns the kept text of the items of order that drop does not
// mark (items inserted and since neither changed nor deleted), and forgets
// every kept item up to the largest of order: their entries are applied
// now, or were applied by another process. Ids only grow, so a text kept
// for an id reused after a delete is at worst read back.
func (f *freshTexts) take(order []int64, drop map[int64]bool) map[int64]freshText {
	out := make(map[int64]freshText, len(order))
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.texts) == 0 {
		return out
	}
	var top int64
	for _, id := range order {
		top = max(top, id)
		if t, ok := f.texts[id]; ok && !drop[id] {
			out[id] = t
			f.taken++
		}
	}
	for id, t := range f.texts {
		if id <= top {
			delete(f.texts, id)
			f.bytes -= len(t.title) + len(t.body)
		}
	}
	return out
}
