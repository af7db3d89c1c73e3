package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crier-hub/crier/internal/minhash"
)

// Contact is a press contact of a release. It has the fields of
// normalize.Contact, which ingest converts to it: the conversion fails to
// compile if the two drift apart, and the store imports no pipeline step.
type Contact struct {
	Name   string `json:"name,omitempty"`
	Office string `json:"office,omitempty"`
	Email  string `json:"email,omitempty"`
	Phone  string `json:"phone,omitempty"`
}

// Item is one release as crier republishes it.
type Item struct {
	Seq         int64 // arrival order
	UID         string
	Title       string
	Summary     string
	ContentText string
	ContentHTML string
	URL         string
	Language    string
	Country     string
	City        string
	Topics      []string
	Contacts    []Contact
	Published   time.Time
	DateKnown   bool   // Published was given (DateSource is not first_seen)
	DateSource  string // stated, inferred or first_seen (Published is then when crier first saw it)
	Updated     time.Time
	Created     time.Time
	Fingerprint string
	Signature   minhash.Signature // for near-duplicates; nil for short bodies
	Sources     []string
	Origins     []Origin  // every copy merged into the item, first seen first
	Retracted   time.Time // when it was retracted; zero while it stands
}

// Origin is one copy of a release: its source, its address, and when
// crier first saw it.
type Origin struct {
	Source    string
	URL       string
	FirstSeen time.Time
}

// Document is one copy of a release as a source delivered it, with the item
// crier made of it.
type Document struct {
	SourceID string
	Key      string // unique within the source: a path, a guid, a URL
	URL      string
	Raw      []byte
	Item     Item // the normalized release; UID, Seq and Sources are set by the store

	packed []byte // Raw as stored (raw.go)
	hash   string // ContentHash(Raw), once packed
}

// SaveStatus says what SaveDocument did.
type SaveStatus int

// The outcomes of SaveDocument.
const (
	Unchanged SaveStatus = iota // the same bytes were stored already
	Added                       // a new item
	Updated                     // the document changed; its item was updated
	Merged                      // a copy of an item another document made
)

func (s SaveStatus) String() string {
	return [...]string{"unchanged", "added", "updated", "merged"}[s]
}

// ContentHash is the hash by which unchanged documents are recognised.
func ContentHash(raw []byte) string {
	h := sha256.Sum256(raw)
	return hex.EncodeToString(h[:])
}

// uidFor derives an item's public id from the document that first made it,
// so the id survives restarts, re-renders and edits of the document.
func uidFor(sourceID, key string) string {
	h := sha256.Sum256([]byte(sourceID + "\x00" + key))
	return hex.EncodeToString(h[:16])
}

// DocumentHashes returns the content hashes stored for those of keys the
// source has, by key: a statement for up to 64 keys, in runs of powers of
// two so that few statement shapes are prepared. Keys the document filter
// rules out are not looked up (docFilter): a document another process
// stored since this one built its filter may be reported absent, once.
func (s *Store) DocumentHashes(ctx context.Context, sourceID string, keys []string) (map[string]string, error) {
	out := make(map[string]string, len(keys))
	keys = s.docFilter.Load().mayHave(sourceID, keys)
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	err := inRuns(args, 1, func(n int, run []any) error {
		rows, err := s.rstmt(ctx, `SELECT key, content_hash FROM documents WHERE source_id = ? AND key IN `+valueRows(1, n)).QueryContext(ctx, append([]any{sourceID}, run...)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k, h string
			if err := rows.Scan(&k, &h); err != nil {
				return err
			}
			out[k] = h
		}
		return rows.Err()
	})
	return out, err
}

// Saved is what SaveDocuments did with one document.
type Saved struct {
	UID    string
	Status SaveStatus
}

// SaveDocument stores one document; see SaveDocuments.
func (s *Store) SaveDocument(ctx context.Context, d Document) (string, SaveStatus, error) {
	out, err := s.SaveDocuments(ctx, []Document{d})
	if err != nil {
		return "", 0, err
	}
	return out[0].UID, out[0].Status, nil
}

// SaveDocuments stores documents and the items made of them, all in one
// transaction. A document whose bytes are unchanged is left alone; a
// changed one updates its item (same uid, later updated time); a new
// document whose fingerprint or MinHash signature matches an existing item
// (stored before, or earlier in docs) joins that item.
func (s *Store) SaveDocuments(ctx context.Context, docs []Document) ([]Saved, error) {
	// Compressed before the transaction: the writer is held for the
	// database's work alone.
	docs = packAll(docs)
	b, err := s.BeginSave(ctx)
	if err != nil {
		return nil, err
	}
	defer b.Rollback()
	out, err := b.Save(ctx, docs)
	if err != nil {
		return nil, err
	}
	return out, b.Commit(ctx)
}

// SaveBatch stores documents, part after part, in one transaction, as
// SaveDocuments does: a source's run hands over each part as it is made,
// and the pages every part touches (the ends of the documents' indexes,
// the counters, the search index's queue) are written once at Commit
// rather than once a part. It holds the store's write lock from BeginSave
// to Commit or Rollback, so its caller keeps it short (a bounded number
// of documents). Its methods are called one at a time.
type SaveBatch struct {
	s         *Store
	tx        *txn
	now       string
	docs      int  // saved so far
	changed   bool // whether any item changed
	corrected []int64
}

// BeginSave starts a SaveBatch: the write transaction, the items lock,
// and the near-duplicate filter caught up.
func (s *Store) BeginSave(ctx context.Context) (*SaveBatch, error) {
	tx, err := s.begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("save documents: %w", err)
	}
	b := &SaveBatch{s: s, tx: tx, now: formatTime(s.Now())}
	if err := s.lockItems(ctx, tx); err != nil {
		b.Rollback()
		return nil, fmt.Errorf("save documents: %w", err)
	}
	now, err := s.readItemsNow(ctx, tx)
	if err == nil {
		tx.bands, err = s.filterFor(ctx, tx, now)
	}
	if err == nil {
		tx.waiting, err = s.waitingFor(ctx, tx, now)
	}
	if err != nil {
		b.Rollback()
		return nil, fmt.Errorf("save documents: %w", err)
	}
	s.bindDocFilter(tx, now.gen)
	return b, nil
}

// itemsNow is what the filters and the waiting keys of a transaction
// storing items are caught up to, read once as it begins (it holds the
// items lock, so none of it moves but by its own hand).
type itemsNow struct {
	last   int64 // the largest item id
	gen    int64 // the items generation (the counter "items")
	merged int64 // the items whose keys are in item_bands (the counter "bands_merged")
}

func (s *Store) readItemsNow(ctx context.Context, tx *txn) (itemsNow, error) {
	var n itemsNow
	err := s.wstmt(ctx, tx, `SELECT (SELECT coalesce(max(id), 0) FROM items), (SELECT value FROM counters WHERE name = 'items'),
		(SELECT value FROM counters WHERE name = 'bands_merged')`).QueryRowContext(ctx).Scan(&n.last, &n.gen, &n.merged)
	return n, err
}

