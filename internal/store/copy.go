package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// copyTables are the tables a store is made of, parents before children.
// facet_counts and the item count are not copied: Copy counts what it
// copied.
var copyTables = []string{"sources", "items", "documents", "item_bands", "item_facets",
	"subscribers", "deliveries", "sent_log", "shared_bodies", "delivery_bodies", "attempts", "websub", "push_subscriptions", "managed"}

// Copied is how many rows of each table Copy copied.
type Copied struct {
	Table string
	Rows  int
}

// Copy copies the whole of from (items, documents, source state,
// subscribers and their cursors, the outbox with its attempts, WebSub
// subscriptions) into to, which must be empty; ids, webhook-ids and
// cursors are kept, so nothing owed is lost or sent twice. It works
// between any two engines.
func Copy(ctx context.Context, from, to *Store) ([]Copied, error) {
	for _, table := range []string{"items", "subscribers", "sources"} {
		var n int
		if err := to.r.QueryRowContext(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			return nil, fmt.Errorf("copy: read the target: %w", err)
		}
		if n > 0 {
			return nil, fmt.Errorf("copy: the target store is not empty (%d rows in %s): copy only into a new store", n, table)
		}
	}
	tx, err := to.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var out []Copied
	for _, table := range copyTables {
		n, err := copyTable(ctx, from, tx, table)
		if err != nil {
			return out, fmt.Errorf("copy %s: %w", table, err)
		}
		out = append(out, Copied{table, n})
	}
	// The store counts the items and facets it stores as it commits
	// (counting), not triggers: those copied are counted here, the items
	// retracted left out, as Retract leaves them.
	if _, err := tx.ExecContext(ctx, `INSERT INTO facet_counts (facet, n) SELECT facet, count(*) FROM item_facets GROUP BY facet
		ON CONFLICT (facet) DO UPDATE SET n = excluded.n`); err != nil {
		return out, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE counters SET value = (SELECT count(*) FROM items WHERE retracted = '') WHERE name = 'item_count'`); err != nil {
		return out, err
	}
	// Leases belong to the processes of the old store.
	if _, err := tx.ExecContext(ctx, `UPDATE sources SET lease_until = '', lease_holder = ''`); err != nil {
		return out, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE subscribers SET claimed_until = '', claimed_through = 0, claimed_by = ''`); err != nil {
		return out, err
	}
	var gen int64
	if err := from.r.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'items'`).Scan(&gen); err != nil {
		return out, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE counters SET value = ? WHERE name = 'items'`, gen); err != nil {
		return out, err
	}
	// The keys of the items above the watermark were not merged: the
	// target reads them from the signatures copied.
	var merged int64
	if err := from.r.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'bands_merged'`).Scan(&merged); err != nil {
		return out, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE counters SET value = ? WHERE name = 'bands_merged'`, merged); err != nil {
		return out, err
	}
	if !to.pg {
		// The items copied wait for the search index, as items stored do
		// (the store logs an item inserted as it commits, not a trigger).
		if _, err := tx.ExecContext(ctx, `INSERT INTO search_log (item_id, changed) SELECT id, 0 FROM items ORDER BY id`); err != nil {
			return out, err
		}
	}
	if to.pg {
		// Identity columns go on from the largest id copied.
		for _, table := range []string{"items", "deliveries", "sent_log"} {
			if _, err := tx.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence('`+table+`', 'id'), coalesce((SELECT max(id) FROM `+table+`), 0) + 1, false)`); err != nil {
				return out, err
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return out, err
	}
	to.refreshGeneration(ctx)
	return out, nil
}

func copyTable(ctx context.Context, from *Store, to *txn, table string) (int, error) {
	// The columns both engines store: PostgreSQL computes some itself
	// (the search vector), which SQLite keeps elsewhere.
	have, err := insertable(ctx, to, table)
	if err != nil {
		return 0, err
	}
	theirs, err := columnsOf(ctx, from, table)
	if err != nil {
		return 0, err
	}
	var cols []string
	for _, c := range have {
		if slices.Contains(theirs, c) {
			cols = append(cols, c)
		}
	}
	rows, err := from.r.QueryContext(ctx, "SELECT "+strings.Join(cols, ", ")+" FROM "+table)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ")
	ins, err := to.PrepareContext(ctx, "INSERT INTO "+table+" ("+strings.Join(cols, ", ")+") VALUES ("+marks+")")
	if err != nil {
		return 0, err
	}
	defer ins.Close()
	n := 0
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		if _, err := ins.ExecContext(ctx, vals...); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

// insertable lists the columns of a table that an insert may set (not
// generated), in the transaction's engine.
func insertable(ctx context.Context, tx *txn, table string) ([]string, error) {
	q := `SELECT name FROM pragma_table_xinfo(?) WHERE hidden = 0 ORDER BY cid`
	if tx.pg {
		q = `SELECT column_name FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = ? AND is_generated = 'NEVER' ORDER BY ordinal_position`
	}
	rows, err := tx.QueryContext(ctx, q, table)
	return scanColumn[string](rows, err)
}

// columnsOf is insertable in a store, read outside any transaction.
func columnsOf(ctx context.Context, s *Store, table string) ([]string, error) {
	var cols []string
	err := s.snapshot(ctx, func(tx *txn) (err error) {
		cols, err = insertable(ctx, tx, table)
		return err
	})
	return cols, err
}
