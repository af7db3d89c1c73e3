package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Delivery states.
const (
	Due     = "due"
	Sending = "sending"
	Sent    = "sent"
	Failed  = "failed"
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
	now := s.Now()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var exists int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM subscribers WHERE id = ?`, id).Scan(&exists); err != nil || exists > 0 {
		return err
	}
	var cursor int64
	switch backfill {
	case "all":
	default:
		d, err := time.ParseDuration(backfill)
		if err != nil {
			return fmt.Errorf("subscriber %s: backfill %q: %w", id, backfill, err)
		}
		err = tx.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM items WHERE created < ?`, formatTime(now.Add(-d))).Scan(&cursor)
		if err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO subscribers (id, cursor, created) VALUES (?, ?, ?)`, id, cursor, formatTime(now)); err != nil {
		return err
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
	res, err := s.w.ExecContext(ctx, `UPDATE subscribers SET paused = ?, failing = CASE WHEN ? THEN failing ELSE 0 END WHERE id = ?`, paused, paused, id)
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
}

// Fire creates, in one transaction, the deliveries of the items stored
// after a subscriber's cursor that q selects, and moves the cursor past
// every item stored so far. build turns the selected items into batches.
// It returns the number of deliveries created.
func (s *Store) Fire(ctx context.Context, id string, q Query, build func([]Item) ([]Batch, error)) (int, error) {
	now := formatTime(s.Now())
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var cursor, last int64
	if err := tx.QueryRowContext(ctx, `SELECT cursor FROM subscribers WHERE id = ?`, id).Scan(&cursor); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return 0, fmt.Errorf("subscriber %s: %w", id, ErrNotFound)
		}
		return 0, err
	}
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM items`).Scan(&last); err != nil {
		return 0, err
	}
	q.After, q.BySeq, q.Limit = cursor, true, 0
	items, err := queryItems(ctx, tx, q)
	if err != nil {
		return 0, err
	}
	var batches []Batch
	if len(items) > 0 {
		if batches, err = build(items); err != nil {
			return 0, err
		}
	}
	for _, b := range batches {
		ids, _ := json.Marshal(b.Items)
		if _, err := tx.ExecContext(ctx, `INSERT INTO deliveries (webhook_id, subscriber_id, items, body, status, next_attempt, created)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, newWebhookID(), id, string(ids), b.Body, Due, now, now); err != nil {
			return 0, err
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE subscribers SET cursor = max(cursor, ?), last_fire = ? WHERE id = ?`, last, now, id); err != nil {
		return 0, err
	}
	return len(batches), tx.Commit()
}