// bindDocFilter gives tx, a transaction storing items that holds the
// store's write lock (and the items lock), the document filter it learns
// into, and whether that filter is exact as of gen, the generation now.
func (s *Store) bindDocFilter(tx *txn, gen int64) {
	f := s.docFilter.Load()
	if f == nil {
		return
	}
	tx.docs, tx.exact = f, f.exact(gen)
	if !tx.exact && f.stale() {
		s.startDocFilter()
	}
}

// Len is how many documents the batch has saved so far.
func (b *SaveBatch) Len() int { return b.docs }

// Save stores docs in the batch's transaction, in order, and says what
// became of each.
func (b *SaveBatch) Save(ctx context.Context, docs []Document) ([]Saved, error) {
	if b.tx == nil {
		return nil, errors.New("save documents: the batch is over")
	}
	docs = packAll(docs) // those not packed by their maker
	out := make([]Saved, len(docs))
	// A document's statements are short: ctx is looked at between
	// documents, not watched by the driver through each statement (a
	// goroutine a statement, seven a release).
	sctx := context.WithoutCancel(ctx)
	for i, d := range docs {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("save documents: %w", err)
		}
		uid, status, id, err := b.s.saveDocument(sctx, b.tx, d, b.now)
		if err != nil {
			return nil, fmt.Errorf("save document %s/%s: %w", d.SourceID, d.Key, err)
		}
		out[i] = Saved{uid, status}
		b.changed = b.changed || status != Unchanged
		if status == Updated {
			b.corrected = append(b.corrected, id)
		}
	}
	b.docs += len(docs)
	return out, nil
}

