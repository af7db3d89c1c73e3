package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The states of a push subscription.
const (
	PushRequested = "requested" // asked of the hub, not yet verified
	PushLive      = "live"      // verified: the hub pushes new entries
	PushDenied    = "denied"    // the hub refused, or the lease ran out
)

// Push is crier's WebSub subscription to a source's hub.
type Push struct {
	SourceID   string
	Hub        string
	Topic      string
	Token      string
	Secret     string
	State      string
	Requested  time.Time
	LeaseUntil time.Time
	LastPush   time.Time
	LastError  string
}

// Live reports whether the hub pushes to crier now.
func (p Push) Live(now time.Time) bool { return p.State == PushLive && p.LeaseUntil.After(now) }

const pushColumns = `source_id, hub, topic, token, secret, state, requested, lease_until, last_push, last_error`

// PushSubscription returns the push subscription of a source; ok is false
// when there is none.
func (s *Store) PushSubscription(ctx context.Context, sourceID string) (p Push, ok bool, err error) {
	var req, lease, last string
	err = s.rstmt(ctx, `SELECT `+pushColumns+` FROM push_subscriptions WHERE source_id = ?`).QueryRowContext(ctx, sourceID).
		Scan(&p.SourceID, &p.Hub, &p.Topic, &p.Token, &p.Secret, &p.State, &req, &lease, &last, &p.LastError)
	if errors.Is(err, sql.ErrNoRows) {
		return p, false, nil
	}
	if err != nil {
		return p, false, fmt.Errorf("push subscription of %s: %w", sourceID, err)
	}
	p.Requested, p.LeaseUntil, p.LastPush = parseTime(req), parseTime(lease), parseTime(last)
	return p, true, nil
}

// SavePush records a push subscription whole.
func (s *Store) SavePush(ctx context.Context, p Push) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO push_subscriptions (`+pushColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (source_id) DO UPDATE SET hub = excluded.hub, topic = excluded.topic, token = excluded.token, secret = excluded.secret,
		state = excluded.state, requested = excluded.requested, lease_until = excluded.lease_until, last_push = excluded.last_push, last_error = excluded.last_error`,
		p.SourceID, p.Hub, p.Topic, p.Token, p.Secret, p.State, formatTime(p.Requested), timeOrEmpty(p.LeaseUntil), timeOrEmpty(p.LastPush), p.LastError)
	if err != nil {
		return fmt.Errorf("save push subscription of %s: %w", p.SourceID, err)
	}
	return nil
}

func timeOrEmpty(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return formatTime(t)
}
