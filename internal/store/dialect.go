package store

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
)

// pool is a database pool that speaks the engine's dialect: the store's
// SQL is written once with ? placeholders (?N where a value is used more
// than once) and rebound to $N for PostgreSQL.
type pool struct {
	*sql.DB
	pg bool
}

func (p pool) bind(q string) string {
	if p.pg {
		return toPostgres(q)
	}
	return q
}

// spellings are the few functions the engines name differently, as SQLite
// spells them and as PostgreSQL does.
var spellings = strings.NewReplacer(
	"group_concat(source_id, char(31))", "string_agg(source_id, chr(31) ORDER BY source_id)",
	"CAST(? AS BLOB)", "CAST(? AS BYTEA)",
)

// toPostgres rewrites a query written for SQLite into PostgreSQL's dialect.
func toPostgres(q string) string { return rebind(spellings.Replace(q)) }

func (p pool) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return p.DB.QueryContext(ctx, p.bind(q), args...)
}

func (p pool) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return p.DB.QueryRowContext(ctx, p.bind(q), args...)
}

func (p pool) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return p.DB.ExecContext(ctx, p.bind(q), args...)
}

func (p pool) PrepareContext(ctx context.Context, q string) (*sql.Stmt, error) {
	return p.DB.PrepareContext(ctx, p.bind(q))
}

func (p pool) BeginTx(ctx context.Context, opts *sql.TxOptions) (*txn, error) {
	tx, err := p.DB.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &txn{Tx: tx, pg: p.pg}, nil
}

// txn is a transaction in the engine's dialect.
type txn struct {
	*sql.Tx
	pg    bool
	onEnd func() // called once, when it commits or rolls back

	bands   *bandFilter          // in a transaction storing items: the filter caught up, or nil
	docs    *docFilter           // in a transaction storing items: the document filter it learns into, or nil
	exact   bool                 // docs holds every document and fingerprint stored (docFilter.exact)
	learnt  docsLearnt           // what it taught docs, for a filter built meanwhile (Store.docsCommitted)
	waiting *waitingKeys         // in a transaction storing items: the waiting keys caught up
	pending *pendingKeys         // what it did to the waiting keys, for onCommit
	newest  int64                // the largest item id it stored
	stmts   map[string]*sql.Stmt // statements bound to it, or prepared on it alone (see wstmt)
	facets  map[string]int64     // what it adds to facet_counts, written as it commits (countFacets)
	added   int64                // the items it inserted, added to item_count as it commits
	fresh   []freshText          // the items it inserted (SQLite): logged for search (logInserted), their text for the indexer once committed
	logged  int                  // how many of fresh are in search_log

	beforeCommit func() error // called once, as it commits; an error rolls it back
	onCommit     func()       // called once it has committed, before onEnd
}

// Commit commits the transaction and tells onCommit and onEnd.
func (t *txn) Commit() error {
	if f := t.beforeCommit; f != nil {
		t.beforeCommit = nil
		if err := f(); err != nil {
			t.Rollback()
			return err
		}
	}
	err := t.Tx.Commit()
	if f := t.onCommit; err == nil && f != nil {
		t.onCommit = nil
		f()
	}
	t.end()
	return err
}

// changedKeys returns what the transaction does to the waiting keys,
// which the process's get when it commits (s.commitWaiting).
func (t *txn) changedKeys(s *Store) *pendingKeys {
	if t.pending == nil {
		t.pending = &pendingKeys{added: newKeySet()}
		t.onCommit = func() { s.commitWaiting(t.pending) }
	}
	return t.pending
}

// Rollback rolls the transaction back (nothing once it is over) and tells
// onEnd.
func (t *txn) Rollback() error {
	err := t.Tx.Rollback()
	t.end()
	return err
}

func (t *txn) end() {
	if f := t.onEnd; f != nil {
		t.onEnd = nil
		f()
	}
}

func (t *txn) bind(q string) string {
	if t.pg {
		return toPostgres(q)
	}
	return q
}

func (t *txn) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return t.Tx.QueryContext(ctx, t.bind(q), args...)
}

func (t *txn) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return t.Tx.QueryRowContext(ctx, t.bind(q), args...)
}

func (t *txn) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return t.Tx.ExecContext(ctx, t.bind(q), args...)
}

func (t *txn) PrepareContext(ctx context.Context, q string) (*sql.Stmt, error) {
	return t.Tx.PrepareContext(ctx, t.bind(q))
}

// rebind turns ? and ?N placeholders into PostgreSQL's $N, leaving string
// literals alone.
func rebind(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	n := 0
	inString := false
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'':
			inString = !inString
			b.WriteByte(c)
		case c == '?' && !inString:
			j := i + 1
			for j < len(q) && q[j] >= '0' && q[j] <= '9' {
				j++
			}
			if j > i+1 {
				b.WriteString("$" + q[i+1:j])
				i = j - 1
			} else {
				n++
				b.WriteString("$" + strconv.Itoa(n))
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
