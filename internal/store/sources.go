package store

import (
	"context"
	"fmt"
	"time"
)

// SourceState is what crier knows of a source's health.
type SourceState struct {
	ID          string
	LastAttempt time.Time
	LastSuccess time.Time
	Failures    int
	LastError   string
	NextRun     time.Time
	ItemsAdded  int
}

// RecordRun records the outcome of one run of a source: added items on
// success, or the error that ended it.
func (s *Store) RecordRun(ctx context.Context, id string, at time.Time, added int, runErr error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO sources (id) VALUES (?)`, id); err != nil {
		return err
	}
	if runErr == nil {
		_, err = tx.ExecContext(ctx, `UPDATE sources SET last_attempt = ?, last_success = ?, failures = 0, last_error = '',
			items_added = items_added + ? WHERE id = ?`, formatTime(at), formatTime(at), added, id)
	} else {
		_, err = tx.ExecContext(ctx, `UPDATE sources SET last_attempt = ?, failures = failures + 1, last_error = ? WHERE id = ?`,
			formatTime(at), runErr.Error(), id)
	}
	if err != nil {
		return fmt.Errorf("record run of %s: %w", id, err)
	}
	return tx.Commit()
}

// SourceStates returns the state of every source crier has run, by id.
func (s *Store) SourceStates(ctx context.Context) (map[string]SourceState, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, last_attempt, last_success, failures, last_error, next_run, items_added FROM sources`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]SourceState{}
	for rows.Next() {
		var st SourceState
		var la, ls, nr string
		if err := rows.Scan(&st.ID, &la, &ls, &st.Failures, &st.LastError, &nr, &st.ItemsAdded); err != nil {
			return nil, err
		}
		st.LastAttempt, st.LastSuccess, st.NextRun = parseTime(la), parseTime(ls), parseTime(nr)
		out[st.ID] = st
	}
	return out, rows.Err()
}
