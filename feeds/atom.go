package feeds

import (
	"encoding/xml"
	"io"
	"time"

	gf "github.com/gorilla/feeds"
)

const atomNS = "http://www.w3.org/2005/Atom"

type atomCategory struct {
	XMLName xml.Name `xml:"category"`
	Term    string   `xml:"term,attr"`
	Scheme  string   `xml:"scheme,attr,omitempty"`
	Label   string   `xml:"label,attr,omitempty"`
}

type atomGenerator struct {
	XMLName xml.Name `xml:"generator"`
	Name    string   `xml:",chardata"`
}

// atomEntry extends gorilla's entry with xml:lang, several authors and
// categories that carry a term.
type atomEntry struct {
	gf.AtomEntry
	Lang       string `xml:"xml:lang,attr,omitempty"`
	Authors    []gf.AtomAuthor
	Categories []atomCategory
}

// atomFeed extends gorilla's feed with xml:lang, several links (self,
// alternate, hub, archives) and the extended entries.
type atomFeed struct {
	gf.AtomFeed
	Lang      string `xml:"xml:lang,attr,omitempty"`
	Links     []gf.AtomLink
	Generator *atomGenerator
	Archive   *fhArchive
	AtNS      string       `xml:"xmlns:at,attr,omitempty"`
	Deleted   []atDeleted  `xml:"at:deleted-entry"`
	Entries   []*atomEntry `xml:"entry"`
}

// atDeleted is a tombstone (RFC 6721).
type atDeleted struct {
	Ref  string `xml:"ref,attr"`
	When string `xml:"when,attr"`
}

// tombstonesNS is the namespace of RFC 6721's at:deleted-entry.
const tombstonesNS = "http://purl.org/atompub/tombstones/1.0"

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// WriteAtom writes f as an Atom 1.0 document (RFC 4287).
func (f *Feed) WriteAtom(w io.Writer) error {
	if err := f.check(); err != nil {
		return err
	}
	out := atomFeed{
		AtomFeed: gf.AtomFeed{
			Xmlns:    atomNS,
			Title:    f.Title,
			Id:       f.ID,
			Updated:  rfc3339(f.updated()),
			Subtitle: f.Description,
		},
		Lang:    f.Language,
		Links:   []gf.AtomLink{{Href: f.SelfURL, Rel: "self", Type: "application/atom+xml"}},
		Archive: archiveMark(f.Archive),
	}
	if f.HomeURL != "" {
		out.Links = append(out.Links, gf.AtomLink{Href: f.HomeURL, Rel: "alternate", Type: "text/html"})
	}
	if f.HubURL != "" {
		out.Links = append(out.Links, gf.AtomLink{Href: f.HubURL, Rel: "hub"})
	}
	for _, l := range f.Links {
		out.Links = append(out.Links, gf.AtomLink{Href: l.Href, Rel: l.Rel, Type: l.Type})
	}
	if f.Generator != "" {
		out.Generator = &atomGenerator{Name: f.Generator}
	}
	// RFC 4287 wants an author on the feed unless every entry has one.
	if f.Author != "" {
		out.Author = &gf.AtomAuthor{AtomPerson: gf.AtomPerson{Name: f.Author}}
	}
	for i := range f.Items {
		out.Entries = append(out.Entries, f.atomEntry(&f.Items[i]))
	}
	for _, d := range f.Deleted {
		out.AtNS = tombstonesNS
		out.Deleted = append(out.Deleted, atDeleted{Ref: d.ID, When: rfc3339(d.When)})
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// atomEntry is one item as an Atom entry: an author where the feed has
// none, and content or an alternate link, as RFC 4287 requires.
func (f *Feed) atomEntry(it *Item) *atomEntry {
	e := &atomEntry{
		AtomEntry: gf.AtomEntry{
			Title:   it.title(),
			Id:      it.ID,
			Updated: rfc3339(it.updated()),
		},
		Lang: it.Language,
	}
	if !it.Published.IsZero() {
		e.Published = rfc3339(it.Published)
	}
	if it.URL != "" {
		e.Links = []gf.AtomLink{{Href: it.URL, Rel: "alternate", Type: "text/html"}}
	}
	if it.Summary != "" {
		e.Summary = &gf.AtomSummary{Content: it.Summary, Type: "text"}
	}
	switch {
	case it.ContentHTML != "":
		e.Content = &gf.AtomContent{Content: it.ContentHTML, Type: "html"}
	case it.ContentText != "":
		e.Content = &gf.AtomContent{Content: it.ContentText, Type: "text"}
	case it.URL == "":
		// An entry needs content or an alternate link.
		e.Content = &gf.AtomContent{Content: "", Type: "text"}
	}
	authors := it.Authors
	if len(authors) == 0 && f.Author == "" {
		authors = []string{"unknown"}
	}
	for _, a := range authors {
		e.Authors = append(e.Authors, gf.AtomAuthor{AtomPerson: gf.AtomPerson{Name: a}})
	}
	for _, c := range it.Categories {
		e.Categories = append(e.Categories, atomCategory{Term: c.Term, Scheme: c.Scheme, Label: c.Label})
	}
	return e
}
