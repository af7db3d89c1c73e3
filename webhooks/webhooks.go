// Package webhooks signs and verifies crier's webhook deliveries as the
// Standard Webhooks specification (standardwebhooks.com) describes, and
// defines their payload. Partners can import it to verify what they get:
//
//	err := webhooks.Verify(secrets, r.Header, body, time.Now())
//
// It imports nothing from crier's internals.
package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The headers of a signed delivery.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Tolerance is how far a delivery's timestamp may be from the verifier's
// clock; older or newer deliveries are refused as replays.
const Tolerance = 5 * time.Minute

// The types of deliveries.
const (
	EventItemsPublished = "items.published" // new items
	EventItemsUpdated   = "items.updated"   // corrections: an item's text changed at its source
	EventItemsDeleted   = "items.deleted"   // retractions: each item carries its id and _crier.retracted
)

// Payload is the body of a delivery.
type Payload struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      Data      `json:"data"`
}

// Data is what a delivery carries: JSON Feed 1.1 items with _crier.
type Data struct {
	Subscriber string `json:"subscriber"`
	// Sequence numbers a subscriber's deliveries 1, 2, 3… in the order
	// they are created, so that a gap shows; a retry keeps its number.
	Sequence int64  `json:"sequence"`
	Items    []Item `json:"items"`
}

// Errors of Verify.
var (
	ErrBadSecret    = errors.New("webhooks: secret is not whsec_ followed by base64")
	ErrMissing      = errors.New("webhooks: webhook-id, webhook-timestamp or webhook-signature header missing")
	ErrStale        = errors.New("webhooks: timestamp outside the tolerance")
	ErrNoValidMatch = errors.New("webhooks: no signature matches")
)

// Key decodes a whsec_ secret into its HMAC key.
func Key(secret string) ([]byte, error) {
	b64, ok := strings.CutPrefix(secret, "whsec_")
	if !ok {
		return nil, ErrBadSecret
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(key) == 0 {
		return nil, ErrBadSecret
	}
	return key, nil
}

func sign(key []byte, id string, ts int64, body []byte) string {
	return signWith(hmac.New(sha256.New, key), id, ts, body)
}

// signWith signs with m, a keyed HMAC not yet written to.
func signWith(m hash.Hash, id string, ts int64, body []byte) string {
	var head [64]byte
	b := append(append(append(head[:0], id...), '.'), strconv.AppendInt(nil, ts, 10)...)
	m.Write(append(b, '.'))
	m.Write(body)
	var sum [sha256.Size]byte
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(sum[:0]))
}

// Signer signs deliveries as Sign does, with its secrets' keys decoded
// and their HMACs keyed once: a sender that signs many deliveries for one
// partner keeps one.
type Signer struct {
	keys  [][]byte
	keyed []hash.Hash // each key's HMAC, never written to: cloned to sign
}

// NewSigner decodes secrets (whsec_…) for signing.
func NewSigner(secrets []string) (*Signer, error) {
	s := &Signer{}
	for _, secret := range secrets {
		key, err := Key(secret)
		if err != nil {
			return nil, err
		}
		s.keys, s.keyed = append(s.keys, key), append(s.keyed, hmac.New(sha256.New, key))
	}
	return s, nil
}

// Sign returns the webhook-signature header value for a delivery: one
// signature per secret, space-separated, so that a partner can rotate
// secrets without missing a delivery. It is safe for concurrent use.
func (s *Signer) Sign(id string, ts time.Time, body []byte) string {
	sigs := make([]string, len(s.keys))
	for i, key := range s.keys {
		if c, ok := s.keyed[i].(hash.Cloner); ok {
			if m, err := c.Clone(); err == nil {
				sigs[i] = signWith(m, id, ts.Unix(), body)
				continue
			}
		}
		sigs[i] = sign(key, id, ts.Unix(), body)
	}
	return strings.Join(sigs, " ")
}

// SetHeaders signs body and sets the three headers on h.
func (s *Signer) SetHeaders(h http.Header, id string, ts time.Time, body []byte) {
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, s.Sign(id, ts, body))
}

// Sign returns the webhook-signature header value for a delivery, as a
// Signer of secrets does.
func Sign(secrets []string, id string, ts time.Time, body []byte) (string, error) {
	s, err := NewSigner(secrets)
	if err != nil {
		return "", err
	}
	return s.Sign(id, ts, body), nil
}

// SetHeaders signs body and sets the three headers on h, as a Signer of
// secrets does.
func SetHeaders(h http.Header, secrets []string, id string, ts time.Time, body []byte) error {
	s, err := NewSigner(secrets)
	if err != nil {
		return err
	}
	s.SetHeaders(h, id, ts, body)
	return nil
}

// Verify checks a delivery's headers against body with any of secrets, and
// that its timestamp is within Tolerance of now.
func Verify(secrets []string, h http.Header, body []byte, now time.Time) error {
	id, tsText, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || tsText == "" || sigs == "" {
		return ErrMissing
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return ErrStale
	}
	if d := now.Sub(time.Unix(ts, 0)); d > Tolerance || d < -Tolerance {
		return ErrStale
	}
	for _, s := range secrets {
		key, err := Key(s)
		if err != nil {
			return err
		}
		want := sign(key, id, ts, body)
		for _, got := range strings.Fields(sigs) {
			if hmac.Equal([]byte(got), []byte(want)) {
				return nil
			}
		}
	}
	return ErrNoValidMatch
}

// Item is one release as a JSON Feed 1.1 item, with crier's normalized
// record under _crier. The package defines its own types, so that a
// partner who imports it to verify signatures needs nothing else.
type Item struct {
	ID            string     `json:"id"`
	URL           string     `json:"url,omitempty"`
	Title         string     `json:"title,omitempty"`
	ContentHTML   string     `json:"content_html,omitempty"`
	ContentText   string     `json:"content_text,omitempty"`
	Summary       string     `json:"summary,omitempty"`
	DatePublished *time.Time `json:"date_published,omitempty"`
	DateModified  *time.Time `json:"date_modified,omitempty"`
	Authors       []Author   `json:"authors,omitempty"`
	Tags          []string   `json:"tags,omitempty"`
	Language      string     `json:"language,omitempty"`
	Crier         *Record    `json:"_crier,omitempty"`
}

// Author is an item's author: the office that published it.
type Author struct {
	Name string `json:"name,omitempty"`
	URL  string `json:"url,omitempty"`
}

// Record is crier's normalized record of a release.
type Record struct {
	Country  string    `json:"country,omitempty"`
	City     string    `json:"city,omitempty"`
	Language string    `json:"language,omitempty"`
	Topics   []string  `json:"topics"`
	Sources  []string  `json:"sources"`
	Contacts []Contact `json:"contacts"`
	// DateSource: "stated", "inferred" (a partial date completed with
	// evidence) or "first_seen" (no date; DatePublished is then absent).
	DateSource string   `json:"date_source,omitempty"`
	Origins    []Origin `json:"origins,omitempty"`
	// Retracted is when the item was taken back (items.deleted).
	Retracted *time.Time `json:"retracted,omitempty"`
}

// Origin is one copy of a release merged into the item.
type Origin struct {
	Source    string    `json:"source"`
	URL       string    `json:"url,omitempty"`
	FirstSeen time.Time `json:"first_seen"`
}

// Contact is a press contact of a release.
type Contact struct {
	Name   string `json:"name,omitempty"`
	Office string `json:"office,omitempty"`
	Email  string `json:"email,omitempty"`
	Phone  string `json:"phone,omitempty"`
}