// Commit ends the batch: what it stored becomes visible (the feeds'
// generation moves, other processes are told), and is indexed for
// search, all at once.
func (b *SaveBatch) Commit(ctx context.Context) error {
	s, tx := b.s, b.tx
	if tx == nil {
		return errors.New("save documents: the batch is over")
	}
	defer b.Rollback()
	var gen uint64
	var err error
	if b.changed {
		if gen, err = s.bumpItems(ctx, tx); err != nil {
			return fmt.Errorf("save documents: %w", err)
		}
		if err := s.notifyItems(ctx, tx, gen); err != nil {
			return fmt.Errorf("save documents: %w", err)
		}
		// Corrections are owed again to the subscribers who had them.
		for _, id := range b.corrected {
			if _, err := s.wstmt(ctx, tx, `UPDATE items SET change = ? WHERE id = ?`).ExecContext(ctx, int64(gen), id); err != nil {
				return fmt.Errorf("save documents: %w", err)
			}
		}
	}
	mergeDue := false
	if b.changed {
		// The items stored wait in search_log for the search index
		// (searchLoop), and a search applies what waits first.
		if mergeDue, err = s.bandsDue(ctx, tx); err != nil {
			return fmt.Errorf("save documents: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("save documents: %w", err)
	}
	b.tx = nil
	if tx.bands != nil && tx.newest > 0 {
		tx.bands.stored(tx.newest)
	}
	s.fresh.add(tx.fresh)
	s.setGeneration(gen)
	if b.changed {
		s.docsCommitted(tx, int64(gen))
	}
	if mergeDue {
		s.startMerges()
	}
	if b.changed {
		s.wakeSearch()
	}
	return nil
}

// packAll returns docs with every raw document compressed for storage
// (Document.Pack): docs itself when all are, else a copy with those not
// yet packed compressed on every core.
func packAll(docs []Document) []Document {
	var todo []int
	for i := range docs {
		if docs[i].packed == nil {
			todo = append(todo, i)
		}
	}
	if len(todo) == 0 {
		return docs
	}
	docs = append([]Document(nil), docs...)
	var wg sync.WaitGroup
	procs := runtime.GOMAXPROCS(0)
	for part := range slices.Chunk(todo, max(1, (len(todo)+procs-1)/procs)) {
		wg.Go(func() {
			for _, i := range part {
				docs[i].Pack()
			}
		})
	}
	wg.Wait()
	return docs
}

// Rollback ends the batch without storing what it saved; after Commit it
// does nothing.
func (b *SaveBatch) Rollback() {
	if b.tx != nil {
		b.tx.Rollback()
		b.tx = nil
	}
}

func (s *Store) saveDocument(ctx context.Context, tx *txn, d Document, now string) (string, SaveStatus, int64, error) {
	hash := d.hash // Save packs every document
	var itemID int64
	var oldHash, uid string
	// A document the exact filter rules out is new: it is not looked up.
	err := sql.ErrNoRows
	if !tx.exact || !tx.docs.ruledOut(d.SourceID, d.Key) {
		err = s.wstmt(ctx, tx, `SELECT d.item_id, d.content_hash, i.uid FROM documents d JOIN items i ON i.id = d.item_id
		WHERE d.source_id = ? AND d.key = ?`).QueryRowContext(ctx, d.SourceID, d.Key).Scan(&itemID, &oldHash, &uid)
	}
	// Stored already or about to be: DocumentHashes looks it up from now
	// on (a rollback leaves a key it only looks up in vain).
	tx.learnDocument(d.SourceID, d.Key)
	switch {
	case err == nil && oldHash == hash:
		return uid, Unchanged, itemID, nil
	case err == nil:
		if err := s.updateItem(ctx, tx, itemID, d.Item, now); err != nil {
			return "", 0, 0, err
		}
		if _, err := s.wstmt(ctx, tx, `UPDATE documents SET content_hash = ?, raw = ?, url = ?, fetched = ? WHERE source_id = ? AND key = ?`).
			ExecContext(ctx, hash, d.packed, d.URL, now, d.SourceID, d.Key); err != nil {
			return "", 0, 0, err
		}
		return uid, Updated, itemID, nil
	case !errors.Is(err, sql.ErrNoRows):
		return "", 0, 0, err
	}
	status := Merged
	if tx.exact && tx.docs.fingerprintRuledOut(d.Item.Fingerprint) {
		err = sql.ErrNoRows // no item has it
	} else {
		err = s.wstmt(ctx, tx, `SELECT id, uid FROM items WHERE fingerprint = ? ORDER BY id LIMIT 1`).QueryRowContext(ctx, d.Item.Fingerprint).Scan(&itemID, &uid)
	}
	if errors.Is(err, sql.ErrNoRows) {
		itemID, uid, err = s.nearDuplicate(ctx, tx, d.Item.Signature)
	}
	switch {
	case err == nil:
		// The item gains a source, and feeds show it (its origins): the
		// feeds' Version counts an item's documents, so the item's own
		// row, a page or two of content, is not written again here.
	case errors.Is(err, sql.ErrNoRows):
		status = Added
		uid = uidFor(d.SourceID, d.Key)
		// The item's facets, its source's among them, in one statement.
		if itemID, err = s.insertItem(ctx, tx, uid, d.Item, now, "s:"+d.SourceID); err != nil {
			return "", 0, 0, err
		}
	default:
		return "", 0, 0, err
	}
	if _, err := s.wstmt(ctx, tx, `INSERT INTO documents (source_id, key, item_id, url, content_hash, raw, fetched, first_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`).
		ExecContext(ctx, d.SourceID, d.Key, itemID, d.URL, hash, d.packed, now, now); err != nil {
		return "", 0, 0, err
	}
	if status != Added {
		res, err := s.wstmt(ctx, tx, `INSERT INTO item_facets (facet, item_id) VALUES (?, ?) ON CONFLICT DO NOTHING`).ExecContext(ctx, "s:"+d.SourceID, itemID)
		if err != nil {
			return "", 0, 0, err
		}
		if n, err := res.RowsAffected(); err != nil {
			return "", 0, 0, err
		} else if n > 0 {
			s.countFacets(ctx, tx, "s:"+d.SourceID)
		}
	}
	return uid, status, itemID, nil
}

// nearDuplicate finds the item whose body is most like sig's, above
// minhash.Threshold, among the items sharing one of its bands.
func (s *Store) nearDuplicate(ctx context.Context, tx *txn, sig minhash.Signature) (int64, string, error) {
	keys := sig.BandKeys()
	if keys == nil {
		return 0, "", sql.ErrNoRows
	}
	// The waiting keys, in memory: those of the items stored since the
	// last merge, and of this transaction's.
	var cands []int64
	if w := tx.waiting; w != nil {
		w.mu.Lock()
		cands = w.candidates(cands, keys)
		w.mu.Unlock()
	}
	if p := tx.pending; p != nil {
		cands = p.added.candidates(cands, keys)
	}
	// The merged keys, for the bands the filter cannot rule out.
	var conds []string
	var args []any
	for _, b := range tx.bands.mayHave(keys) {
		conds = append(conds, "(band = ? AND key = ?)")
		args = append(args, b, keys[b])
	}
	if len(conds) > 0 {
		merged, err := scanColumn[int64](s.wstmt(ctx, tx, `SELECT item_id FROM item_bands WHERE `+strings.Join(conds, " OR ")).QueryContext(ctx, args...))
		if err != nil {
			return 0, "", err
		}
		cands = append(cands, merged...)
	}
	// An item sharing several bands (a copy shares most) is read and
	// compared once; a stale key (a corrected or retracted item's) finds
	// its item's current signature, or none.
	slices.Sort(cands)
	var bestID int64
	var bestUID string
	best := minhash.Threshold
	for _, id := range slices.Compact(cands) {
		var uid string
		var raw []byte
		err := s.wstmt(ctx, tx, `SELECT uid, signature FROM items WHERE id = ? AND retracted = ''`).QueryRowContext(ctx, id).Scan(&uid, &raw)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return 0, "", err
		}
		if sim := minhash.Similarity(sig, minhash.FromBytes(raw)); sim >= best && (bestID == 0 || sim > best || id < bestID) {
			best, bestID, bestUID = sim, id, uid
		}
	}
	if bestID == 0 {
		return 0, "", sql.ErrNoRows
	}
	return bestID, bestUID, nil
}

// setBands records a signature's band keys: a new item's wait, in
// memory, for a merge (see waitingKeys); a corrected item's go straight
// into item_bands, where every process finds them.
func (s *Store) setBands(ctx context.Context, tx *txn, id int64, sig minhash.Signature, corrected bool) error {
	keys := sig.BandKeys()
	if keys == nil {
		return nil
	}
	tx.bands.learn(keys)
	if !corrected {
		p := tx.changedKeys(s)
		p.added.add(id, keys)
		p.newest = max(p.newest, id)
		return nil
	}
	// One statement for the signature's keys (a shape of its own).
	args := make([]any, 0, 3*len(keys))
	for b, k := range keys {
		args = append(args, b, k, id)
	}
	_, err := s.wstmt(ctx, tx, `INSERT INTO item_bands (band, key, item_id) VALUES `+valueRows(len(keys), 3)+` ON CONFLICT DO NOTHING`).ExecContext(ctx, args...)
	return err
}

// dropBands removes the band keys of an item's stored signature from
// item_bands, found by their keys (it has no index by item), and from the
// waiting keys once the transaction commits.
func (s *Store) dropBands(ctx context.Context, tx *txn, id int64) error {
	var raw []byte
	if err := s.wstmt(ctx, tx, `SELECT signature FROM items WHERE id = ?`).QueryRowContext(ctx, id).Scan(&raw); err != nil {
		return err
	}
	for b, k := range minhash.FromBytes(raw).BandKeys() {
		if _, err := s.wstmt(ctx, tx, `DELETE FROM item_bands WHERE band = ? AND key = ? AND item_id = ?`).ExecContext(ctx, b, k, id); err != nil {
			return err
		}
		p := tx.changedKeys(s)
		p.dropped = append(p.dropped, bandRow{bandKey{k, b}, id})
		p.added.dropKey(bandKey{k, b}, id)
	}
	return nil
}

func sigBytes(s minhash.Signature) []byte {
	if s == nil {
		return nil
	}
	return s.Bytes()
}

// dateSource is where an item's date comes from, as stored.
func dateSource(it Item) string {
	switch {
	case it.DateSource != "":
		return it.DateSource
	case it.DateKnown:
		return "stated"
	}
	return "first_seen"
}

// b2i stores a flag as the integer both engines keep it as.
func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func (s *Store) insertItem(ctx context.Context, tx *txn, uid string, it Item, now, source string) (int64, error) {
	if it.Topics == nil {
		it.Topics = []string{}
	}
	if it.Contacts == nil {
		it.Contacts = []Contact{}
	}
	updated := it.Published
	const insert = `INSERT INTO items (uid, title, summary, content_text, content_html, url, language, country, city,
		topics, contacts, published, date_known, date_source, updated, created, fingerprint, signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	args := []any{uid, it.Title, it.Summary, it.ContentText, it.ContentHTML, it.URL, it.Language, it.Country, it.City,
		jsonText(it.Topics), jsonText(it.Contacts), formatTime(it.Published), b2i(it.DateKnown), dateSource(it), formatTime(updated), now, it.Fingerprint, sigBytes(it.Signature)}
	var id int64
	var err error
	if s.pg {
		err = s.wstmt(ctx, tx, insert+` RETURNING id`).QueryRowContext(ctx, args...).Scan(&id)
	} else {
		// SQLite says the new row's id itself: RETURNING would gather it
		// in a table of its own first.
		var res sql.Result
		if res, err = s.wstmt(ctx, tx, insert).ExecContext(ctx, args...); err == nil {
			id, err = res.LastInsertId()
		}
	}
	if err != nil {
		return 0, fmt.Errorf("insert item: %w", err)
	}
	tx.newest = max(tx.newest, id)
	tx.learnFingerprint(it.Fingerprint)
	if s.search != nil {
		tx.fresh = append(tx.fresh, freshText{id: id, title: it.Title, body: it.ContentText})
	}
	s.counting(ctx, tx)
	tx.added++
	if err := s.setBands(ctx, tx, id, it.Signature, false); err != nil {
		return 0, err
	}
	return id, s.setFacets(ctx, tx, id, it, source)
}

func (s *Store) updateItem(ctx context.Context, tx *txn, id int64, it Item, now string) error {
	if err := s.logInserted(ctx, tx); err != nil { // before the update's own entry
		return err
	}
	if it.Topics == nil {
		it.Topics = []string{}
	}
	if it.Contacts == nil {
		it.Contacts = []Contact{}
	}
	if err := s.dropBands(ctx, tx, id); err != nil { // those of the signature replaced
		return err
	}
	_, err := s.wstmt(ctx, tx, `UPDATE items SET title = ?, summary = ?, content_text = ?, content_html = ?, url = ?, language = ?,
		country = ?, city = ?, topics = ?, contacts = ?, published = ?, date_known = ?, date_source = ?, updated = ?, fingerprint = ?, signature = ?,
		version = version + 1 WHERE id = ?`).ExecContext(ctx,
		it.Title, it.Summary, it.ContentText, it.ContentHTML, it.URL, it.Language, it.Country, it.City,
		jsonText(it.Topics), jsonText(it.Contacts), formatTime(it.Published), b2i(it.DateKnown), dateSource(it), now, it.Fingerprint, sigBytes(it.Signature), id)
	if err != nil {
		return fmt.Errorf("update item: %w", err)
	}
	tx.learnFingerprint(it.Fingerprint)
	if err := s.setBands(ctx, tx, id, it.Signature, true); err != nil {
		return err
	}
	// The item's sources stay; what its text says is found again.
	if _, err := s.wstmt(ctx, tx, `DELETE FROM item_facets WHERE item_id = ? AND substr(facet, 1, 2) IN ('c:', 'l:', 't:', 'p:')`).ExecContext(ctx, id); err != nil {
		return err
	}
	return s.setFacets(ctx, tx, id, it)
}

// setFacets records what an item can be filtered by, and the source
// facets given (none for a correction: its sources stay).
func (s *Store) setFacets(ctx context.Context, tx *txn, id int64, it Item, sources ...string) error {
	facets := make([]string, 0, len(it.Topics)+2)
	if it.Country != "" {
		facets = append(facets, "c:"+it.Country)
	}
	if it.Language != "" {
		facets = append(facets, "l:"+it.Language)
	}
	for _, t := range it.Topics {
		facets = append(facets, "t:"+t)
	}
	// Pairs of facets of different kinds: a filter on two of them walks
	// the items that have both, not every item of the rarer one.
	n := len(facets)
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			if facets[i][:2] != facets[j][:2] {
				facets = append(facets, pairKey(facets[i], facets[j]))
			}
		}
	}
	facets = append(facets, sources...)
	if len(facets) == 0 {
		return nil
	}
	slices.Sort(facets)
	facets = slices.Compact(facets)
	// One statement for the item's facets (a shape for each number). They
	// are all new: the item is new, or its facets of these kinds were
	// just deleted (updateItem), and a source's facet comes with a new
	// item only. So each is counted, and a row found there already is a
	// fault, not a count to guess. (Asking which rows were new, RETURNING,
	// cost a sixth of a release's saving in BenchmarkSaveReleases.)
	args := make([]any, 0, 2*len(facets))
	for _, f := range facets {
		args = append(args, f, id)
	}
	res, err := s.wstmt(ctx, tx, `INSERT INTO item_facets (facet, item_id) VALUES `+valueRows(len(facets), 2)+` ON CONFLICT DO NOTHING`).ExecContext(ctx, args...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n != int64(len(facets)) {
		return fmt.Errorf("facets of item %d: %d of its %d facet rows were there already", id, int64(len(facets))-n, len(facets))
	}
	s.countFacets(ctx, tx, facets...)
	return nil
}

// countFacets counts, in tx, one more item under each of facets.
func (s *Store) countFacets(ctx context.Context, tx *txn, facets ...string) {
	if len(facets) == 0 {
		return
	}
	s.counting(ctx, tx)
	for _, f := range facets {
		tx.facets[f]++
	}
}

// counting has tx write, as it commits, the items it inserted to
// item_count and the facet rows to facet_counts, a statement for many:
// counted by triggers, each release stored ran a statement for itself and
// one for each of its facet rows (14 in the ingest bench, 12-15 µs of the
// store's 180). Deleted rows are still counted by triggers.
func (s *Store) counting(ctx context.Context, tx *txn) {
	if tx.facets == nil {
		tx.facets = map[string]int64{}
		tx.beforeCommit = func() error { return s.writeCounts(ctx, tx) }
	}
}

// logInserted writes to search_log the items tx inserted and has not
// logged yet (SQLite; a trigger logs an item updated or deleted). It runs
// as tx commits, and before any statement that logs a change of an item,
// so that an item's insert is logged before its changes: the indexer
// deletes an item's old entries only for a change.
func (s *Store) logInserted(ctx context.Context, tx *txn) error {
	todo := tx.fresh[tx.logged:]
	if len(todo) == 0 {
		return nil
	}
	args := make([]any, 0, 2*len(todo))
	for _, t := range todo {
		args = append(args, t.id, 0)
	}
	tx.logged = len(tx.fresh)
	if err := s.insertMany(ctx, tx, `INSERT INTO search_log (item_id, changed) VALUES `, 2, args); err != nil {
		return fmt.Errorf("log items for search: %w", err)
	}
	return nil
}

// writeCounts adds what tx counted to item_count and facet_counts, and
// logs the items it inserted for search.
func (s *Store) writeCounts(ctx context.Context, tx *txn) error {
	if err := s.logInserted(ctx, tx); err != nil {
		return err
	}
	if tx.added > 0 {
		if _, err := s.wstmt(ctx, tx, `UPDATE counters SET value = value + ? WHERE name = 'item_count'`).ExecContext(ctx, tx.added); err != nil {
			return fmt.Errorf("count items: %w", err)
		}
		tx.added = 0
	}
	facets := slices.Sorted(maps.Keys(tx.facets))
	args := make([]any, 0, 2*len(facets))
	for _, f := range facets {
		args = append(args, f, tx.facets[f])
	}
	tx.facets = nil
	if err := s.insertManyThen(ctx, tx, `INSERT INTO facet_counts (facet, n) VALUES `, 2, args,
		` ON CONFLICT (facet) DO UPDATE SET n = facet_counts.n + excluded.n`); err != nil {
		return fmt.Errorf("count facets: %w", err)
	}
	return nil
}

// Query selects items. Within one field values are alternatives (OR);
// fields combine with AND; empty fields select everything.
type Query struct {
	Countries []string
	Topics    []string
	Languages []string
	Sources   []string
	Limit     int     // 0 = no limit
	After     int64   // only items whose Seq is above this
	Before    int64   // only items whose Seq is below this
	BySeq     bool    // oldest arrival first, instead of newest publication first
	SeqDesc   bool    // newest arrival first
	Search    *Search // full-text search (ParseSearch); nil = none
}

const itemColumns = `i.id, i.uid, i.title, i.summary, i.content_text, i.content_html, i.url, i.language, i.country, i.city,
	i.topics, i.contacts, i.published, i.date_known, i.date_source, i.updated, i.created, i.fingerprint, i.retracted,
	(SELECT group_concat(source_id, char(31)) FROM (SELECT DISTINCT source_id FROM documents WHERE item_id = i.id ORDER BY source_id) ds)`

func in[T any](col string, vals []T, args *[]any) string {
	marks := make([]string, len(vals))
	for i, v := range vals {
		marks[i] = "?"
		*args = append(*args, v)
	}
	return col + " IN (" + strings.Join(marks, ",") + ")"
}

// Items returns the items q selects, newest first.
func (s *Store) Items(ctx context.Context, q Query) ([]Item, error) {
	if q.Search != nil {
		// Whatever was stored before the search is found by it.
		s.searchWaiters.Add(1)
		err := s.indexSearch(ctx, 1)
		s.searchWaiters.Add(-1)
		if err != nil {
			return nil, err
		}
	}
	return s.queryItems(ctx, s.r, q)
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// pairKey names the pair facet of two facets of different kinds
// (country, language, topic): "p:c:mr&t:climate", in a fixed order.
func pairKey(a, b string) string {
	if b < a {
		a, b = b, a
	}
	return "p:" + a + "&" + b
}

// maxPairWalks bounds the walks of a pair drive: a filter of many values
// on both sides walks its single facets instead.
const maxPairWalks = 16

// pairable reports whether a group's facets have pair facets: countries,
// languages and topics.
func pairable(g []string) bool {
	switch g[0][:2] {
	case "c:", "l:", "t:":
		return true
	}
	return false
}

// pairFacets is the cross product of two groups as pair facets, or nil
// when the groups cannot drive together.
func pairFacets(a, b []string) []string {
	if !pairable(a) || !pairable(b) || len(a)*len(b) > maxPairWalks {
		return nil
	}
	out := make([]string, 0, len(a)*len(b))
	for _, x := range a {
		for _, y := range b {
			out = append(out, pairKey(x, y))
		}
	}
	return out
}

// facetGroups turns q's filters into groups of facets: an item matches
// when it has one facet of every group.
func facetGroups(q Query) [][]string {
	var groups [][]string
	for _, g := range []struct {
		prefix string
		vals   []string
	}{{"c:", q.Countries}, {"l:", q.Languages}, {"t:", q.Topics}, {"s:", q.Sources}} {
		if len(g.vals) == 0 {
			continue
		}
		group := make([]string, len(g.vals))
		for i, v := range g.vals {
			group[i] = g.prefix + v
		}
		groups = append(groups, group)
	}
	return groups
}

// itemsSQL builds the query for q, selecting cols (of items i). A
// filtered query walks the item_facets rows of its rarest filter (by the
// counts in counts) in arrival order, checks the other filters on each
// item's own facets, and stops at the limit: its cost follows the page
// size, not the size of the store.
func itemsSQL(cols string, q Query, counts map[string]int64, pg bool) (string, []any) {
	var args []any
	groups := facetGroups(q)
	desc := !q.BySeq && (q.SeqDesc || len(groups) > 0)
	order := "ASC"
	if desc {
		order = "DESC"
	}
	bounds := func(col string) string {
		var b string
		if q.After > 0 {
			b += " AND " + col + " > ?"
			args = append(args, q.After)
		}
		if q.Before > 0 {
			b += " AND " + col + " < ?"
			args = append(args, q.Before)
		}
		return b
	}
	limit := func() string {
		if q.Limit <= 0 {
			return ""
		}
		args = append(args, q.Limit)
		return " LIMIT ?"
	}
	if q.Search != nil {
		return searchSQL(cols, q, groups, order, bounds, limit, &args, pg)
	}
	if len(groups) == 0 {
		// Retracted items have no facets, so filtered walks pass them by;
		// the walk of every item skips them here.
		query := "SELECT " + cols + " FROM items i WHERE (i.retracted || '') = ''" + bounds("i.id") // not by the index: nearly every item matches
		switch {
		case q.BySeq || q.SeqDesc:
			query += " ORDER BY i.id " + order
		default:
			query += " ORDER BY i.published DESC, i.id DESC"
		}
		query += limit()
		return query, args
	}
	// Walk the rarest group, or pair of groups; check the others on each
	// item.
	size := func(g []string) (n int64) {
		for _, f := range g {
			n += counts[f]
		}
		return n
	}
	drive, covers := groups[0], []int{0}
	for i, g := range groups {
		if size(g) < size(drive) {
			drive, covers = g, []int{i}
		}
		if counts == nil {
			continue // one group: nothing to choose
		}
		for j := i + 1; j < len(groups); j++ {
			if p := pairFacets(g, groups[j]); p != nil && size(p) < size(drive) {
				drive, covers = p, []int{i, j}
			}
		}
	}
	// The other groups are checked rarest first: most items fail the
	// first check and cost one lookup.
	others := make([]int, 0, len(groups))
	for i := range groups {
		if !slices.Contains(covers, i) {
			others = append(others, i)
		}
	}
	sort.SliceStable(others, func(a, b int) bool { return size(groups[others[a]]) < size(groups[others[b]]) })
	branch := func(facet string) string {
		b := "SELECT f.item_id FROM item_facets f WHERE f.facet = ?"
		args = append(args, facet)
		b += bounds("f.item_id")
		for _, i := range others {
			g := groups[i]
			marks := strings.TrimSuffix(strings.Repeat("?,", len(g)), ",")
			b += " AND EXISTS (SELECT 1 FROM item_facets g WHERE g.item_id = f.item_id AND g.facet IN (" + marks + "))"
			for _, v := range g {
				args = append(args, v)
			}
		}
		return b + " ORDER BY f.item_id " + order + limit()
	}
	var branches []string
	for _, f := range drive {
		branches = append(branches, "SELECT item_id FROM ("+branch(f)+") w"+strconv.Itoa(len(branches)))
	}
	// One value: the walk is already in order. Several: each walk stops at
	// the limit, and their union (at most values × limit rows) is sorted.
	query := "SELECT " + cols + " FROM (" + strings.Join(branches, " UNION ") + ") u CROSS JOIN items i WHERE i.id = u.item_id ORDER BY u.item_id " + order
	query += limit()
	return query, args
}

// searchSQL is itemsSQL for a query with words to look for: the search
// index drives the walk in arrival order (FTS5 returns its matches by
// rowid; PostgreSQL a GIN bitmap sorted by id), the filters are checked on
// each match, and the walk stops at the limit.
func searchSQL(cols string, q Query, groups [][]string, order string, bounds func(string) string, limit func() string, args *[]any, pg bool) (string, []any) {
	var branch string
	if pg {
		ws := q.Search.websearch()
		// Each item is matched in its own language, so that an exclusion
		// stemmed in another language cannot let it through.
		branch = `SELECT x.id AS item_id FROM items x WHERE x.retracted = '' AND (` +
			`(x.language = 'fr' AND x.search @@ websearch_to_tsquery('french', ?)) OR ` +
			`(x.language = 'en' AND x.search @@ websearch_to_tsquery('english', ?)) OR ` +
			`(x.language = 'es' AND x.search @@ websearch_to_tsquery('spanish', ?)) OR ` +
			`(x.language NOT IN ('fr', 'en', 'es') AND x.search @@ websearch_to_tsquery('simple', ?)))`
		*args = append(*args, ws, ws, ws, ws)
		branch += bounds("x.id")
		branch += facetChecks(groups, "x.id", args)
		branch += " ORDER BY x.id " + order + limit()
	} else {
		branch = `SELECT items_fts.rowid AS item_id FROM items_fts WHERE items_fts MATCH ?`
		*args = append(*args, q.Search.fts5())
		branch += bounds("items_fts.rowid")
		branch += facetChecks(groups, "items_fts.rowid", args)
		branch += " ORDER BY items_fts.rowid " + order + limit()
	}
	query := "SELECT " + cols + " FROM (" + branch + ") u CROSS JOIN items i WHERE i.id = u.item_id ORDER BY u.item_id " + order + limit()
	return query, *args
}

// facetChecks requires an item (its id written as col) to have a facet
// of every group.
func facetChecks(groups [][]string, col string, args *[]any) string {
	var b strings.Builder
	for _, g := range groups {
		marks := strings.TrimSuffix(strings.Repeat("?,", len(g)), ",")
		b.WriteString(" AND EXISTS (SELECT 1 FROM item_facets g WHERE g.item_id = " + col + " AND g.facet IN (" + marks + "))")
		for _, v := range g {
			*args = append(*args, v)
		}
	}
	return b.String()
}

// facetCounts reads how many items have each facet of q.
func facetCounts(ctx context.Context, db querier, q Query) (map[string]int64, error) {
	groups := facetGroups(q)
	if len(groups) < 2 {
		return nil, nil // nothing to choose between
	}
	var all []any
	for i, g := range groups {
		for _, f := range g {
			all = append(all, f)
		}
		for _, h := range groups[i+1:] {
			for _, f := range pairFacets(g, h) {
				all = append(all, f)
			}
		}
	}
	marks := strings.TrimSuffix(strings.Repeat("?,", len(all)), ",")
	rows, err := db.QueryContext(ctx, traced(`SELECT facet, n FROM facet_counts WHERE facet IN (`+marks+`)`), all...)
	if err != nil {
		return nil, fmt.Errorf("facet counts: %w", err)
	}
	defer rows.Close()
	counts := map[string]int64{}
	for rows.Next() {
		var f string
		var n int64
		if err := rows.Scan(&f, &n); err != nil {
			return nil, err
		}
		counts[f] = n
	}
	return counts, rows.Err()
}

func (s *Store) queryItems(ctx context.Context, db querier, q Query) ([]Item, error) {
	counts, err := facetCounts(ctx, db, q)
	if err != nil {
		return nil, err
	}
	query, args := itemsSQL(itemColumns, q, counts, s.pg)
	rows, err := db.QueryContext(ctx, traced(query), args...)
	if err != nil {
		return nil, fmt.Errorf("query items: %w", err)
	}
	defer rows.Close()
	var items []Item
	for rows.Next() {
		it, err := scanItem(rows)
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	return items, addOrigins(ctx, db, items)
}

// addOrigins reads the copies of the given items, from the documents
// index of each.
func addOrigins(ctx context.Context, db querier, items []Item) error {
	if len(items) == 0 {
		return nil
	}
	byID := map[int64]*Item{}
	args := make([]any, len(items))
	for i := range items {
		byID[items[i].Seq] = &items[i]
		args[i] = items[i].Seq
	}
	marks := strings.TrimSuffix(strings.Repeat("?,", len(items)), ",")
	rows, err := db.QueryContext(ctx, traced(`SELECT item_id, source_id, url, first_seen FROM documents WHERE item_id IN (`+marks+`)`), args...)
	if err != nil {
		return fmt.Errorf("origins: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var o Origin
		var seen string
		if err := rows.Scan(&id, &o.Source, &o.URL, &seen); err != nil {
			return err
		}
		o.FirstSeen = parseTime(seen)
		if it := byID[id]; it != nil {
			it.Origins = append(it.Origins, o)
		}
	}
	for i := range items {
		sort.SliceStable(items[i].Origins, func(a, b int) bool {
			return items[i].Origins[a].FirstSeen.Before(items[i].Origins[b].FirstSeen)
		})
	}
	return rows.Err()
}

// Version is a digest of what q selects: the items' arrival numbers, the
// versions of their content and how many documents each came from (an
// item merged with another office's copy shows one more origin). A feed
// whose version is unchanged need not be rendered again.
func (s *Store) Version(ctx context.Context, q Query) (string, error) {
	counts, err := facetCounts(ctx, s.r, q)
	if err != nil {
		return "", err
	}
	query, args := itemsSQL("i.id, i.version, (SELECT count(*) FROM documents d WHERE d.item_id = i.id)", q, counts, s.pg)
	rows, err := s.r.QueryContext(ctx, traced(query), args...)
	if err != nil {
		return "", fmt.Errorf("feed version: %w", err)
	}
	defer rows.Close()
	h := sha256.New()
	var id, version, docs int64
	for rows.Next() {
		if err := rows.Scan(&id, &version, &docs); err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%d %d %d\n", id, version, docs)
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Item returns the item with the public id uid.
func (s *Store) Item(ctx context.Context, uid string) (Item, error) {
	row := s.rstmt(ctx, "SELECT "+itemColumns+" FROM items i WHERE i.uid = ?").QueryRowContext(ctx, uid)
	it, err := scanItem(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Item{}, ErrNotFound
	}
	if err != nil {
		return it, err
	}
	one := []Item{it}
	err = addOrigins(ctx, s.r, one)
	return one[0], err
}

type scanner interface{ Scan(...any) error }

func scanItem(r scanner) (Item, error) {
	var it Item
	var topics, contacts, published, updated, created, retracted string
	var sources sql.NullString
	err := r.Scan(&it.Seq, &it.UID, &it.Title, &it.Summary, &it.ContentText, &it.ContentHTML, &it.URL, &it.Language,
		&it.Country, &it.City, &topics, &contacts, &published, &it.DateKnown, &it.DateSource, &updated, &created, &it.Fingerprint, &retracted, &sources)
	if err != nil {
		return it, err
	}
	it.Published, it.Updated, it.Created, it.Retracted = parseTime(published), parseTime(updated), parseTime(created), parseTime(retracted)
	if err := json.Unmarshal([]byte(topics), &it.Topics); err != nil {
		return it, fmt.Errorf("item %s topics: %w", it.UID, err)
	}
	if err := json.Unmarshal([]byte(contacts), &it.Contacts); err != nil {
		return it, fmt.Errorf("item %s contacts: %w", it.UID, err)
	}
	if sources.Valid && sources.String != "" {
		it.Sources = strings.Split(sources.String, "\x1f")
	}
	return it, nil
}

// StoredDocument is a document as stored, for relearning a source's frame.
type StoredDocument struct {
	Key string
	Raw []byte
}

// RecentDocuments returns up to limit of a source's most recently fetched
// documents.
func (s *Store) RecentDocuments(ctx context.Context, sourceID string, limit int) ([]StoredDocument, error) {
	rows, err := s.rstmt(ctx, `SELECT key, raw FROM documents WHERE source_id = ? ORDER BY fetched DESC LIMIT ?`).QueryContext(ctx, sourceID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StoredDocument
	for rows.Next() {
		var d StoredDocument
		if err := rows.Scan(&d.Key, &d.Raw); err != nil {
			return nil, err
		}
		d.Raw = unpackRaw(d.Raw)
		out = append(out, d)
	}
	return out, rows.Err()
}

// Facets is what the index page and the OPML list: how many items there
// are, the countries and languages they have, and the latest change.
type Facets struct {
	Items     int
	Countries []string
	Languages []string
	Latest    time.Time
}

// ItemFacets returns the facets of all items from counts kept as items
// come and go, and the latest change from an index: its cost does not
// grow with the store.
func (s *Store) ItemFacets(ctx context.Context) (Facets, error) {
	var f Facets
	if err := s.rstmt(ctx, `SELECT value FROM counters WHERE name = 'item_count'`).QueryRowContext(ctx).Scan(&f.Items); err != nil {
		return f, fmt.Errorf("count items: %w", err)
	}
	var pub, upd sql.NullString
	if err := s.rstmt(ctx, `SELECT (SELECT max(published) FROM items), (SELECT max(updated) FROM items)`).QueryRowContext(ctx).Scan(&pub, &upd); err != nil {
		return f, fmt.Errorf("latest change: %w", err)
	}
	f.Latest = parseTime(max(pub.String, upd.String))
	if f.Latest.IsZero() {
		f.Latest = time.Unix(0, 0).UTC()
	}
	rows, err := s.rstmt(ctx, `SELECT facet FROM facet_counts WHERE n > 0 AND (facet LIKE 'c:%' OR facet LIKE 'l:%') ORDER BY facet`).QueryContext(ctx)
	if err != nil {
		return f, fmt.Errorf("facets: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return f, err
		}
		if strings.HasPrefix(v, "c:") {
			f.Countries = append(f.Countries, v[2:])
		} else {
			f.Languages = append(f.Languages, v[2:])
		}
	}
	return f, rows.Err()
}

// DocumentKeys lists the keys of a source's documents.
func (s *Store) DocumentKeys(ctx context.Context, sourceID string) ([]string, error) {
	rows, err := s.rstmt(ctx, `SELECT key FROM documents WHERE source_id = ?`).QueryContext(ctx, sourceID)
	if err != nil {
		return nil, fmt.Errorf("document keys of %s: %w", sourceID, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// RemoveDocuments forgets documents a source no longer publishes (a file
// deleted from a dir source). An item left with no copy is retracted; an
// item with other copies loses this source. It returns how many items
// were retracted.
func (s *Store) RemoveDocuments(ctx context.Context, sourceID string, keys []string) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	tx, err := s.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	if err := s.lockItems(ctx, tx); err != nil {
		return 0, err
	}
	gen, err := s.bumpItems(ctx, tx)
	if err != nil {
		return 0, err
	}
	now := formatTime(s.Now())
	retracted := 0
	for _, key := range keys {
		var itemID int64
		err := s.wstmt(ctx, tx, `DELETE FROM documents WHERE source_id = ? AND key = ? RETURNING item_id`).QueryRowContext(ctx, sourceID, key).Scan(&itemID)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("remove %s/%s: %w", sourceID, key, err)
		}
		var left int
		if err := s.wstmt(ctx, tx, `SELECT count(*) FROM documents WHERE item_id = ?`).QueryRowContext(ctx, itemID).Scan(&left); err != nil {
			return 0, err
		}
		if left == 0 {
			if err := s.retract(ctx, tx, itemID, now, gen); err != nil {
				return 0, err
			}
			retracted++
			continue
		}
		// The item stands, one source fewer.
		var others int
		if err := s.wstmt(ctx, tx, `SELECT count(*) FROM documents WHERE item_id = ? AND source_id = ?`).QueryRowContext(ctx, itemID, sourceID).Scan(&others); err != nil {
			return 0, err
		}
		if others == 0 {
			if _, err := s.wstmt(ctx, tx, `DELETE FROM item_facets WHERE facet = ? AND item_id = ?`).ExecContext(ctx, "s:"+sourceID, itemID); err != nil {
				return 0, err
			}
		}
		if _, err := s.wstmt(ctx, tx, `UPDATE items SET version = version + 1 WHERE id = ?`).ExecContext(ctx, itemID); err != nil {
			return 0, err
		}
	}
	if err := s.notifyItems(ctx, tx, gen); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	s.setGeneration(gen)
	// It stored no document or fingerprint ('', a retracted item's, is
	// never ruled out): the document filter holds what it held.
	s.docFilter.Load().committed(int64(gen))
	return retracted, nil
}

// Retract takes the item with the public id uid out of every feed; its
// subscribers are told (items.deleted) and Atom feeds carry a tombstone.
func (s *Store) Retract(ctx context.Context, uid string) (Item, error) {
	tx, err := s.begin(ctx)
	if err != nil {
		return Item{}, err
	}
	defer tx.Rollback()
	if err := s.lockItems(ctx, tx); err != nil {
		return Item{}, err
	}
	var id int64
	var retracted string
	err = s.wstmt(ctx, tx, `SELECT id, retracted FROM items WHERE uid = ?`).QueryRowContext(ctx, uid).Scan(&id, &retracted)
	if errors.Is(err, sql.ErrNoRows) {
		return Item{}, ErrNotFound
	}
	if err != nil {
		return Item{}, err
	}
	if retracted == "" {
		gen, err := s.bumpItems(ctx, tx)
		if err != nil {
			return Item{}, err
		}
		if err := s.retract(ctx, tx, id, formatTime(s.Now()), gen); err != nil {
			return Item{}, err
		}
		if err := s.notifyItems(ctx, tx, gen); err != nil {
			return Item{}, err
		}
		if err := tx.Commit(); err != nil {
			return Item{}, err
		}
		s.setGeneration(gen)
		s.docFilter.Load().committed(int64(gen)) // as RemoveDocuments
	}
	return s.Item(ctx, uid)
}

// retract marks an item retracted: out of the facets (so out of filtered
// feeds), out of near-duplicate matching, counted no more.
func (s *Store) retract(ctx context.Context, tx *txn, id int64, now string, gen uint64) error {
	if err := s.logInserted(ctx, tx); err != nil { // before the retraction's own entry
		return err
	}
	res, err := s.wstmt(ctx, tx, `UPDATE items SET retracted = ?, change = ?, fingerprint = '', version = version + 1 WHERE id = ? AND retracted = ''`).
		ExecContext(ctx, now, int64(gen), id)
	if err != nil {
		return fmt.Errorf("retract item %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	// Its facets are kept under an "r" prefix: no feed walks them, but the
	// subscribers whose filters it matched can still be told.
	kept, err := scanColumn[string](s.wstmt(ctx, tx, `INSERT INTO item_facets (facet, item_id) SELECT 'r' || facet, item_id FROM item_facets WHERE item_id = ? AND substr(facet, 1, 1) != 'r' ON CONFLICT DO NOTHING RETURNING facet`).QueryContext(ctx, id))
	if err != nil {
		return fmt.Errorf("retract item %d: %w", id, err)
	}
	s.countFacets(ctx, tx, kept...)
	if _, err := s.wstmt(ctx, tx, `DELETE FROM item_facets WHERE item_id = ? AND substr(facet, 1, 1) != 'r'`).ExecContext(ctx, id); err != nil {
		return fmt.Errorf("retract item %d: %w", id, err)
	}
	if err := s.dropBands(ctx, tx, id); err != nil {
		return fmt.Errorf("retract item %d: %w", id, err)
	}
	_, err = s.wstmt(ctx, tx, `UPDATE counters SET value = value - 1 WHERE name = 'item_count'`).ExecContext(ctx)
	return err
}

// UIDOf finds the stored uid of an item from any of its ids: the uid
// itself (as in /items/{uid}) or the public urn:uuid of the feeds, which
// sets two of the uid's hex digits to mark its UUID version and variant.
func (s *Store) UIDOf(ctx context.Context, id string) (string, error) {
	id = strings.ToLower(strings.TrimSpace(id))
	if u, ok := strings.CutPrefix(id, "urn:uuid:"); ok {
		hex := strings.ReplaceAll(u, "-", "")
		if len(hex) != 32 {
			return "", ErrNotFound
		}
		rows, err := s.rstmt(ctx, `SELECT uid FROM items WHERE uid >= ? AND uid < ? ORDER BY uid LIMIT 64`).QueryContext(ctx, hex[:12], hex[:12]+"g")
		if err != nil {
			return "", err
		}
		defer rows.Close()
		for rows.Next() {
			var uid string
			if err := rows.Scan(&uid); err != nil {
				return "", err
			}
			if len(uid) == 32 && uid[:12] == hex[:12] && uid[13:16] == hex[13:16] && uid[17:] == hex[17:] {
				return uid, nil
			}
		}
		return "", ErrNotFound
	}
	if strings.HasPrefix(id, "urn:crier:item:") {
		return strings.TrimPrefix(id, "urn:crier:item:"), nil
	}
	return id, nil
}

// Tombstones lists the items retracted since t that q's filters matched,
// newest first: the at:deleted-entry elements Atom feeds carry (RFC 6721).
func (s *Store) Tombstones(ctx context.Context, q Query, since time.Time) ([]Item, error) {
	all, err := s.retractions(ctx, since)
	if err != nil || len(all) == 0 {
		return nil, err
	}
	var out []Item
	err = s.snapshot(ctx, func(tx *txn) error {
		for _, it := range all {
			facets, err := itemFacets(ctx, tx, it)
			if err != nil {
				return err
			}
			if matches(q, facets) {
				out = append(out, it)
			}
		}
		return nil
	})
	return out, err
}

// RetractedSince says how many items were retracted since t and when the
// last one was: part of a feed's version, so that a tombstone re-renders it.
func (s *Store) RetractedSince(ctx context.Context, since time.Time) (string, error) {
	var n int
	var last sql.NullString
	err := s.rstmt(ctx, `SELECT count(*), max(retracted) FROM items WHERE retracted > '' AND retracted > ?`).QueryRowContext(ctx, formatTime(since)).Scan(&n, &last)
	return fmt.Sprintf("%d@%s", n, last.String), err
}

func (s *Store) retractions(ctx context.Context, since time.Time) ([]Item, error) {
	rows, err := s.rstmt(ctx, "SELECT "+itemColumns+" FROM items i WHERE i.retracted > '' AND i.retracted > ? ORDER BY i.retracted DESC LIMIT 1000").QueryContext(ctx, formatTime(since))
	if err != nil {
		return nil, fmt.Errorf("retractions: %w", err)
	}
	defer rows.Close()
	var out []Item
	for rows.Next() {
		it, err := scanItem(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// DayCount is how many items a day brought.
type DayCount struct {
	Day   string // 2006-01-02
	Items int
}

// ItemsPerDay counts, for the last days, the documents a source brought
// each day (source "" for every source's items), oldest day first.
func (s *Store) ItemsPerDay(ctx context.Context, sourceID string, days int) ([]DayCount, error) {
	since := formatTime(s.Now().AddDate(0, 0, -days))
	var rows *sql.Rows
	var err error
	if sourceID == "" {
		rows, err = s.rstmt(ctx, `SELECT substr(created, 1, 10), count(*) FROM items WHERE created >= ? GROUP BY substr(created, 1, 10)`).QueryContext(ctx, since)
	} else {
		rows, err = s.rstmt(ctx, `SELECT substr(fetched, 1, 10), count(*) FROM documents WHERE source_id = ? AND fetched >= ? GROUP BY substr(fetched, 1, 10)`).QueryContext(ctx, sourceID, since)
	}
	if err != nil {
		return nil, fmt.Errorf("items per day: %w", err)
	}
	defer rows.Close()
	got := map[string]int{}
	for rows.Next() {
		var day string
		var n int
		if err := rows.Scan(&day, &n); err != nil {
			return nil, err
		}
		got[day] = n
	}
	var out []DayCount
	for d := days - 1; d >= 0; d-- {
		day := s.Now().UTC().AddDate(0, 0, -d).Format("2006-01-02")
		out = append(out, DayCount{day, got[day]})
	}
	return out, rows.Err()
}
