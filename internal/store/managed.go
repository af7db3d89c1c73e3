package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ErrExists is returned when a source or subscriber with that id exists.
var ErrExists = errors.New("store: exists")

// Managed is a source or subscriber added through the admin API, as the
// JSON of its config keys.
type Managed struct {
	Kind string // "source" or "subscriber"
	ID   string
	Body []byte
}

// ManagedAll lists the sources or subscribers added through the API.
func (s *Store) ManagedAll(ctx context.Context, kind string) ([]Managed, error) {
	rows, err := s.rstmt(ctx, `SELECT id, body FROM managed WHERE kind = ? ORDER BY id`).QueryContext(ctx, kind)
	if err != nil {
		return nil, fmt.Errorf("managed %ss: %w", kind, err)
	}
	defer rows.Close()
	var out []Managed
	for rows.Next() {
		m := Managed{Kind: kind}
		var body string
		if err := rows.Scan(&m.ID, &body); err != nil {
			return nil, err
		}
		m.Body = []byte(body)
		out = append(out, m)
	}
	return out, rows.Err()
}

// PutManaged adds (create) or replaces one; create refuses an id that
// exists (ErrExists), a replace one that does not (ErrNotFound).
func (s *Store) PutManaged(ctx context.Context, m Managed, create bool) error {
	var res sql.Result
	var err error
	if create {
		res, err = s.w.ExecContext(ctx, `INSERT INTO managed (kind, id, body) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, m.Kind, m.ID, string(m.Body))
	} else {
		res, err = s.w.ExecContext(ctx, `UPDATE managed SET body = ? WHERE kind = ? AND id = ?`, string(m.Body), m.Kind, m.ID)
	}
	if err != nil {
		return fmt.Errorf("save %s %s: %w", m.Kind, m.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if create {
			return ErrExists
		}
		return ErrNotFound
	}
	return nil
}

// DeleteManaged removes one.
func (s *Store) DeleteManaged(ctx context.Context, kind, id string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM managed WHERE kind = ? AND id = ?`, kind, id)
	if err != nil {
		return fmt.Errorf("delete %s %s: %w", kind, id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}
