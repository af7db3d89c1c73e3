package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Delivery states.
const (
	Due     = "due"
	Sending = "sending"
	Sent    = "sent"
)

// The kinds of subscribers.
const (
	KindWebhook = "webhook" // a partner's webhook, from the config or the admin API
	KindWebSub  = "websub"  // a WebSub subscription to this hub
)

// Subscriber is the outbox state of a partner.
type Subscriber struct {
	ID       string
	Cursor   int64 // items up to this Seq are owed already
	Paused   bool
	Failing  bool
	Created  time.Time
	LastFire time.Time
}

// Delivery is one webhook request owed to a subscriber.
type Delivery struct {
	ID           int64
	WebhookID    string
	SubscriberID string
	Items        []int64
	Body         []byte
	Status       string
	Attempts     int
	NextAttempt  time.Time
	Created      time.Time
	SentAt       time.Time
	LastError    string
	// Prefix, in a claimed run, is what its subscriber's sent prefix
	// (sent_through) is once every delivery before it in the run is
	// delivered: the prefix when the run was claimed, for its first.
	Prefix int64
}

// Attempt is one try at a delivery.
type Attempt struct {
	At       time.Time
	Status   int // HTTP status; 0 = no response
	Latency  time.Duration
	Error    string
	Response []byte // the first KiB of the response body
}

// AddSubscriber registers a subscriber once. backfill says which items
// stored before it are owed: "all", a duration ("24h"), or "0s" for none.
func (s *Store) AddSubscriber(ctx context.Context, id, backfill string) error {
	return s.AddSubscribers(ctx, []NewSubscriber{{ID: id, Backfill: backfill}})
}

// NewSubscriber is a subscriber to register and its backfill setting.
type NewSubscriber struct{ ID, Backfill string }