// newWebhookID makes the id a delivery keeps across all its retries.
func newWebhookID() string {
	b := make([]byte, 15)
	rand.Read(b)
	return "msg_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

const deliveryColumns = `id, webhook_id, subscriber_id, items, body, status, attempts, next_attempt, created, sent_at, last_error`

func scanDelivery(r scanner) (Delivery, error) {
	var d Delivery
	var items, next, created, sent string
	err := r.Scan(&d.ID, &d.WebhookID, &d.SubscriberID, &items, &d.Body, &d.Status, &d.Attempts, &next, &created, &sent, &d.LastError)
	if err != nil {
		return d, err
	}
	d.NextAttempt, d.Created, d.SentAt = parseTime(next), parseTime(created), parseTime(sent)
	err = json.Unmarshal([]byte(items), &d.Items)
	return d, err
}

// Claim takes the next delivery that is due, for one of subscribers: the
// oldest owed delivery of a subscriber that is not paused and has nothing
// in flight, so each partner gets its batches one at a time and in order.
// A delivery whose claim has lapsed (crier stopped mid-request) is due
// again. The claim lasts lease. ok is false when nothing is due.
// WebSub subscriptions' deliveries are claimed along with subscribers'.
func (s *Store) Claim(ctx context.Context, subscribers []string, lease time.Duration) (d Delivery, ok bool, err error) {
	now := s.Now()
	args := []any{Sending, formatTime(now.Add(lease))}
	subIn := "d.subscriber_id LIKE '" + WebSubPrefix + "%'"
	if len(subscribers) > 0 {
		subIn = "(" + in("d.subscriber_id", subscribers, &args) + " OR " + subIn + ")"
	}
	n := formatTime(now)
	args = append(args, Due, n, Sending, n, Due, Sending, Sending, n)
	row := s.w.QueryRowContext(ctx, `UPDATE deliveries SET status = ?, claimed_until = ? WHERE id = (
		SELECT d.id FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
		WHERE `+subIn+` AND s.paused = 0
		  AND ((d.status = ? AND d.next_attempt <= ?) OR (d.status = ? AND d.claimed_until <= ?))
		  AND d.id = (SELECT min(x.id) FROM deliveries x WHERE x.subscriber_id = d.subscriber_id AND x.status IN (?, ?))
		  AND NOT EXISTS (SELECT 1 FROM deliveries y WHERE y.subscriber_id = d.subscriber_id AND y.status = ? AND y.claimed_until > ?)
		ORDER BY d.next_attempt, d.id LIMIT 1)
		RETURNING `+deliveryColumns, args...)
	d, err = scanDelivery(row)
	if errors.Is(err, sql.ErrNoRows) {
		return d, false, nil
	}
	return d, err == nil, err
}

func recordAttempt(ctx context.Context, tx *sql.Tx, id int64, a Attempt) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO attempts (delivery_id, at, status, latency_ms, error, response) VALUES (?, ?, ?, ?, ?, ?)`,
		id, formatTime(a.At), a.Status, a.Latency.Milliseconds(), a.Error, a.Response)
	return err
}

// Outcome is what became of an attempt.
type Outcome int

// The outcomes of an attempt.
const (
	Delivered Outcome = iota // 2xx: done
	Retry                    // try again at the given time
	GiveUp                   // the last try failed: failed, and the subscriber failing
	Gone                     // 410: the delivery stays owed, the subscriber is paused
)

// Finish records an attempt at a claimed delivery and its outcome.
func (s *Store) Finish(ctx context.Context, d Delivery, a Attempt, o Outcome, next time.Time) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := recordAttempt(ctx, tx, d.ID, a); err != nil {
		return err
	}
	switch o {
	case Delivered:
		_, err = tx.ExecContext(ctx, `UPDATE deliveries SET status = ?, attempts = attempts + 1, sent_at = ?, last_error = '', claimed_until = '' WHERE id = ?`,
			Sent, formatTime(a.At), d.ID)
		if err == nil {
			_, err = tx.ExecContext(ctx, `UPDATE subscribers SET failing = 0 WHERE id = ?`, d.SubscriberID)
		}
	case Retry:
		_, err = tx.ExecContext(ctx, `UPDATE deliveries SET status = ?, attempts = attempts + 1, next_attempt = ?, last_error = ?, claimed_until = '' WHERE id = ?`,
			Due, formatTime(next), a.Error, d.ID)
	case GiveUp:
		_, err = tx.ExecContext(ctx, `UPDATE deliveries SET status = ?, attempts = attempts + 1, last_error = ?, claimed_until = '' WHERE id = ?`,
			Failed, a.Error, d.ID)
		if err == nil {
			_, err = tx.ExecContext(ctx, `UPDATE subscribers SET failing = 1 WHERE id = ?`, d.SubscriberID)
		}
	case Gone:
		_, err = tx.ExecContext(ctx, `UPDATE deliveries SET status = ?, attempts = attempts + 1, last_error = ?, claimed_until = '' WHERE id = ?`,
			Due, a.Error, d.ID)
		if err == nil {
			_, err = tx.ExecContext(ctx, `UPDATE subscribers SET paused = 1 WHERE id = ?`, d.SubscriberID)
		}
	}
	if err != nil {
		return fmt.Errorf("finish delivery %s: %w", d.WebhookID, err)
	}
	return tx.Commit()
}

// Deliveries lists a subscriber's deliveries, newest first.
func (s *Store) Deliveries(ctx context.Context, subscriberID string, limit int) ([]Delivery, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE subscriber_id = ? ORDER BY id DESC LIMIT ?`, subscriberID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// Attempts lists a delivery's attempts, oldest first.
func (s *Store) Attempts(ctx context.Context, deliveryID int64) ([]Attempt, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT at, status, latency_ms, error, response FROM attempts WHERE delivery_id = ? ORDER BY rowid`, deliveryID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Attempt
	for rows.Next() {
		var a Attempt
		var at string
		var ms int64
		if err := rows.Scan(&at, &a.Status, &ms, &a.Error, &a.Response); err != nil {
			return nil, err
		}
		a.At, a.Latency = parseTime(at), time.Duration(ms)*time.Millisecond
		out = append(out, a)
	}
	return out, rows.Err()
}

// Replay makes a failed (or sent) delivery due again, under its own
// webhook-id.
func (s *Store) Replay(ctx context.Context, webhookID string) error {
	res, err := s.w.ExecContext(ctx, `UPDATE deliveries SET status = ?, attempts = 0, next_attempt = ?, claimed_until = '' WHERE webhook_id = ? AND status IN (?, ?)`,
		Due, formatTime(s.Now()), webhookID, Failed, Sent)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// NextDue returns when the earliest owed delivery falls due.
func (s *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	var next sql.NullString
	err := s.r.QueryRowContext(ctx, `SELECT min(CASE WHEN status = ? THEN next_attempt ELSE claimed_until END) FROM deliveries d
		JOIN subscribers s ON s.id = d.subscriber_id WHERE s.paused = 0 AND status IN (?, ?)`, Due, Due, Sending).Scan(&next)
	if err != nil || !next.Valid {
		return time.Time{}, false, err
	}
	return parseTime(next.String), true, nil
}

// DeliveryCounts counts deliveries by status.
func (s *Store) DeliveryCounts(ctx context.Context) (map[string]int, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT status, count(*) FROM deliveries GROUP BY status`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{Due: 0, Sending: 0, Sent: 0, Failed: 0}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		out[st] = n
	}
	return out, rows.Err()
}

// ItemCount counts items.
func (s *Store) ItemCount(ctx context.Context) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM items`).Scan(&n)
	return n, err
}
