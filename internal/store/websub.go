package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"time"
)

// WebSubPrefix starts the subscriber id of every WebSub subscription.
const WebSubPrefix = "websub:"

// WebSub is a verified WebSub subscription.
type WebSub struct {
	ID          string
	Topic       string
	Callback    string
	Secret      string
	ContentType string
	LeaseUntil  time.Time
}

// WebSubID is the subscriber id of a (topic, callback) pair.
func WebSubID(topic, callback string) string {
	h := sha256.Sum256([]byte(topic + "\x00" + callback))
	return WebSubPrefix + hex.EncodeToString(h[:12])
}

// SubscribeWebSub records or renews a verified subscription. A new one is
// owed only what arrives from now on; a renewal keeps its cursor.
func (s *Store) SubscribeWebSub(ctx context.Context, w WebSub) error {
	now := s.Now()
	w.ID = WebSubID(w.Topic, w.Callback)
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO subscribers (id, cursor, created, kind)
		VALUES (?, (SELECT coalesce(max(id), 0) FROM items), ?, ?) ON CONFLICT DO NOTHING`, w.ID, formatTime(now), KindWebSub); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE subscribers SET paused = 0, failing = 0 WHERE id = ?`, w.ID); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO websub (id, topic, callback, secret, content_type, lease_until, created) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET secret = excluded.secret, lease_until = excluded.lease_until, content_type = excluded.content_type`,
		w.ID, w.Topic, w.Callback, w.Secret, w.ContentType, formatTime(w.LeaseUntil), formatTime(now))
	if err != nil {
		return err
	}
	return tx.Commit()
}

// UnsubscribeWebSub ends a subscription, and drops what it was still owed.
func (s *Store) UnsubscribeWebSub(ctx context.Context, id string) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM subscribers WHERE id = ?`, id)
	return err
}

// WebSubs returns the subscriptions whose lease runs at now, and ends the
// ones whose lease has run out.
func (s *Store) WebSubs(ctx context.Context) ([]WebSub, error) {
	now := formatTime(s.Now())
	if _, err := s.w.ExecContext(ctx, `DELETE FROM subscribers WHERE id IN (SELECT id FROM websub WHERE lease_until <= ?)`, now); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, topic, callback, secret, content_type, lease_until FROM websub WHERE lease_until > ? ORDER BY id`, now)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []WebSub
	for rows.Next() {
		var w WebSub
		var lease string
		if err := rows.Scan(&w.ID, &w.Topic, &w.Callback, &w.Secret, &w.ContentType, &lease); err != nil {
			return nil, err
		}
		w.LeaseUntil = parseTime(lease)
		out = append(out, w)
	}
	return out, rows.Err()
}

// WebSubByID returns one subscription.
func (s *Store) WebSubByID(ctx context.Context, id string) (WebSub, error) {
	var w WebSub
	var lease string
	err := s.r.QueryRowContext(ctx, `SELECT id, topic, callback, secret, content_type, lease_until FROM websub WHERE id = ?`, id).
		Scan(&w.ID, &w.Topic, &w.Callback, &w.Secret, &w.ContentType, &lease)
	if errors.Is(err, sql.ErrNoRows) {
		return w, ErrNotFound
	}
	w.LeaseUntil = parseTime(lease)
	return w, err
}
