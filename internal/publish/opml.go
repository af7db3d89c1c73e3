package publish

import (
	"encoding/xml"
	"net/http"
	"strings"
	"time"

	"github.com/crier-hub/crier/internal/gazetteer"
)

type opmlOutline struct {
	Text     string        `xml:"text,attr"`
	Title    string        `xml:"title,attr,omitempty"`
	Type     string        `xml:"type,attr,omitempty"`
	XMLURL   string        `xml:"xmlUrl,attr,omitempty"`
	HTMLURL  string        `xml:"htmlUrl,attr,omitempty"`
	Children []opmlOutline `xml:"outline"`
}

type opmlDoc struct {
	XMLName xml.Name `xml:"opml"`
	Version string   `xml:"version,attr"`
	Head    struct {
		Title       string `xml:"title"`
		DateCreated string `xml:"dateCreated,omitempty"`
		OwnerName   string `xml:"ownerName,omitempty"`
	} `xml:"head"`
	Body struct {
		Outlines []opmlOutline `xml:"outline"`
	} `xml:"body"`
}

// opml serves an OPML 2.0 list of the Atom feeds of every source, topic,
// and every country and language crier has items for.
func (s *Server) opml(w http.ResponseWriter, r *http.Request) {
	facets, err := s.store.ItemFacets(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	base := s.cfg.Server.BaseURL
	feed := func(title, path string) opmlOutline {
		return opmlOutline{Text: title, Title: title, Type: "rss", XMLURL: base + path + ".atom", HTMLURL: base + "/"}
	}
	var doc opmlDoc
	doc.Version = "2.0"
	doc.Head.Title = "crier feeds"
	doc.Head.OwnerName = "crier"
	doc.Head.DateCreated = facets.Latest.Format(time.RFC1123Z)
	all := opmlOutline{Text: "All releases", Children: []opmlOutline{feed("All releases", "/feeds/all")}}
	sources := opmlOutline{Text: "Sources"}
	for _, src := range s.cfg.Sources {
		sources.Children = append(sources.Children, feed(src.Name, "/feeds/source/"+src.ID))
	}
	topics := opmlOutline{Text: "Topics"}
	for _, t := range s.cfg.Topics {
		topics.Children = append(topics.Children, feed(t.Name, "/feeds/topic/"+t.Slug))
	}
	countries := opmlOutline{Text: "Countries"}
	for _, c := range facets.Countries {
		countries.Children = append(countries.Children, feed(gazetteer.Countries().CountryName(c), "/feeds/country/"+strings.ToLower(c)))
	}
	langs := opmlOutline{Text: "Languages"}
	for _, l := range facets.Languages {
		langs.Children = append(langs.Children, feed("Releases in "+l, "/feeds/language/"+l))
	}
	doc.Body.Outlines = []opmlOutline{all, sources, topics, countries, langs}
	out, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	serveBytes(w, r, "text/x-opml; charset=utf-8", facets.Latest, s.cfg.Feeds.MaxAge, append([]byte(xml.Header), out...))
}