// AddSubscribers registers subscribers, each once (AddSubscriber), in one
// transaction, and in none when all are registered already.
func (s *Store) AddSubscribers(ctx context.Context, subs []NewSubscriber) error {
	ids := make([]string, len(subs))
	for i, sub := range subs {
		ids[i] = sub.ID
	}
	have := map[string]bool{}
	for chunk := range slices.Chunk(ids, maxListed) {
		var args []any
		known, err := scanColumn[string](s.r.QueryContext(ctx, traced(`SELECT id FROM subscribers WHERE `+inShape("id", chunk, &args)), args...))
		if err != nil {
			return err
		}
		for _, id := range known {
			have[id] = true
		}
	}
	var missing []NewSubscriber
	for _, sub := range subs {
		if !have[sub.ID] {
			missing = append(missing, sub)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	// In the order of their ids: replicas starting at once insert the
	// same rows, and two that went in different orders (a config's
	// subscribers and the managed ones, merged from a map) each waited for
	// a row the other had inserted, and PostgreSQL failed one start with
	// "deadlock detected" (TestReplicasShareOnePostgres, in CI).
	slices.SortFunc(missing, func(a, b NewSubscriber) int { return strings.Compare(a.ID, b.ID) })
	now := s.Now()
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	cursors := map[string]int64{"all": 0} // by backfill setting
	for _, sub := range missing {
		cursor, ok := cursors[sub.Backfill]
		if !ok {
			d, err := time.ParseDuration(sub.Backfill)
			if err != nil {
				return fmt.Errorf("subscriber %s: backfill %q: %w", sub.ID, sub.Backfill, err)
			}
			err = tx.QueryRowContext(ctx, traced(`SELECT coalesce(max(id), 0) FROM items WHERE created < ?`), formatTime(now.Add(-d))).Scan(&cursor)
			if err != nil {
				return err
			}
			cursors[sub.Backfill] = cursor
		}
		// Replicas starting at once register the same subscribers: the
		// first insert wins, the others change nothing.
		if _, err := s.wstmt(ctx, tx, `INSERT INTO subscribers (id, cursor, created) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING`).ExecContext(ctx, sub.ID, cursor, formatTime(now)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Subscribers returns the outbox state of every subscriber, by id.
func (s *Store) Subscribers(ctx context.Context) (map[string]Subscriber, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, cursor, paused, failing, created, last_fire FROM subscribers`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]Subscriber{}
	for rows.Next() {
		var sub Subscriber
		var created, fired string
		if err := rows.Scan(&sub.ID, &sub.Cursor, &sub.Paused, &sub.Failing, &created, &fired); err != nil {
			return nil, err
		}
		sub.Created, sub.LastFire = parseTime(created), parseTime(fired)
		out[sub.ID] = sub
	}
	return out, rows.Err()
}

// SetPaused pauses or resumes a subscriber. Resuming clears failing.
func (s *Store) SetPaused(ctx context.Context, id string, paused bool) error {
	res, err := s.w.ExecContext(ctx, `UPDATE subscribers SET paused = ?, failing = CASE WHEN ? = 1 THEN failing ELSE 0 END WHERE id = ?`, b2i(paused), b2i(paused), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// Batch is one delivery to create: the items it carries and its body.
type Batch struct {
	Items []int64
	Body  []byte
	Seq   int64 // its number in the subscriber's sequence (set by Fire)
	// Shared, when set, is the part of the body that other deliveries
	// carry too (the items, whoever they go to): the body sent is
	// Body[:Split] + Shared + Body[Split:], and Shared is stored once.
	Shared []byte
	Split  int
	// SharedHash, when set, is SharedHash(Shared), computed once by a
	// caller that builds the same part for many subscribers.
	SharedHash string
}

// fireChunk bounds the items one step of Fire reads and renders;
// fireCommit, about how many deliveries one of its transactions creates
// (the subscribers fired together are committed several at a time).
const (
	fireChunk  = 500
	fireCommit = 1024
)

// The events of deliveries.
const (
	Published = "items.published" // new items
	Corrected = "items.updated"   // items whose text changed at their source
	Retracted = "items.deleted"   // items taken back
)

// Builder turns items of one event into batches. seq is the sequence
// number of the first batch (the next ones follow on); a builder that
// does not number its batches ignores it.
type Builder func(event string, items []Item, seq int64) ([]Batch, error)

// Fire creates the deliveries of the items stored after a subscriber's
// cursor that q selects, and moves the cursor past every item stored so
// far. build turns the selected items into batches. See FireMany.
func (s *Store) Fire(ctx context.Context, id string, q Query, build func([]Item) ([]Batch, error)) (int, error) {
	n, err := s.fire(ctx, []string{id}, q, false, func(string) Builder {
		return func(_ string, items []Item, _ int64) ([]Batch, error) { return build(items) }
	}, nil)
	return n[id], err
}

// FireMany is Fire for webhooks, for several subscribers with the same
// query: corrections and retractions of the items a subscriber already had
// come first (items.updated, items.deleted), then new items
// (items.published), each batch numbered in the subscriber's sequence.
// Subscribers whose cursors stand at the same place (partners added
// together, fired together) have what they are owed read once, and built
// for each by build(id).
//
// Items are read and rendered outside any write transaction, a bounded
// chunk at a time; each chunk's deliveries and the cursor move commit
// together, and only if no other process moved the cursors meanwhile.
// fired, if not nil, is told of each commit that created deliveries. It
// returns the deliveries created for each.
func (s *Store) FireMany(ctx context.Context, ids []string, q Query, build func(id string) Builder, fired func(id string, n int)) (map[string]int, error) {
	return s.fire(ctx, ids, q, true, build, fired)
}

func (s *Store) fire(ctx context.Context, ids []string, q Query, changes bool, build func(string) Builder, fired func(string, int)) (map[string]int, error) {
	passes := []func(context.Context, string, Query) (owing, error){s.owed}
	if changes {
		// Corrections and retractions of what the subscriber had go first.
		passes = []func(context.Context, string, Query) (owing, error){s.owedChanges, s.owed}
	}
	created := map[string]int{}
	for _, read := range passes {
		for todo := ids; len(todo) > 0; {
			groups, err := s.byCursors(ctx, todo)
			if err != nil {
				return created, err
			}
			todo = nil
			for _, g := range groups {
				o, err := read(ctx, g.ids[0], q)
				if err != nil {
					return created, err
				}
				// The subscribers' batches are built, then committed
				// several subscribers a transaction (up to about
				// fireCommit deliveries): few writes, and the senders of
				// many subscribers start at once.
				var work []fireWork
				rows := 0
				for i, id := range g.ids {
					// The chunk was read after o's cursors; it is this
					// subscriber's only if its cursors are still there
					// and its sequence where it was (else nothing is
					// written for it, and it reads again).
					mine := o
					mine.seq = g.seqs[id]
					w := fireWork{id: id, o: mine}
					if w.batches, err = buildBatches(mine, build(id)); err != nil {
						return created, err
					}
					work, rows = append(work, w), rows+len(w.batches)
					if rows < fireCommit && i < len(g.ids)-1 {
						continue
					}
					if err := s.commitFire(ctx, work); err != nil {
						return created, err
					}
					todo = tallyFire(work, o.more, todo, created, fired)
					work, rows = nil, 0
				}
			}
		}
	}
	return created, nil
}

// tallyFire counts what a commit of fire created and tells fired of it, and
// returns todo with the subscribers to read again: those whose cursors
// another process moved, and all when the chunk was not the last.
func tallyFire(work []fireWork, more bool, todo []string, created map[string]int, fired func(string, int)) []string {
	for _, w := range work {
		if !w.moved {
			todo = append(todo, w.id) // another process moved its cursors: read again
			continue
		}
		n := len(w.batches)
		created[w.id] += n
		if n > 0 && fired != nil {
			fired(w.id, n)
		}
		if more {
			todo = append(todo, w.id)
		}
	}
	return todo
}

// cursorGroup is subscribers whose cursors stand at the same place.
type cursorGroup struct {
	ids  []string
	seqs map[string]int64 // each one's sequence
}

// byCursors reads subscribers' cursors in one snapshot and groups them.
func (s *Store) byCursors(ctx context.Context, ids []string) ([]cursorGroup, error) {
	type at struct{ cursor, change int64 }
	index := map[at]int{}
	var groups []cursorGroup
	err := s.snapshot(ctx, func(tx *txn) error {
		for _, id := range ids {
			var o owing
			if err := s.readCursors(ctx, tx, id, &o); err != nil {
				return err
			}
			k := at{o.cursor, o.changeCursor}
			i, ok := index[k]
			if !ok {
				i = len(groups)
				index[k] = i
				groups = append(groups, cursorGroup{seqs: map[string]int64{}})
			}
			groups[i].ids = append(groups[i].ids, id)
			groups[i].seqs[id] = o.seq
		}
		return nil
	})
	return groups, err
}

// owing is one chunk of what a subscriber is owed, read in one snapshot,
// and where its cursors move once the chunk is delivered.
type owing struct {
	cursor, changeCursor, seq int64 // as read
	upper, changeUpper        int64 // where they move
	events                    []string
	items                     [][]Item // by event
	more                      bool
}

// fireWork is one subscriber's part of a fire's commit: the chunk it is
// owed and its batches, and whether its cursors moved (the chunk was
// still its own).
type fireWork struct {
	id      string
	o       owing
	batches []Batch
	moved   bool
}

// buildBatches turns a chunk's items into batches, numbered from the
// subscriber's sequence on.
func buildBatches(o owing, build Builder) ([]Batch, error) {
	var batches []Batch
	seq := o.seq + 1
	for i, event := range o.events {
		if len(o.items[i]) == 0 {
			continue
		}
		bs, err := build(event, o.items[i], seq)
		if err != nil {
			return nil, err
		}
		for j := range bs {
			bs[j].Seq = seq
			seq++
		}
		batches = append(batches, bs...)
	}
	return batches, nil
}

// snapshot runs read in one read-only snapshot.
func (s *Store) snapshot(ctx context.Context, read func(tx *txn) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if s.pg {
		opts.Isolation = sql.LevelRepeatableRead // one snapshot, as SQLite's read transactions are
	}
	tx, err := s.r.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return read(tx)
}

func (s *Store) readCursors(ctx context.Context, tx *txn, id string, o *owing) error {
	err := tx.QueryRowContext(ctx, traced(`SELECT cursor, change_cursor, sequence FROM subscribers WHERE id = ?`), id).Scan(&o.cursor, &o.changeCursor, &o.seq)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("subscriber %s: %w", id, ErrNotFound)
	}
	o.upper, o.changeUpper = o.cursor, o.changeCursor
	return err
}

// owed reads the next chunk of new items after a subscriber's cursor that
// q selects. The cursor moves to the last item read when the chunk is
// full, else to the newest item stored.
func (s *Store) owed(ctx context.Context, id string, q Query) (owing, error) {
	var o owing
	err := s.snapshot(ctx, func(tx *txn) error {
		if err := s.readCursors(ctx, tx, id, &o); err != nil {
			return err
		}
		var upper int64
		if err := tx.QueryRowContext(ctx, traced(`SELECT coalesce(max(id), 0) FROM items`)).Scan(&upper); err != nil {
			return err
		}
		q.After, q.BySeq, q.SeqDesc, q.Before, q.Limit = o.cursor, true, false, 0, fireChunk
		items, err := s.queryItems(ctx, tx, q)
		if err != nil {
			return err
		}
		if len(items) == fireChunk {
			upper, o.more = items[len(items)-1].Seq, true
		}
		o.upper = max(upper, o.cursor)
		o.events, o.items = []string{Published}, [][]Item{items}
		return nil
	})
	return o, err
}

// owedChanges reads the next chunk of corrections and retractions of
// items the subscriber already had (arrived up to its cursor) that q
// selects. The change cursor moves to the last change read when the
// chunk is full, else to the items counter.
func (s *Store) owedChanges(ctx context.Context, id string, q Query) (owing, error) {
	var o owing
	err := s.snapshot(ctx, func(tx *txn) error {
		if err := s.readCursors(ctx, tx, id, &o); err != nil {
			return err
		}
		var upper int64
		if err := tx.QueryRowContext(ctx, traced(`SELECT value FROM counters WHERE name = 'items'`)).Scan(&upper); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, traced("SELECT "+itemColumns+", i.change FROM items i WHERE i.change > 0 AND i.change > ? AND i.change <= ? ORDER BY i.change LIMIT ?"),
			o.changeCursor, upper, fireChunk)
		if err != nil {
			return err
		}
		var all []Item
		var last int64
		for rows.Next() {
			var it Item
			if it, last, err = scanItemChange(rows); err != nil {
				rows.Close()
				return err
			}
			all = append(all, it)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(all) == fireChunk {
			upper, o.more = last, true
		}
		o.changeUpper = max(upper, o.changeCursor)
		var corrected, retracted []Item
		for _, it := range all {
			if it.Seq > o.cursor { // not had yet: it goes out as published
				continue
			}
			facets, err := itemFacets(ctx, tx, it)
			if err != nil {
				return err
			}
			if !matches(q, facets) {
				continue
			}
			if it.Retracted.IsZero() {
				corrected = append(corrected, it)
			} else {
				retracted = append(retracted, it)
			}
		}
		if err := addOrigins(ctx, tx, corrected); err != nil {
			return err
		}
		o.events, o.items = []string{Corrected, Retracted}, [][]Item{corrected, retracted}
		return nil
	})
	return o, err
}

func scanItemChange(rows *sql.Rows) (Item, int64, error) {
	var change int64
	it, err := scanItem(extraScanner{rows, &change})
	return it, change, err
}

// extraScanner scans one more column after an item's.
type extraScanner struct {
	r     scanner
	extra any
}

func (e extraScanner) Scan(dest ...any) error { return e.r.Scan(append(dest, e.extra)...) }

// itemFacets is what an item can be filtered by: for a retracted item,
// the facets it had (kept under an "r" prefix).
func itemFacets(ctx context.Context, tx *txn, it Item) (map[string]bool, error) {
	out := map[string]bool{}
	if it.Retracted.IsZero() {
		out["c:"+it.Country], out["l:"+it.Language] = true, true
		for _, t := range it.Topics {
			out["t:"+t] = true
		}
		for _, src := range it.Sources {
			out["s:"+src] = true
		}
		return out, nil
	}
	rows, err := tx.QueryContext(ctx, traced(`SELECT facet FROM item_facets WHERE item_id = ?`), it.Seq)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var f string
		if err := rows.Scan(&f); err != nil {
			return nil, err
		}
		out[strings.TrimPrefix(f, "r")] = true
	}
	return out, rows.Err()
}

// matches applies q's filters to an item's facets.
func matches(q Query, facets map[string]bool) bool {
	for _, g := range facetGroups(q) {
		ok := false
		for _, f := range g {
			ok = ok || facets[f]
		}
		if !ok {
			return false
		}
	}
	return true
}

// commitFire stores a chunk's deliveries, numbered, and moves the cursors,
// unless another process moved them first (moved is then false and
// nothing is written).
func (s *Store) commitFire(ctx context.Context, work []fireWork) error {
	now := formatTime(s.Now())
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stored := map[string][]byte{} // each shared part once
	for i := range work {
		w := &work[i]
		if w.moved, err = s.fireOne(ctx, tx, w.id, w.o, w.batches, now, stored); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		for i := range work {
			work[i].moved = false
		}
		return err
	}
	for hash, content := range stored {
		s.shared.add(hash, content)
	}
	return nil
}

// fireOne writes one subscriber's part of commitFire in tx: its cursors
// moved, if they are still where the chunk was read, and its deliveries.
func (s *Store) fireOne(ctx context.Context, tx *txn, id string, o owing, batches []Batch, now string, stored map[string][]byte) (moved bool, err error) {
	res, err := s.wstmt(ctx, tx, `UPDATE subscribers SET cursor = ?, change_cursor = ?, sequence = ?, last_fire = ?
		WHERE id = ? AND cursor = ? AND change_cursor = ? AND sequence = ?`).ExecContext(ctx,
		o.upper, o.changeUpper, o.seq+int64(len(batches)), now, id, o.cursor, o.changeCursor, o.seq)
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	// A statement for many deliveries, and one for their bodies.
	for rest := batches; len(rest) > 0; {
		n := pow2Run(len(rest), maxRows)
		run := rest[:n]
		rest = rest[n:]
		// A delivery with a shared part keeps its own part on its row;
		// a whole body goes in delivery_bodies, by the id the row got.
		args := make([]any, 0, 10*n)
		var newShared []any          // hash, content: the shared parts first met
		whole := map[string][]byte{} // by webhook-id
		for _, b := range run {
			ids, _ := json.Marshal(b.Items)
			hook := newWebhookID()
			args = append(args, hook, id, string(ids), Due, now, now, b.Seq)
			if b.Shared == nil {
				whole[hook] = b.Body
				args = append(args, nil, nil, nil)
				continue
			}
			if b.Split < 0 || b.Split > len(b.Body) {
				return false, fmt.Errorf("subscriber %s: a body split at %d of %d bytes", id, b.Split, len(b.Body))
			}
			hash := b.SharedHash
			if hash == "" {
				hash = SharedHash(b.Shared)
			}
			args = append(args, b.Body, hash, b.Split)
			if _, ok := stored[hash]; ok || s.shared.has(hash) {
				continue
			}
			stored[hash] = b.Shared
			newShared = append(newShared, hash, b.Shared)
		}
		if err := s.insertManyThen(ctx, tx, `INSERT INTO shared_bodies (hash, content) VALUES `, 2, newShared, ` ON CONFLICT (hash) DO NOTHING`); err != nil {
			return false, err
		}
		insert := `INSERT INTO deliveries (webhook_id, subscriber_id, items, status, next_attempt, created, sequence, own, shared, split)
			VALUES ` + valueRows(n, 10)
		if len(whole) == 0 {
			if _, err := s.wstmt(ctx, tx, insert).ExecContext(ctx, args...); err != nil {
				return false, err
			}
			continue
		}
		rows, err := s.wstmt(ctx, tx, insert+` RETURNING id, webhook_id`).QueryContext(ctx, args...)
		if err != nil {
			return false, err
		}
		var bodies []any
		for rows.Next() {
			var did int64
			var hook string
			if err := rows.Scan(&did, &hook); err != nil {
				rows.Close()
				return false, err
			}
			if b, ok := whole[hook]; ok {
				bodies = append(bodies, did, b)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return false, err
		}
		if err := s.insertMany(ctx, tx, `INSERT INTO delivery_bodies (delivery_id, body) VALUES `, 2, bodies); err != nil {
			return false, err
		}
	}
	return true, nil
}

// SharedHash names a shared part of bodies (Batch.Shared).
func SharedHash(b []byte) string {
	h := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// sharedParts holds shared parts of bodies this process stored or read,
// by hash, within sharedBytes. A part is named by its content's hash and
// never changed or deleted once stored: one held need not be stored
// again, and every partner's delivery of it is put together from here,
// not read again from the database at each claim.
type sharedParts struct {
	mu    sync.Mutex
	parts map[string][]byte
	size  int
}

// sharedBytes bounds the shared parts a process holds.
const sharedBytes = 32 << 20

func (c *sharedParts) has(hash string) bool {
	_, ok := c.get(hash)
	return ok
}

func (c *sharedParts) get(hash string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.parts[hash]
	return p, ok
}

// add holds a part; when the parts held would exceed sharedBytes, the
// others are let go first.
func (c *sharedParts) add(hash string, content []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.parts[hash]; ok || len(content) > sharedBytes {
		return
	}
	if c.parts == nil || c.size+len(content) > sharedBytes {
		c.parts, c.size = map[string][]byte{}, 0
	}
	c.parts[hash], c.size = content, c.size+len(content)
}

// Whole is the body b sends: Body, or Body with Shared put in at Split.
func (b Batch) Whole() []byte {
	if b.Shared == nil {
		return bytes.Clone(b.Body)
	}
	return joinAt(b.Body, b.Split, b.Shared)
}

// joinAt is own with shared put in at split, in memory of its own.
func joinAt(own []byte, split int, shared []byte) []byte {
	at := min(split, len(own))
	out := make([]byte, 0, len(own)+len(shared))
	return append(append(append(out, own[:at]...), shared...), own[at:]...)
}

// bodyParts is a stored body as bodyColumns read it (through bodyJoins):
// whole, or its own part, the hash of the shared part and where it goes.
type bodyParts struct {
	whole, own sql.RawBytes
	hash       sql.NullString
	split      sql.NullInt64
}

// dest is where a scan puts bodyColumns.
func (p *bodyParts) dest() []any { return []any{&p.whole, &p.own, &p.split, &p.hash} }

// held copies the parts out of the driver's bytes, which the next row
// overwrites.
func (p *bodyParts) held() heldBody {
	if p.whole != nil || p.own == nil {
		return heldBody{whole: bytes.Clone(p.whole)}
	}
	return heldBody{own: bytes.Clone(p.own), split: int(p.split.Int64), hash: p.hash.String}
}

// heldBody is a stored body read, waiting for its shared part: whole, or
// its own part and the hash of the shared part that goes in at split.
type heldBody struct {
	whole, own []byte
	split      int
	hash       string
}

// bodyColumns and bodyJoins read the body of the delivery whose row is
// alias (deliveries, or the alias the query gives it), into bodyParts.
func bodyColumns(alias string) string {
	return `b.body, ` + alias + `.own, ` + alias + `.split, ` + alias + `.shared`
}

func bodyJoins(alias string) string {
	return `LEFT JOIN delivery_bodies b ON b.delivery_id = ` + alias + `.id`
}

// assemble puts bodies together: each whole one as it is, each other its
// own part with its shared part, from memory or, for those not held yet,
// read through q in a statement for many. A body whose shared part is
// missing comes out nil, as one never written.
func (s *Store) assemble(ctx context.Context, q interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}, held []heldBody) ([][]byte, error) {
	found := map[string][]byte{}
	var missing []string
	for _, h := range held {
		if _, ok := found[h.hash]; ok || h.own == nil || slices.Contains(missing, h.hash) {
			continue
		}
		if content, ok := s.shared.get(h.hash); ok {
			found[h.hash] = content
		} else {
			missing = append(missing, h.hash)
		}
	}
	for chunk := range slices.Chunk(missing, maxListed) {
		var args []any
		rows, err := q.QueryContext(ctx, traced(`SELECT hash, content FROM shared_bodies WHERE `+inShape("hash", chunk, &args)), args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var hash string
			var content []byte
			if err := rows.Scan(&hash, &content); err != nil {
				rows.Close()
				return nil, err
			}
			found[hash] = content
			s.shared.add(hash, content)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	out := make([][]byte, len(held))
	for i, h := range held {
		if h.own == nil {
			out[i] = h.whole
		} else if shared, ok := found[h.hash]; ok {
			out[i] = joinAt(h.own, h.split, shared)
		}
	}
	return out, nil
}

// insertMany inserts rows of cols values each (args, row after row) with
// insert ("INSERT INTO t (…) VALUES "), in runs of a few shapes.
func (s *Store) insertMany(ctx context.Context, tx *txn, insert string, cols int, args []any) error {
	return s.insertManyThen(ctx, tx, insert, cols, args, "")
}

// insertManyThen is insertMany with then after the values (ON CONFLICT …).
func (s *Store) insertManyThen(ctx context.Context, tx *txn, insert string, cols int, args []any, then string) error {
	return inRuns(args, cols, func(n int, run []any) error {
		_, err := s.wstmt(ctx, tx, insert+valueRows(n, cols)+then).ExecContext(ctx, run...)
		return err
	})
}

// inRuns calls do with the rows of args (cols values each, row after row)
// in runs of a power of two rows, at most maxRows, the largest first.
func inRuns(args []any, cols int, do func(rows int, run []any) error) error {
	for rest := args; len(rest) > 0; {
		n := pow2Run(len(rest)/cols, maxRows)
		if err := do(n, rest[:n*cols]); err != nil {
			return err
		}
		rest = rest[n*cols:]
	}
	return nil
}

// maxRows bounds the rows one statement inserts.
const maxRows = 64

// newWebhookID makes the id a delivery keeps across all its retries: the
// time in milliseconds, then 72 random bits, in an encoding that sorts as
// the time does, so that new ids go at the end of their index instead of
// on a random page of it.
func newWebhookID() string {
	b := make([]byte, 15)
	binary.BigEndian.PutUint64(b, uint64(time.Now().UnixMilli())<<16)
	rand.Read(b[6:])
	return "msg_" + webhookIDEncoding.EncodeToString(b)
}

var webhookIDEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

const deliveryColumns = `id, webhook_id, subscriber_id, items, status, attempts, next_attempt, created, sent_at, last_error`

// claimColumns are what a sender needs of a delivery it claims: what it
// sends, and what its retries are reckoned from. Every column read costs
// the driver several calls into SQLite, each under the connection's
// mutex, so a claim reads no more.
const claimColumns = `id, webhook_id, subscriber_id, items, attempts, next_attempt`

// scanClaimed reads claimColumns, and bodyColumns into body when it is
// not nil, as a delivery being sent.
func scanClaimed(r scanner, body *bodyParts) (Delivery, error) {
	d := Delivery{Status: Sending}
	var items, next string
	dest := []any{&d.ID, &d.WebhookID, &d.SubscriberID, &items, &d.Attempts, &next}
	if body != nil {
		dest = append(dest, body.dest()...)
	}
	if err := r.Scan(dest...); err != nil {
		return d, err
	}
	d.NextAttempt = parseTime(next)
	return d, scanItems(items, &d.Items)
}

// scanItems reads a delivery's item list.
func scanItems(s string, items *[]int64) error {
	var ok bool
	if *items, ok = itemList(s); !ok {
		return json.Unmarshal([]byte(s), items)
	}
	return nil
}

// scanDelivery reads deliveryColumns, and bodyColumns into body when it
// is not nil.
func scanDelivery(r scanner, body *bodyParts) (Delivery, error) {
	var d Delivery
	var items, next, created, sent string
	dest := []any{&d.ID, &d.WebhookID, &d.SubscriberID, &items, &d.Status, &d.Attempts, &next, &created, &sent, &d.LastError}
	if body != nil {
		dest = append(dest, body.dest()...)
	}
	err := r.Scan(dest...)
	if err != nil {
		return d, err
	}
	d.NextAttempt, d.Created, d.SentAt = parseTime(next), parseTime(created), parseTime(sent)
	return d, scanItems(items, &d.Items)
}

// itemList reads a delivery's items as commitFire writes them, a JSON
// array of item ids ("[12,13]"), by hand; ok is false for anything else.
func itemList(s string) ([]int64, bool) {
	if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
		return nil, false
	}
	body := s[1 : len(s)-1]
	if body == "" {
		return []int64{}, true
	}
	out := make([]int64, 0, strings.Count(body, ",")+1)
	for part := range strings.SplitSeq(body, ",") {
		n, err := strconv.ParseInt(part, 10, 64)
		if err != nil || part[0] == '+' {
			return nil, false
		}
		out = append(out, n)
	}
	return out, true
}

// heads selects, for each subscriber that is not paused, the oldest
// delivery it is owed: the only one of its deliveries that may be sent,
// so that a partner gets its batches one at a time and in order; and the
// subscriber's claim (sclaim: when it lapses, empty or past when there is
// none). subs is the condition on s.id.
func heads(subs string) string {
	return `SELECT s.id AS sid, s.claimed_until AS sclaim, (SELECT min(x.id) FROM deliveries x WHERE x.subscriber_id = s.id AND x.status IN ('due', 'sending') AND x.id > s.sent_through) AS hid
		FROM subscribers s WHERE s.paused = 0 AND ` + subs
}

// subscriberCond is the condition on s.id for a list of webhook
// subscribers; WebSub subscriptions always take part.
func subscriberCond(subscribers []string, args *[]any) string {
	cond := "s.kind = '" + KindWebSub + "'"
	if len(subscribers) > 0 {
		cond = "(" + inShape("s.id", subscribers, args) + " OR " + cond + ")"
	}
	return cond
}

// ClaimRuns takes the due deliveries of up to n different subscribers in
// one statement: each the oldest owed delivery of a subscriber that is not
// paused and has nothing in flight, and with it up to run-1 of the
// deliveries that follow it in the subscriber's queue when they may go now
// too. A claim is the subscriber's, not its deliveries': the run is its
// owed deliveries up to claimed_through, while claimed_until has not
// passed, so that a claim writes one row however long the run. A claim
// that lapsed (crier stopped mid-request) leaves the run due again, under
// the same webhook-ids. Each claim lasts lease. WebSub
// subscriptions' deliveries are claimed along with subscribers'. Their
// sender holds them, and sends each once the one before it succeeded:
// still one request in flight per subscriber, in order. The runs come in
// the order their heads fell due, each run in order.
func (s *Store) ClaimRuns(ctx context.Context, subscribers []string, n, run int, lease time.Duration) ([][]Delivery, error) {
	tx, err := s.begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	defer tx.Rollback()
	var args []any
	runs, err := s.claimRuns(ctx, tx, subscriberCond(subscribers, &args), args, n, run, lease)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	return runs, tx.Commit()
}

// claimRuns claims, in tx, the runs of up to n subscribers that cond (on
// s.id, with its args) selects.
func (s *Store) claimRuns(ctx context.Context, tx *txn, cond string, condArgs []any, n, run int, lease time.Duration) ([][]Delivery, error) {
	now := s.Now()
	nowText, until := formatTime(now), formatTime(now.Add(lease))
	args := append(slices.Clone(condArgs), nowText, nowText, n)
	// The subscriber's row is the claim: on PostgreSQL it is locked, and
	// one taken meanwhile by another process is skipped. One that another
	// process claimed, sent and finished after this statement's snapshot
	// was taken is locked in its newest version, and PostgreSQL checks the
	// conditions again on the newest versions of the rows locked, not on
	// the heads (h), read from the snapshot: so the head's own row is
	// locked too, and the conditions that tie it to its subscriber (still
	// owed, past sent_through, due) are repeated here, or a head sent
	// meanwhile would be claimed and sent again.
	rows, err := s.wstmt(ctx, tx, `SELECT `+qualified("d", claimColumns)+`, c.sent_through FROM (`+heads(cond)+`) h
		JOIN deliveries d ON d.id = h.hid JOIN subscribers c ON c.id = h.sid
		WHERE c.claimed_until <= ? AND d.next_attempt <= ? AND c.paused = 0
		AND d.id > c.sent_through AND d.status IN ('due', 'sending')
		ORDER BY d.next_attempt, d.id LIMIT ? `+s.skipLocked("c", "d")).QueryContext(ctx, args...)
	heads, err := scanAll(rows, err, func(r scanner) (Delivery, error) {
		var prefix int64
		d, err := scanClaimed(extraScanner{r, &prefix}, nil)
		d.Prefix = prefix
		return d, err
	})
	if err != nil || len(heads) == 0 {
		return nil, err
	}
	runs := make([][]Delivery, len(heads))
	var ids []int64
	var claims []any // subscriber, the last delivery of its run
	for i, h := range heads {
		runs[i] = []Delivery{h}
		ids = append(ids, h.ID)
		if run > 1 {
			more, err := s.claimFollowing(ctx, tx, h, run-1, now)
			if err != nil {
				return nil, err
			}
			runs[i] = append(runs[i], more...) // with their bodies
		}
		for k := 1; k < len(runs[i]); k++ {
			runs[i][k].Prefix = runs[i][k-1].ID
		}
		claims = append(claims, h.SubscriberID, runs[i][len(runs[i])-1].ID)
	}
	bodies, err := s.bodies(ctx, tx, ids)
	if err != nil {
		return nil, err
	}
	for _, r := range runs {
		if r[0].Body = bodies[r[0].ID]; r[0].Body == nil {
			return nil, fmt.Errorf("body of delivery %d: %w", r[0].ID, ErrNotFound)
		}
	}
	if err := s.setClaims(ctx, tx, claims, until); err != nil {
		return nil, err
	}
	return runs, nil
}

// newClaimer names a process's claims.
func newClaimer() string {
	b := make([]byte, 12)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// setClaims claims, until the given time, each subscriber's deliveries up
// to the one given: pairs is subscriber id, delivery id, ...
func (s *Store) setClaims(ctx context.Context, tx *txn, pairs []any, until string) error {
	return s.updateClaims(ctx, tx, pairs, `claimed_through = v.through, claimed_until = ?, claimed_by = ?`, "", until, s.claimer)
}

// updateClaims updates subscribers joined to v (id, through), the table of
// pairs (subscriber id, delivery id, …): set, then where (more terms, from
// " AND"), with args for them after the pairs, a statement for many.
func (s *Store) updateClaims(ctx context.Context, tx *txn, pairs []any, set, where string, args ...any) error {
	return inRuns(pairs, 2, func(n int, run []any) error {
		_, err := s.wstmt(ctx, tx, `WITH v (id, through) AS (VALUES `+strings.TrimSuffix(strings.Repeat("(?, CAST(? AS BIGINT)), ", n), ", ")+`)
			UPDATE subscribers SET `+set+` FROM v WHERE subscribers.id = v.id`+where).ExecContext(ctx, append(slices.Clone(run), args...)...)
		return err
	})
}

// qualified prefixes each of a list of columns with a table's alias.
func qualified(alias, columns string) string {
	cols := strings.Split(columns, ", ")
	for i, c := range cols {
		cols[i] = alias + "." + c
	}
	return strings.Join(cols, ", ")
}

// runBytes bounds the bodies a run holds after its head, and so a
// sender's memory: runs of small payloads are long, of large ones short.
const runBytes = 512 << 10

// claimFollowing reads up to n of the deliveries after a claimed head in
// its subscriber's queue: those that may go now, up to the first that may
// not, so that none is sent before one owed ahead of it, and within
// runBytes. The claim on them is the subscriber's (setClaims).
func (s *Store) claimFollowing(ctx context.Context, tx *txn, head Delivery, n int, nowTime time.Time) ([]Delivery, error) {
	// The deliveries with their bodies, read once.
	rows, err := s.wstmt(ctx, tx, `SELECT `+claimColumns+`, `+bodyColumns("deliveries")+`
		FROM deliveries `+bodyJoins("deliveries")+`
		WHERE subscriber_id = ? AND status IN ('due', 'sending') AND deliveries.id > ? ORDER BY deliveries.id LIMIT ?`).QueryContext(ctx, head.SubscriberID, head.ID, n)
	if err != nil {
		return nil, err
	}
	var run []Delivery
	var held []heldBody
	for rows.Next() {
		var body bodyParts
		d, err := scanClaimed(rows, &body)
		if err != nil {
			rows.Close()
			return nil, err
		}
		if d.NextAttempt.After(nowTime) {
			break
		}
		run, held = append(run, d), append(held, body.held())
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(run) == 0 {
		return nil, err
	}
	bodies, err := s.assemble(ctx, tx, held)
	if err != nil {
		return nil, err
	}
	size := 0
	for i := range run {
		// A delivery without its body (never written so) ends the run too.
		if size += len(bodies[i]); size > runBytes || bodies[i] == nil {
			return run[:i], nil
		}
		run[i].Body = bodies[i]
	}
	return run, nil
}

// scanDeliveries reads the deliveryColumns of every row.
func scanDeliveries(rows *sql.Rows, err error) ([]Delivery, error) {
	return scanAll(rows, err, func(r scanner) (Delivery, error) { return scanDelivery(r, nil) })
}

// bodies reads deliveries' bodies inside a write transaction, by id.
func (s *Store) bodies(ctx context.Context, tx *txn, ids []int64) (map[int64][]byte, error) {
	var read []int64
	var held []heldBody
	for chunk := range slices.Chunk(ids, maxListed) {
		var args []any
		rows, err := s.wstmt(ctx, tx, `SELECT d.id, `+bodyColumns("d")+` FROM deliveries d `+bodyJoins("d")+` WHERE `+inShape("d.id", chunk, &args)).QueryContext(ctx, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id int64
			var body bodyParts
			if err := rows.Scan(append([]any{&id}, body.dest()...)...); err != nil {
				rows.Close()
				return nil, err
			}
			read, held = append(read, id), append(held, body.held())
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	bodies, err := s.assemble(ctx, tx, held)
	if err != nil {
		return nil, err
	}
	out := make(map[int64][]byte, len(ids))
	for i, id := range read {
		out[id] = bodies[i]
	}
	return out, nil
}

// maxListed bounds the values one statement lists, well within either
// engine's limit on parameters (a power of two: see inShape).
const maxListed = 256

// NextDue returns when the earliest owed delivery that may be sent falls
// due: the head of a subscriber's queue, due at its next attempt, or, when
// it is claimed, when the claim lapses.
func (s *Store) NextDue(ctx context.Context, subscribers []string) (time.Time, bool, error) {
	var args []any
	cond := subscriberCond(subscribers, &args)
	args = append(args, formatTime(s.Now()))
	var next sql.NullString
	err := s.r.QueryRowContext(ctx, traced(`SELECT min(CASE WHEN h.sclaim > ? THEN h.sclaim ELSE d.next_attempt END)
		FROM (`+heads(cond)+`) h JOIN deliveries d ON d.id = h.hid`), args...).Scan(&next)
	if err != nil || !next.Valid {
		return time.Time{}, false, err
	}
	return parseTime(next.String), true, nil
}

// Outcome is what became of an attempt.
type Outcome int

// The outcomes of an attempt.
const (
	Delivered Outcome = iota // 2xx: done
	Retry                    // try again at the given time
	// RetryFailing: every scheduled retry failed. The delivery stays owed
	// and is tried again at the given time (the longest wait), and the
	// subscriber is marked failing until a delivery succeeds.
	RetryFailing
	Gone // 410: the delivery stays owed, the subscriber is paused
)

// Finished is an attempt at a claimed delivery and its outcome.
type Finished struct {
	Delivery Delivery
	Attempt  Attempt
	Outcome  Outcome
	Next     time.Time // the next attempt, for Retry and RetryFailing
}

// Record is one commit of a sender: the attempts finished since its last,
// and the claims it renews, gives back or takes.
type Record struct {
	Done  []Finished
	Lease time.Duration // how long claims taken or renewed now last; 0 takes none
	Run   int           // how many deliveries a refill claims, at most
	// Refill lists subscribers whose claimed run is used up, their last
	// delivery delivered: their next run is claimed, if due.
	Refill []string
	// Holding is every subscriber whose sender holds claimed deliveries
	// not yet sent, by the one it keeps whatever happens (in flight; 0 for
	// none). A subscriber paused meanwhile has the others given back.
	Holding map[string]int64
	// Renew lists holding subscribers whose claims are renewed for Lease.
	Renew []string
	// Release gives back a subscriber's claims after the given delivery
	// (its sender is stopping).
	Release map[string]int64
	// Claim, when not 0, claims the runs of up to that many more
	// subscribers, as ClaimRuns does, of those Subscribers names (and
	// WebSub subscriptions), after the refills.
	Claim       int
	Subscribers []string
}

// Recorded is what a Record claimed and stopped.
type Recorded struct {
	Runs    map[string][]Delivery // the runs claimed for Refill and Claim, by subscriber
	Stopped []string              // holding subscribers found paused, their claims given back
}

// Record commits a sender's finished attempts and its claims in one
// transaction, in a few statements however many attempts it carries.
// An attempt at a delivery that is gone (its subscriber removed) is not
// recorded. A delivery that failed gives back its subscriber's other claims.
func (s *Store) Record(ctx context.Context, r Record) (Recorded, error) {
	out := Recorded{Runs: map[string][]Delivery{}}
	tx, err := s.begin(ctx)
	if err != nil {
		return out, fmt.Errorf("record deliveries: %w", err)
	}
	defer tx.Rollback()
	if err := s.recordAttempts(ctx, tx, r.Done); err != nil {
		return out, fmt.Errorf("record deliveries: %w", err)
	}
	if n, err := s.logSpan(ctx, tx); err != nil || n > settleAt {
		if err == nil {
			_, err = s.settle(ctx, tx, settleChunk)
		}
		if err != nil {
			return out, fmt.Errorf("settle deliveries: %w", err)
		}
	}
	release := maps.Clone(r.Release)
	if release == nil {
		release = map[string]int64{}
	}
	for _, f := range r.Done {
		if f.Outcome != Delivered {
			if err := s.finishFailed(ctx, tx, f); err != nil {
				return out, fmt.Errorf("finish delivery %s: %w", f.Delivery.WebhookID, err)
			}
			release[f.Delivery.SubscriberID] = f.Delivery.ID
		}
	}
	if len(r.Holding) > 0 {
		var args []any
		rows, err := s.wstmt(ctx, tx, `SELECT id FROM subscribers WHERE paused != 0 AND `+inShape("id", slices.Sorted(maps.Keys(r.Holding)), &args)).QueryContext(ctx, args...)
		if out.Stopped, err = scanColumn[string](rows, err); err != nil {
			return out, fmt.Errorf("record deliveries: %w", err)
		}
		for _, id := range out.Stopped {
			release[id] = r.Holding[id]
		}
	}
	for id, after := range release {
		// The claim ends after the one kept, or at once.
		q, args := `UPDATE subscribers SET claimed_through = ? WHERE id = ? AND claimed_by = ? AND claimed_through > ?`, []any{after, id, s.claimer, after}
		if after == 0 {
			q, args = `UPDATE subscribers SET claimed_until = '', claimed_through = 0 WHERE id = ? AND claimed_by = ?`, []any{id, s.claimer}
		}
		if _, err := s.wstmt(ctx, tx, q).ExecContext(ctx, args...); err != nil {
			return out, fmt.Errorf("give back the deliveries of %s: %w", id, err)
		}
	}
	// A claim whose last delivery is finished ends: the subscriber's next
	// run may be claimed at once, by any sender.
	last := map[string]int64{}
	for _, f := range r.Done {
		last[f.Delivery.SubscriberID] = max(last[f.Delivery.SubscriberID], f.Delivery.ID)
	}
	for _, id := range r.Refill {
		last[id] = math.MaxInt64 // its run is used up
	}
	var ended []any
	for _, id := range slices.Sorted(maps.Keys(last)) {
		ended = append(ended, id, last[id])
	}
	if err := s.endClaims(ctx, tx, ended); err != nil {
		return out, fmt.Errorf("record deliveries: %w", err)
	}
	if r.Lease > 0 {
		until := formatTime(s.Now().Add(r.Lease))
		var renew []string
		for _, id := range r.Renew {
			if _, stopped := release[id]; !stopped {
				renew = append(renew, id)
			}
		}
		if len(renew) > 0 {
			args := []any{until}
			q := `UPDATE subscribers SET claimed_until = ? WHERE ` + inShape("id", renew, &args) + ` AND claimed_until != '' AND claimed_by = ?`
			_, err := s.wstmt(ctx, tx, q).ExecContext(ctx, append(args, s.claimer)...)
			if err != nil {
				return out, fmt.Errorf("renew claims: %w", err)
			}
		}
		// The runs of cond's subscribers (with its args), up to n, into
		// out.Runs.
		claim := func(cond string, args []any, n int) error {
			runs, err := s.claimRuns(ctx, tx, cond, args, n, max(1, r.Run), r.Lease)
			for _, run := range runs {
				out.Runs[run[0].SubscriberID] = run
			}
			return err
		}
		if len(r.Refill) > 0 {
			var args []any
			if err := claim(inShape("s.id", r.Refill, &args), args, len(r.Refill)); err != nil {
				return out, fmt.Errorf("claim the next deliveries: %w", err)
			}
		}
		if r.Claim > 0 {
			// The refills' claims are taken: these are other subscribers.
			var args []any
			if err := claim(subscriberCond(r.Subscribers, &args), args, r.Claim); err != nil {
				return out, fmt.Errorf("claim deliveries: %w", err)
			}
		}
	}
	return out, tx.Commit()
}

// endClaims ends the claims of subscribers whose claimed run ends at or
// before the delivery given: pairs is subscriber id, delivery id, ...
func (s *Store) endClaims(ctx context.Context, tx *txn, pairs []any) error {
	return s.updateClaims(ctx, tx, pairs, `claimed_until = '', claimed_through = 0`,
		` AND subscribers.claimed_through <= v.through AND subscribers.claimed_until != '' AND subscribers.claimed_by = ?`, s.claimer)
}

// recordAttempts stores finished attempts, a statement for many: the
// failed ones in attempts, the delivering ones as recordDelivered says.
func (s *Store) recordAttempts(ctx context.Context, tx *txn, done []Finished) error {
	var delivered []Finished
	for chunk := range slices.Chunk(done, maxRows) {
		var failed []int64
		for _, f := range chunk {
			if f.Outcome != Delivered {
				failed = append(failed, f.Delivery.ID)
			} else {
				delivered = append(delivered, f)
			}
		}
		if len(failed) == 0 {
			continue
		}
		var args []any
		exist, err := scanColumn[int64](s.wstmt(ctx, tx, `SELECT id FROM deliveries WHERE `+inShape("id", failed, &args)).QueryContext(ctx, args...))
		if err != nil {
			return err
		}
		var attempts []any
		for _, f := range chunk {
			// One whose subscriber was removed (and its deliveries with
			// it) is not recorded.
			if a := f.Attempt; f.Outcome != Delivered && slices.Contains(exist, f.Delivery.ID) {
				attempts = append(attempts, f.Delivery.ID, formatTime(a.At), a.Status, a.Latency.Milliseconds(), a.Error, a.Response)
			}
		}
		if err := s.insertMany(ctx, tx, `INSERT INTO attempts (delivery_id, at, status, latency_ms, error, response) VALUES `, 6, attempts); err != nil {
			return err
		}
	}
	return s.recordDelivered(ctx, tx, delivered)
}

// recordDelivered records delivering attempts without writing their
// deliveries' rows. A subscriber's deliveries go one at a time and in
// order, so what it was delivered is a prefix of its queue: the attempts
// are appended to sent_log, and its sent_through moves to the last of
// them, if it still stands where the sender expects (Delivery.Prefix of
// the first). One whose prefix moved meanwhile (a delivery replayed ahead
// of it, or its claim taken by another sender) is marked sent on its row
// at once instead. Either way the subscriber is no longer failing.
func (s *Store) recordDelivered(ctx context.Context, tx *txn, done []Finished) error {
	if len(done) == 0 {
		return nil
	}
	type span struct{ first, prefix, last int64 }
	spans := map[string]span{}
	for _, f := range done {
		d := f.Delivery
		sp, ok := spans[d.SubscriberID]
		if !ok || d.ID < sp.first {
			sp.first, sp.prefix = d.ID, d.Prefix
		}
		sp.last = max(sp.last, d.ID)
		spans[d.SubscriberID] = sp
	}
	var moves []any // subscriber, the prefix expected, where it moves
	for _, sub := range slices.Sorted(maps.Keys(spans)) {
		moves = append(moves, sub, spans[sub].prefix, spans[sub].last)
	}
	through := map[string]int64{} // each subscriber's sent_through now
	err := inRuns(moves, 3, func(n int, run []any) error {
		rows, err := s.wstmt(ctx, tx, `WITH v (id, prefix, through) AS (VALUES `+strings.TrimSuffix(strings.Repeat("(?, CAST(? AS BIGINT), CAST(? AS BIGINT)), ", n), ", ")+`)
			UPDATE subscribers SET sent_through = CASE WHEN subscribers.sent_through = v.prefix THEN v.through ELSE subscribers.sent_through END, failing = 0
			FROM v WHERE subscribers.id = v.id RETURNING subscribers.id, subscribers.sent_through`).QueryContext(ctx, run...)
		_, err = scanAll(rows, err, func(r scanner) (struct{}, error) {
			var sub string
			var st int64
			err := r.Scan(&sub, &st)
			through[sub] = st
			return struct{}{}, err
		})
		return err
	})
	if err != nil {
		return err
	}
	var logged, marked []any
	for _, f := range done {
		id, a := f.Delivery.ID, f.Attempt
		switch st, ok := through[f.Delivery.SubscriberID]; {
		case !ok:
			// Its subscriber was removed, and its deliveries with it.
		case id <= st:
			logged = append(logged, id, f.Delivery.WebhookID, formatTime(a.At), a.Status, a.Latency.Milliseconds(), a.Response)
		default:
			marked = append(marked, id, formatTime(a.At), a.Status, a.Latency.Milliseconds(), a.Response)
		}
	}
	if err := s.insertMany(ctx, tx, `INSERT INTO sent_log (delivery_id, webhook_id, at, status, latency_ms, response) VALUES `, 6, logged); err != nil {
		return err
	}
	return s.markSent(ctx, tx, marked)
}

// markSent writes delivering attempts on their deliveries' rows, which it
// marks sent (sent_at, sent_status, sent_latency_ms, sent_response): rows
// of id, at, status, latency in ms and response.
func (s *Store) markSent(ctx context.Context, tx *txn, attempts []any) error {
	for chunk := range slices.Chunk(attempts, 5*maxRows) {
		// A table the update joins, padded to a shape: one statement for
		// the chunk.
		rows, n := paddedRows(chunk, 5)
		q := `WITH v (id, at, code, ms, response) AS (VALUES ` +
			strings.TrimSuffix(strings.Repeat("(CAST(? AS BIGINT), ?, CAST(? AS INTEGER), CAST(? AS BIGINT), CAST(? AS BLOB)), ", n), ", ") + `)
			UPDATE deliveries SET status = ?, attempts = attempts + 1, sent_at = v.at, sent_status = v.code, sent_latency_ms = v.ms, sent_response = v.response, last_error = ''
			FROM v WHERE deliveries.id = v.id`
		if _, err := s.wstmt(ctx, tx, q).ExecContext(ctx, append(rows, Sent)...); err != nil {
			return err
		}
	}
	return nil
}

// settleAt is how long sent_log may grow before a commit settles its
// oldest settleChunk entries; the senders settle the rest when idle.
const (
	settleAt    = 16384
	settleChunk = 4096
)

// Settle moves the delivering attempts in sent_log onto their deliveries'
// rows, which it marks sent, and empties the log, a bounded part a
// transaction. It returns how many entries it settled.
func (s *Store) Settle(ctx context.Context) (int, error) {
	total := 0
	for {
		tx, err := s.begin(ctx)
		if err != nil {
			return total, fmt.Errorf("settle deliveries: %w", err)
		}
		n, err := s.settle(ctx, tx, settleChunk)
		if err == nil {
			err = tx.Commit()
		}
		tx.Rollback()
		if err != nil {
			return total, fmt.Errorf("settle deliveries: %w", err)
		}
		if total += n; n < settleChunk {
			return total, nil
		}
	}
}

// settle settles, in tx, the oldest n entries of sent_log and returns
// how many there were. An entry whose delivery is gone (its subscriber
// removed) is dropped: it matches no row, the webhook-id compared too.
func (s *Store) settle(ctx context.Context, tx *txn, n int) (int, error) {
	var last sql.NullInt64
	var count int
	if err := s.wstmt(ctx, tx, `SELECT max(id), count(*) FROM (SELECT id FROM sent_log ORDER BY id LIMIT ?) l`).QueryRowContext(ctx, n).Scan(&last, &count); err != nil || count == 0 {
		return 0, err
	}
	if _, err := s.wstmt(ctx, tx, `UPDATE deliveries SET status = ?, attempts = attempts + 1, sent_at = l.at, sent_status = l.status,
		sent_latency_ms = l.latency_ms, sent_response = l.response, last_error = ''
		FROM sent_log l WHERE l.id <= ? AND deliveries.id = l.delivery_id AND deliveries.webhook_id = l.webhook_id AND deliveries.status IN ('due', 'sending')`).ExecContext(ctx, Sent, last.Int64); err != nil {
		return 0, err
	}
	_, err := s.wstmt(ctx, tx, `DELETE FROM sent_log WHERE id <= ?`).ExecContext(ctx, last.Int64)
	return count, err
}

// Unsettled counts the successes recorded in sent_log and not yet
// settled onto their deliveries' rows.
func (s *Store) Unsettled(ctx context.Context) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM sent_log`).Scan(&n)
	return n, err
}

// logSpan is about how many entries sent_log holds, read from its first
// and last ids (Unsettled counts them, which a commit need not).
func (s *Store) logSpan(ctx context.Context, tx *txn) (int64, error) {
	var n sql.NullInt64
	err := s.wstmt(ctx, tx, `SELECT (SELECT max(id) FROM sent_log) - (SELECT min(id) FROM sent_log) + 1`).QueryRowContext(ctx).Scan(&n)
	return n.Int64, err
}

// finishFailed records what a failed attempt means for its delivery and
// subscriber (the attempt itself is recorded already).
func (s *Store) finishFailed(ctx context.Context, tx *txn, f Finished) error {
	d, a := f.Delivery, f.Attempt
	exec := func(query string, args ...any) error {
		_, err := s.wstmt(ctx, tx, query).ExecContext(ctx, args...)
		return err
	}
	var err error
	switch f.Outcome {
	case Retry, RetryFailing:
		err = exec(`UPDATE deliveries SET status = ?, attempts = attempts + 1, next_attempt = ?, last_error = ? WHERE id = ?`,
			Due, formatTime(f.Next), a.Error, d.ID)
		if err == nil && f.Outcome == RetryFailing {
			err = exec(`UPDATE subscribers SET failing = 1 WHERE id = ?`, d.SubscriberID)
		}
	case Gone:
		err = exec(`UPDATE deliveries SET status = ?, attempts = attempts + 1, last_error = ? WHERE id = ?`,
			Due, a.Error, d.ID)
		if err == nil {
			err = exec(`UPDATE subscribers SET paused = 1 WHERE id = ?`, d.SubscriberID)
		}
	}
	return err
}

// scanAll reads every row with scan.
func scanAll[T any](rows *sql.Rows, err error, scan func(scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// scanColumn reads a one-column result.
func scanColumn[T any](rows *sql.Rows, err error) ([]T, error) {
	return scanAll(rows, err, func(r scanner) (v T, err error) { return v, r.Scan(&v) })
}

// Deliveries lists a subscriber's deliveries, newest first.
func (s *Store) Deliveries(ctx context.Context, subscriberID string, limit int) ([]Delivery, error) {
	var dels []Delivery
	err := s.snapshot(ctx, func(tx *txn) error {
		rows, err := tx.QueryContext(ctx, traced(`SELECT `+deliveryColumns+`, `+bodyColumns("deliveries")+`
			FROM deliveries `+bodyJoins("deliveries")+`
			WHERE subscriber_id = ? ORDER BY deliveries.id DESC LIMIT ?`), subscriberID, limit)
		var held []heldBody
		dels, err = scanAll(rows, err, func(r scanner) (Delivery, error) {
			var body bodyParts
			d, err := scanDelivery(r, &body)
			held = append(held, body.held())
			return d, err
		})
		if err != nil {
			return err
		}
		bodies, err := s.assemble(ctx, tx, held)
		if err != nil {
			return err
		}
		for i := range dels {
			dels[i].Body = bodies[i]
		}
		var until string
		var claimed, sent int64
		err = tx.QueryRowContext(ctx, traced(`SELECT claimed_until, claimed_through, sent_through FROM subscribers WHERE id = ?`), subscriberID).Scan(&until, &claimed, &sent)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		} else if err != nil {
			return err
		}
		return s.deriveStatus(ctx, tx, dels, sent, claimed, until > formatTime(s.Now()))
	})
	return dels, err
}

// deriveStatus says what the rows of a subscriber's deliveries do not
// yet: those at or below its sent_through are sent (their delivering
// attempts are in sent_log, not settled), and those of a live claim, up to
// claimed_through, in flight.
func (s *Store) deriveStatus(ctx context.Context, tx *txn, dels []Delivery, sent, claimed int64, live bool) error {
	var unsettled []int64
	for _, d := range dels {
		if d.Status == Due && d.ID <= sent {
			unsettled = append(unsettled, d.ID)
		}
	}
	at := map[int64]time.Time{}
	for chunk := range slices.Chunk(unsettled, maxListed) {
		var args []any
		rows, err := tx.QueryContext(ctx, traced(`SELECT delivery_id, at FROM sent_log WHERE `+inShape("delivery_id", chunk, &args)), args...)
		_, err = scanAll(rows, err, func(r scanner) (struct{}, error) {
			var id int64
			var t string
			err := r.Scan(&id, &t)
			at[id] = parseTime(t)
			return struct{}{}, err
		})
		if err != nil {
			return err
		}
	}
	for i := range dels {
		d := &dels[i]
		switch {
		case d.Status == Due && d.ID <= sent:
			d.Status, d.Attempts, d.SentAt, d.LastError = Sent, d.Attempts+1, at[d.ID], ""
		case live && d.Status == Due && d.ID <= claimed:
			d.Status = Sending
		}
	}
	return nil
}

// Attempts lists a delivery's attempts, oldest first: those in attempts,
// and the one that delivered it, kept on its row or, not yet settled
// there, in sent_log.
func (s *Store) Attempts(ctx context.Context, deliveryID int64) ([]Attempt, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT at, status, latency_ms, error, response FROM attempts WHERE delivery_id = ?1
		UNION ALL SELECT sent_at, sent_status, sent_latency_ms, '', sent_response FROM deliveries WHERE id = ?1 AND sent_status != 0
		UNION ALL SELECT l.at, l.status, l.latency_ms, '', l.response FROM sent_log l JOIN deliveries d ON d.id = l.delivery_id AND d.webhook_id = l.webhook_id
			WHERE l.delivery_id = ?1 AND d.status IN ('due', 'sending')
		ORDER BY 1`, deliveryID)
	return scanAll(rows, err, func(r scanner) (Attempt, error) {
		var a Attempt
		var at string
		var ms int64
		err := r.Scan(&at, &a.Status, &ms, &a.Error, &a.Response)
		a.At, a.Latency = parseTime(at), time.Duration(ms)*time.Millisecond
		return a, err
	})
}

// Replay sends a delivery again under its own webhook-id: a sent one is
// owed again (the attempt that delivered it joins its other attempts),
// and one waiting out its backoff is due now.
func (s *Store) Replay(ctx context.Context, webhookID string) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// What the log says was sent is settled first: a sent delivery's row
	// then says so, with the attempt that delivered it.
	for {
		n, err := s.settle(ctx, tx, settleChunk)
		if err != nil {
			return err
		}
		if n < settleChunk {
			break
		}
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO attempts (delivery_id, at, status, latency_ms, error, response)
		SELECT id, sent_at, sent_status, sent_latency_ms, '', sent_response FROM deliveries WHERE webhook_id = ? AND status = ? AND sent_status != 0`,
		webhookID, Sent)
	if err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `UPDATE deliveries SET status = ?, attempts = 0, next_attempt = ?, sent_status = 0, sent_latency_ms = 0, sent_response = NULL
		WHERE webhook_id = ? AND status IN (?, ?)`,
		Due, formatTime(s.Now()), webhookID, Due, Sent)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	// It is owed again: its subscriber's sent prefix ends before it.
	_, err = tx.ExecContext(ctx, `UPDATE subscribers SET sent_through = d.id - 1 FROM deliveries d
		WHERE d.webhook_id = ? AND subscribers.id = d.subscriber_id AND subscribers.sent_through >= d.id`, webhookID)
	if err != nil {
		return err
	}
	return tx.Commit()
}

// RetryNow makes every delivery owed to a subscriber due now, under its
// webhook-id, and returns how many there are: after a partner (or the
// config that refused it) is fixed, what waited out a backoff goes at once.
func (s *Store) RetryNow(ctx context.Context, subscriberID string) (int, error) {
	return s.RetryNowAll(ctx, []string{subscriberID})
}

// RetryNowAll is RetryNow for several subscribers, in one statement.
func (s *Store) RetryNowAll(ctx context.Context, subscriberIDs []string) (int, error) {
	n := 0
	for chunk := range slices.Chunk(subscriberIDs, maxListed) {
		// The status IN term is the owed index's own condition: with it,
		// the planner reads the subscribers' owed deliveries from that
		// index, each from past its subscriber's sent_through (the sent
		// ones not yet settled stay in the index until they are).
		args := []any{formatTime(s.Now())}
		cond := inShape("s.id", chunk, &args)
		args = append(args, Due)
		res, err := s.w.ExecContext(ctx, traced(`UPDATE deliveries SET next_attempt = ? FROM subscribers s WHERE `+cond+`
			AND deliveries.subscriber_id = s.id AND deliveries.status IN ('due', 'sending') AND deliveries.status = ? AND deliveries.id > s.sent_through`), args...)
		if err != nil {
			return n, fmt.Errorf("retry the deliveries of %s: %w", strings.Join(chunk, ", "), err)
		}
		k, _ := res.RowsAffected()
		n += int(k)
	}
	return n, nil
}

// ItemCount counts items.
func (s *Store) ItemCount(ctx context.Context) (int, error) {
	var n int
	err := s.rstmt(ctx, `SELECT value FROM counters WHERE name = 'item_count'`).QueryRowContext(ctx).Scan(&n)
	return n, err
}

// Owed is what a subscriber is owed: deliveries not yet sent, and the
// error of the oldest, which holds up the rest.
type Owed struct {
	Deliveries int
	LastError  string
}

// OwedBySubscriber counts, in the database, the deliveries owed to each
// subscriber that is owed any.
func (s *Store) OwedBySubscriber(ctx context.Context) (map[string]Owed, error) {
	rows, err := s.rstmt(ctx, `SELECT s.id, (SELECT count(*) FROM deliveries x WHERE x.subscriber_id = s.id AND x.status IN ('due', 'sending') AND x.id > s.sent_through),
		coalesce((SELECT h.last_error FROM deliveries h WHERE h.id = (SELECT min(y.id) FROM deliveries y WHERE y.subscriber_id = s.id AND y.status IN ('due', 'sending') AND y.id > s.sent_through)), '')
		FROM subscribers s`).QueryContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("count owed deliveries: %w", err)
	}
	defer rows.Close()
	out := map[string]Owed{}
	for rows.Next() {
		var id string
		var o Owed
		if err := rows.Scan(&id, &o.Deliveries, &o.LastError); err != nil {
			return nil, err
		}
		if o.Deliveries > 0 {
			out[id] = o
		}
	}
	return out, rows.Err()
}

// OutboxDepth counts the deliveries owed and says when the oldest of them
// was created.
func (s *Store) OutboxDepth(ctx context.Context) (int, time.Time, error) {
	var n int
	var oldest sql.NullString
	err := s.rstmt(ctx, `SELECT count(*), min(d.created) FROM subscribers s
		JOIN deliveries d ON d.subscriber_id = s.id AND d.status IN ('due', 'sending') AND d.id > s.sent_through`).QueryRowContext(ctx).Scan(&n, &oldest)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("outbox depth: %w", err)
	}
	return n, parseTime(oldest.String), nil
}
