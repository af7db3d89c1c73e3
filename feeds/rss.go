package feeds

import (
	"encoding/xml"
	"io"
	"time"

	gf "github.com/gorilla/feeds"
)

type rssCategory struct {
	XMLName xml.Name `xml:"category"`
	Domain  string   `xml:"domain,attr,omitempty"`
	Term    string   `xml:",chardata"`
}

// rssAtomLink is an atom:link inside RSS, as the RSS Advisory Board
// recommends for rel="self" and WebSub's rel="hub".
type rssAtomLink struct {
	XMLName xml.Name `xml:"atom:link"`
	Href    string   `xml:"href,attr"`
	Rel     string   `xml:"rel,attr"`
	Type    string   `xml:"type,attr,omitempty"`
}

// rssItem extends gorilla's item with several categories and xml:lang.
type rssItem struct {
	gf.RssItem
	Lang       string   `xml:"xml:lang,attr,omitempty"`
	Creators   []string `xml:"dc:creator"`
	Categories []rssCategory
}

type rssChannel struct {
	gf.RssFeed
	AtomLinks []rssAtomLink
	Archive   *fhArchive
	Items     []*rssItem `xml:"item"`
}

type rssDoc struct {
	XMLName xml.Name `xml:"rss"`
	Version string   `xml:"version,attr"`
	Content string   `xml:"xmlns:content,attr"`
	Atom    string   `xml:"xmlns:atom,attr"`
	DC      string   `xml:"xmlns:dc,attr"`
	Channel *rssChannel
}

func rfc1123(t time.Time) string { return t.UTC().Format(time.RFC1123Z) }

// WriteRSS writes f as an RSS 2.0 document.
func (f *Feed) WriteRSS(w io.Writer) error {
	if err := f.check(); err != nil {
		return err
	}
	link := f.HomeURL
	if link == "" {
		link = f.SelfURL
	}
	desc := f.Description
	if desc == "" {
		desc = f.Title
	}
	ch := &rssChannel{
		RssFeed: gf.RssFeed{
			Title:         f.Title,
			Link:          link,
			Description:   desc,
			Language:      f.Language,
			LastBuildDate: rfc1123(f.updated()),
			Generator:     f.Generator,
			Docs:          "https://www.rssboard.org/rss-specification",
		},
		AtomLinks: []rssAtomLink{{Href: f.SelfURL, Rel: "self", Type: "application/rss+xml"}},
		Archive:   archiveMark(f.Archive),
	}
	if f.HubURL != "" {
		ch.AtomLinks = append(ch.AtomLinks, rssAtomLink{Href: f.HubURL, Rel: "hub"})
	}
	for _, l := range f.Links {
		ch.AtomLinks = append(ch.AtomLinks, rssAtomLink{Href: l.Href, Rel: l.Rel, Type: l.Type})
	}
	for i := range f.Items {
		it := &f.Items[i]
		ri := &rssItem{
			RssItem: gf.RssItem{
				Title: it.title(),
				Link:  it.URL,
				Guid:  &gf.RssGuid{Id: it.ID, IsPermaLink: "false"},
			},
			Lang:     it.Language,
			Creators: it.Authors,
		}
		switch {
		case it.ContentHTML != "":
			ri.Description = it.ContentHTML
		case it.Summary != "":
			ri.Description = it.Summary
		default:
			ri.Description = it.ContentText
		}
		if !it.Published.IsZero() {
			ri.PubDate = rfc1123(it.Published)
		}
		for _, c := range it.Categories {
			ri.Categories = append(ri.Categories, rssCategory{Domain: c.Scheme, Term: c.Term})
		}
		ch.Items = append(ch.Items, ri)
	}
	doc := rssDoc{Version: "2.0", Content: "http://purl.org/rss/1.0/modules/content/", Atom: atomNS,
		DC: "http://purl.org/dc/elements/1.1/", Channel: ch}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
