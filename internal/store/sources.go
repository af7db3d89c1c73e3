package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// SourceState is what crier knows of a source: its health and what a
// conditional GET sends back.
type SourceState struct {
	ID           string
	ETag         string
	LastModified string
	LastAttempt  time.Time
	LastSuccess  time.Time
	Failures     int
	LastError    string
	NextRun      time.Time // not before; zero = as the schedule says
	ItemsAdded   int
	// LeaseUntil is when the lease of a run under way lapses (ClaimRun):
	// zero or past when no process holds one.
	LeaseUntil time.Time
}

// Run is the outcome of one run of a source.
type Run struct {
	At      time.Time
	Added   int
	Err     error     // nil on success
	NextRun time.Time // zero = as the schedule says
	// CountFailure is false for a failure that is not the source's fault
	// (crier's own network is down): it is recorded without backoff.
	CountFailure bool
	// Validators to keep, on success.
	ETag, LastModified string
}

// RecordRun records a run of a source.
func (s *Store) RecordRun(ctx context.Context, id string, r Run) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := s.recordRun(ctx, tx, id, r); err != nil {
		return err
	}
	return tx.Commit()
}

// RecordRun records, in the batch's transaction, the run of source id
// whose documents it stores: the record commits with them, without a
// transaction of its own (a quarter of a millisecond at the end of a
// run of 50 new releases).
func (b *SaveBatch) RecordRun(ctx context.Context, id string, r Run) error {
	if b.tx == nil {
		return errors.New("record run: the batch is over")
	}
	return b.s.recordRun(ctx, b.tx, id, r)
}

// recordRun is RecordRun in tx.
func (s *Store) recordRun(ctx context.Context, tx *txn, id string, r Run) error {
	exec := func(query string, args ...any) (sql.Result, error) {
		return s.wstmt(ctx, tx, query).ExecContext(ctx, args...)
	}
	if _, err := exec(`INSERT INTO sources (id) VALUES (?) ON CONFLICT DO NOTHING`, id); err != nil {
		return err
	}
	var err error
	next := ""
	if !r.NextRun.IsZero() {
		next = formatTime(r.NextRun)
	}
	switch {
	case r.Err == nil:
		_, err = exec(`UPDATE sources SET last_attempt = ?, last_success = ?, failures = 0, last_error = '',
			items_added = items_added + ?, next_run = ?, etag = ?, last_modified = ? WHERE id = ?`,
			formatTime(r.At), formatTime(r.At), r.Added, next, r.ETag, r.LastModified, id)

	case r.CountFailure:
		_, err = exec(`UPDATE sources SET last_attempt = ?, failures = failures + 1, last_error = ?, next_run = ? WHERE id = ?`,
			formatTime(r.At), r.Err.Error(), next, id)
	default:
		_, err = exec(`UPDATE sources SET last_attempt = ?, last_error = ?, next_run = ? WHERE id = ?`,
			formatTime(r.At), r.Err.Error(), next, id)
	}
	if err == nil { // the run's lease ends with it
		_, err = exec(`UPDATE sources SET lease_until = '' WHERE id = ?`, id)
	}
	if err != nil {
		return fmt.Errorf("record run of %s: %w", id, err)
	}
	return nil
}

// ClaimRun takes, for holder, the right to run a source on its schedule
// now. It is refused (false) while another process holds an unexpired
// lease on it (a run under way), or when the source was run less than gap
// ago (another process took this tick already). The lease lasts lease,
// and RecordRun ends it; a holder that dies lets it expire.
func (s *Store) ClaimRun(ctx context.Context, id, holder string, lease, gap time.Duration) (bool, error) {
	now := s.Now()
	tx, err := s.begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	if _, err := s.wstmt(ctx, tx, `INSERT INTO sources (id) VALUES (?) ON CONFLICT DO NOTHING`).ExecContext(ctx, id); err != nil {
		return false, err
	}
	res, err := s.wstmt(ctx, tx, `UPDATE sources SET lease_holder = ?, lease_until = ?
		WHERE id = ? AND lease_until <= ? AND last_attempt <= ?`).ExecContext(ctx, holder, formatTime(now.Add(lease)), id, formatTime(now), formatTime(now.Add(-gap)))
	if err != nil {
		return false, fmt.Errorf("claim the run of %s: %w", id, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, tx.Commit()
}

const sourceColumns = `id, etag, last_modified, last_attempt, last_success, failures, last_error, next_run, items_added, lease_until`

func scanSource(r scanner) (SourceState, error) {
	var st SourceState
	var la, ls, nr, lu string
	err := r.Scan(&st.ID, &st.ETag, &st.LastModified, &la, &ls, &st.Failures, &st.LastError, &nr, &st.ItemsAdded, &lu)
	st.LastAttempt, st.LastSuccess, st.NextRun, st.LeaseUntil = parseTime(la), parseTime(ls), parseTime(nr), parseTime(lu)
	return st, err
}

// RenewRun extends holder's lease on a source's run under way to lease
// from now. It reports false, changing nothing, when the lease is no
// longer holder's: the run was recorded, or the lease lapsed and another
// process took it.
func (s *Store) RenewRun(ctx context.Context, id, holder string, lease time.Duration) (bool, error) {
	now := s.Now()
	tx, err := s.begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	res, err := s.wstmt(ctx, tx, `UPDATE sources SET lease_until = ?
		WHERE id = ? AND lease_holder = ? AND lease_until > ?`).ExecContext(ctx, formatTime(now.Add(lease)), id, holder, formatTime(now))
	if err != nil {
		return false, fmt.Errorf("renew the run of %s: %w", id, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, tx.Commit()
}

// SourceState returns one source's state; a source never run has a zero
// state with its id.
func (s *Store) SourceState(ctx context.Context, id string) (SourceState, error) {
	st, err := scanSource(s.rstmt(ctx, `SELECT `+sourceColumns+` FROM sources WHERE id = ?`).QueryRowContext(ctx, id))
	if errors.Is(err, sql.ErrNoRows) {
		return SourceState{ID: id}, nil
	}
	return st, err
}

// SourceStates returns the state of every source crier has run, by id.
func (s *Store) SourceStates(ctx context.Context) (map[string]SourceState, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+sourceColumns+` FROM sources`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]SourceState{}
	for rows.Next() {
		st, err := scanSource(rows)
		if err != nil {
			return nil, err
		}
		out[st.ID] = st
	}
	return out, rows.Err()
}
