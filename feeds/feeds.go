// Package feeds renders syndication feeds in RSS 2.0, Atom 1.0 and JSON Feed
// 1.1 from one small model, on top of github.com/gorilla/feeds.
//
// gorilla/feeds alone writes no rel="self" link, one link per feed, no
// categories with a term, no xml:lang, and invents a random Atom id for an
// item without one. This package wraps its types to write what validators
// and aggregators expect, and requires every id up front, so that ids are
// stable across restarts and renders.
//
// The package imports nothing from crier's internals; the webhook payload
// reuses its JSON item type.
package feeds

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"time"
)

// Feed is a feed in any of the three formats.
type Feed struct {
	ID          string // a stable IRI: the same feed must keep the same id
	Title       string
	Description string
	Language    string // ISO 639-1, if all items share one
	HomeURL     string // the HTML page the feed belongs to (rel="alternate")
	SelfURL     string // where this feed is served (rel="self")
	HubURL      string // a WebSub hub (rel="hub"), if any
	Links       []Link // further links: RFC 5005 archives and the like
	Archive     bool   // an RFC 5005 archive document, which will not change
	Author      string // the publisher, named when an item names no author
	Generator   string
	Updated     time.Time
	Items       []Item
	Deleted     []Deleted // tombstones, written in Atom only
}

// Link is a typed link of a feed.
type Link struct {
	Rel  string
	Href string
	Type string
}

// Deleted is an entry taken back: Atom feeds carry it as an RFC 6721
// at:deleted-entry.
type Deleted struct {
	ID   string
	When time.Time
}

// Item is one entry of a feed.
type Item struct {
	ID          string // stable and unique within the feed
	URL         string // the canonical page of the item
	Title       string
	Summary     string // plain text
	ContentHTML string // sanitized HTML
	ContentText string
	Published   time.Time
	Updated     time.Time
	Language    string
	Authors     []string
	Categories  []Category
	Extension   *Extension // written as _crier in JSON Feed
}

// Category classifies an item. Scheme names the vocabulary of Term (an
// IRI); Label is for people.
type Category struct {
	Term   string
	Label  string
	Scheme string
}

// Extension is crier's normalized record of a release, written under the
// "_crier" key of JSON Feed items.
type Extension struct {
	Country  string    `json:"country,omitempty"`
	City     string    `json:"city,omitempty"`
	Language string    `json:"language,omitempty"`
	Topics   []string  `json:"topics"`
	Sources  []string  `json:"sources"`
	Contacts []Contact `json:"contacts"`
	// DateSource says where the item's date comes from: "stated",
	// "inferred" (a partial date completed with evidence) or "first_seen"
	// (no date: the item has no date_published).
	DateSource string `json:"date_source,omitempty"`
	// Origins are the copies merged into the item.
	Origins []Origin `json:"origins,omitempty"`
}

// Origin is one copy of a release: the source that published it, where,
// and when crier first saw it.
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

// historyNS is the namespace of RFC 5005's fh:archive.
const historyNS = "http://purl.org/syndication/history/1.0"

// fhArchive marks an archive document (RFC 5005, section 4).
type fhArchive struct {
	XMLName xml.Name `xml:"fh:archive"`
	NS      string   `xml:"xmlns:fh,attr"`
}

func archiveMark(on bool) *fhArchive {
	if !on {
		return nil
	}
	return &fhArchive{NS: historyNS}
}

// ErrInvalid is returned for a feed that cannot be rendered validly.
var ErrInvalid = errors.New("feeds: invalid feed")

// check refuses what would make an invalid feed in some format: a missing
// id, title or self link, duplicate item ids.
func (f *Feed) check() error {
	if f.ID == "" || f.Title == "" || f.SelfURL == "" {
		return fmt.Errorf("%w: feed id, title and self URL are required", ErrInvalid)
	}
	seen := make(map[string]bool, len(f.Items))
	for i, it := range f.Items {
		if it.ID == "" {
			return fmt.Errorf("%w: item %d has no id", ErrInvalid, i)
		}
		if seen[it.ID] {
			return fmt.Errorf("%w: duplicate item id %q", ErrInvalid, it.ID)
		}
		seen[it.ID] = true
	}
	return nil
}

// updated is the feed's update time: the latest of its own and its items'.
func (f *Feed) updated() time.Time {
	t := f.Updated
	for _, it := range f.Items {
		if u := it.updated(); u.After(t) {
			t = u
		}
	}
	if t.IsZero() {
		t = time.Unix(0, 0)
	}
	return t.UTC()
}

func (it *Item) updated() time.Time {
	if it.Updated.After(it.Published) {
		return it.Updated
	}
	return it.Published
}

func (it *Item) title() string {
	if it.Title == "" {
		return "Untitled"
	}
	return it.Title
}

// Formats are the file extensions of the three formats, in the order
// pages list them.
var Formats = []string{"atom", "rss", "json"}

// MediaType returns the media type of a format named by its extension
// ("rss", "atom", "json"), or "" for an unknown one.
func MediaType(format string) string {
	switch format {
	case "rss":
		return "application/rss+xml"
	case "atom":
		return "application/atom+xml"
	case "json":
		return "application/feed+json"
	}
	return ""
}

// Write writes f in the format named by its extension.
func (f *Feed) Write(w io.Writer, format string) error {
	switch format {
	case "rss":
		return f.WriteRSS(w)
	case "atom":
		return f.WriteAtom(w)
	case "json":
		return f.WriteJSON(w)
	}
	return fmt.Errorf("%w: unknown format %q", ErrInvalid, format)
}
