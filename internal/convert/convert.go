// Package convert turns stored items into the public feeds model: one
// place that both the HTTP server (feeds) and the webhook sender
// (payloads) use, so that a partner and an aggregator see the same item.
package convert

import (
	"fmt"
	"strings"
	"time"

	"github.com/crier-hub/crier/feeds"
	"github.com/crier-hub/crier/internal/config"
	"github.com/crier-hub/crier/internal/gazetteer"
	"github.com/crier-hub/crier/internal/store"
)

// Converter turns stored items into the public feeds model, for the feeds
// and for webhook payloads alike.
type Converter struct {
	base    string
	sources map[string]config.Source
	topics  map[string]config.Topic
}

// New returns a Converter for cfg's base URL, sources and topics.
func New(cfg *config.Config) *Converter {
	c := &Converter{base: cfg.Server.BaseURL, sources: map[string]config.Source{}, topics: map[string]config.Topic{}}
	for _, src := range cfg.Sources {
		c.sources[src.ID] = src
	}
	for _, t := range cfg.Topics {
		c.topics[t.Slug] = t
	}
	return c
}

// ItemID is an item's public id: a URN made of its stable uid, so that it
// does not change with the deployment's base_url.
func ItemID(uid string) string {
	if len(uid) != 32 {
		return "urn:crier:item:" + uid
	}
	b := []byte(uid)
	b[12] = '8' // UUIDv8: a custom, name-derived UUID (RFC 9562)
	b[16] = "89ab"[strings.IndexByte("0123456789abcdef", b[16])%4]
	return fmt.Sprintf("urn:uuid:%s-%s-%s-%s-%s", b[0:8], b[8:12], b[12:16], b[16:20], b[20:32])
}

// Item converts a stored item into a feed item: its stable id, canonical
// link, categories for country and topics, the source offices as authors,
// and the normalized record as the _crier extension.
func (s *Converter) Item(it store.Item) feeds.Item {
	base := s.base
	link := it.URL
	if link == "" {
		link = base + "/items/" + it.UID
	}
	fi := feeds.Item{
		ID:          ItemID(it.UID),
		URL:         link,
		Title:       it.Title,
		Summary:     it.Summary,
		ContentHTML: it.ContentHTML,
		ContentText: it.ContentText,
		Published:   it.Published,
		Updated:     it.Updated,
		Language:    it.Language,
		Extension: &feeds.Extension{
			Country: it.Country, City: it.City, Language: it.Language, DateSource: it.DateSource,
			Topics: nonNil(it.Topics), Sources: nonNil(it.Sources), Contacts: []feeds.Contact{},
		},
	}
	for _, o := range it.Origins {
		fi.Extension.Origins = append(fi.Extension.Origins, feeds.Origin{Source: o.Source, URL: o.URL, FirstSeen: o.FirstSeen.UTC()})
	}
	if it.DateSource == "first_seen" {
		// crier never presents a guessed date as a stated one: no
		// publication date, and the update time is when it was first seen.
		fi.Published = time.Time{}
		fi.Updated = it.Updated
		if fi.Updated.IsZero() || it.Created.Before(fi.Updated) {
			fi.Updated = it.Created
		}
	}
	for _, c := range it.Contacts {
		fi.Extension.Contacts = append(fi.Extension.Contacts, feeds.Contact(c))
	}
	for _, id := range it.Sources {
		name := id
		if src, ok := s.sources[id]; ok {
			name = src.Name
		}
		fi.Authors = append(fi.Authors, name)
	}
	if it.Country != "" {
		fi.Categories = append(fi.Categories, feeds.Category{Term: it.Country, Scheme: base + "/feeds/country/", Label: gazetteer.Countries().CountryName(it.Country)})
	}
	for _, t := range it.Topics {
		label := t
		if tp, ok := s.topics[t]; ok {
			label = tp.Name
		}
		fi.Categories = append(fi.Categories, feeds.Category{Term: t, Scheme: base + "/feeds/topic/", Label: label})
	}
	return fi
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Topic returns the configured topic with this slug.
func (s *Converter) Topic(slug string) (config.Topic, bool) {
	t, ok := s.topics[slug]
	return t, ok
}

// Source returns the configured source with this id.
func (s *Converter) Source(id string) (config.Source, bool) {
	src, ok := s.sources[id]
	return src, ok
}
