package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"

	"github.com/crier-hub/crier/internal/minhash"
)

// bandFilter is a Bloom filter over every near-duplicate band key stored:
// most new releases copy nothing, and their sixteen keys are then known
// absent without the thirty-two index lookups of both levels. It answers
// "maybe" for every key stored (never a false "no"), and "maybe" for about
// one absent key in a hundred; a "maybe" is looked up in the database.
//
// It covers the items up to upTo. Other processes store items too (a
// crier fetch beside crier serve, replicas on PostgreSQL): before each
// lookup in a transaction that stores items, catchUp adds the keys of
// the items above upTo from their stored signatures, which every process
// writes with the item. Keys removed from the store stay in the filter,
// which only costs a lookup.
type bandFilter struct {
	mu sync.Mutex
	bloom
	upTo int64 // the items up to this id have their keys in bits
	// changed is the items generation (the counter "items") up to which
	// the items corrected since the filter was built have their new keys
	// in bits: a correction by another process stores new keys too.
	changed int64
}

// newBandFilter sizes a filter for about keys keys, with room for as many
// again; past that room it is built anew, larger. A small store's filter
// has room for a million keys (62,500 releases, 2 MiB): a store that
// grows from nothing would otherwise outgrow it at its first merge of
// keys (minBandBatch, 65,536), and look every release's keys up
// in the database until that merge built it anew.
func newBandFilter(keys int64) *bandFilter {
	return &bandFilter{bloom: newBloom(keys, 1<<20)}
}

func bandHash(band int, key int64) (uint64, uint64) {
	h := uint64(key)*0x9E3779B97F4A7C15 ^ (uint64(band)+1)*0xC2B2AE3D27D4EB4F
	h ^= h >> 31
	h *= 0xBF58476D1CE4E5B9
	h ^= h >> 29
	return h, h>>32 | 1
}

// add records a key; the caller holds mu.
func (f *bandFilter) add(band int, key int64) { f.set(bandHash(band, key)) }

// has reports whether a key may be stored; the caller holds mu.
func (f *bandFilter) has(band int, key int64) bool { return f.test(bandHash(band, key)) }

// full reports whether the filter holds more keys than it has room for.
func (f *bandFilter) full() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.overfull()
}

// stored notes, after a transaction that stored items committed, that
// the filter has the keys of every item up to newest: the transaction
// held the items lock, so no other process stored items meanwhile.
func (f *bandFilter) stored(newest int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.upTo = max(f.upTo, newest)
}

// learn adds keys, a signature's band keys by band; a nil filter learns
// nothing.
func (f *bandFilter) learn(keys []int64) {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for b, k := range keys {
		f.add(b, k)
	}
}

// mayHave returns the bands whose key of keys may be stored: those the
// filter cannot rule out, or all of them without a filter.
func (f *bandFilter) mayHave(keys []int64) []int {
	var bands []int
	if f != nil {
		f.mu.Lock()
		defer f.mu.Unlock()
	}
	for b, k := range keys {
		if f == nil || f.has(b, k) {
			bands = append(bands, b)
		}
	}
	return bands
}

// buildBandFilter reads every band key, those merged and those of the
// items above the watermark, in one snapshot, into a new filter and puts
// it to use. Until then lookups go to the
// database; Warm builds it at start and each merge builds it again when
// the store has outgrown it.
func (s *Store) buildBandFilter(ctx context.Context) error {
	var f *bandFilter
	err := s.snapshot(ctx, func(tx *txn) error {
		var upTo, items, merged, gen int64
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(id), 0), (SELECT value FROM counters WHERE name = 'item_count'),
			(SELECT value FROM counters WHERE name = 'bands_merged'), (SELECT value FROM counters WHERE name = 'items') FROM items`).Scan(&upTo, &items, &merged, &gen); err != nil {
			return err
		}
		f = newBandFilter(items * minhash.Bands)
		f.upTo, f.changed = upTo, gen
		// The keys of the items above the watermark, from their
		// signatures: as many as the waiting keys, which another process
		// may hold.
		if err := f.learnRows(tx.QueryContext(ctx, `SELECT signature FROM items WHERE id > ? AND retracted = ''`, merged)); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT band, key FROM item_bands`)
		if err != nil {
			return err
		}
		defer rows.Close()
		var band int
		var key int64
		for rows.Next() {
			if err := rows.Scan(&band, &key); err != nil {
				return err
			}
			f.add(band, key)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		// The reader has just read every key (16 million at a million
		// items) and keeps their pages; the first read it begins after a
		// commit would drop them page by page, a second or more at that
		// size, in a source run or a feed's render. It lets them go now,
		// in the warm's background.
		if !s.pg {
			if _, err := tx.ExecContext(ctx, "PRAGMA shrink_memory"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("near-duplicate filter: %w", err)
	}
	s.bandFilter.Store(f)
	return nil
}

// filterFor returns the filter to consult in tx, a transaction that
// stores items (it holds the items lock), caught up to now with the items
// other processes stored since; nil when there is none, or it is full.
func (s *Store) filterFor(ctx context.Context, tx *txn, now itemsNow) (*bandFilter, error) {
	f := s.bandFilter.Load()
	if f == nil {
		return nil, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.overfull() {
		s.bandFilter.CompareAndSwap(f, nil) // the next merge builds a larger one
		return nil, nil
	}
	// Items this process stored or corrected are in already (learn); the
	// rest came from other processes: items stored since, and items
	// corrected since (their change is the generation of the correction).
	if now.last > f.upTo {
		if err := f.learnRows(s.wstmt(ctx, tx, `SELECT signature FROM items WHERE id > ?`).QueryContext(ctx, f.upTo)); err != nil {
			return nil, err
		}
		f.upTo = now.last
	}
	if now.gen > f.changed {
		if err := f.learnRows(s.wstmt(ctx, tx, `SELECT signature FROM items WHERE change > 0 AND change > ?`).QueryContext(ctx, f.changed)); err != nil {
			return nil, err
		}
		f.changed = now.gen
	}
	return f, nil
}

// learnRows adds the band keys of the signatures a query returned; the
// caller holds mu, or the filter is not in use yet.
func (f *bandFilter) learnRows(rows *sql.Rows, err error) error {
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var raw []byte
		if err := rows.Scan(&raw); err != nil {
			return err
		}
		for b, k := range minhash.FromBytes(raw).BandKeys() {
			f.add(b, k)
		}
	}
	return rows.Err()
}
