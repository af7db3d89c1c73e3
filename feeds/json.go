package feeds

import (
	"encoding/json"
	"io"

	gf "github.com/gorilla/feeds"
)

// JSONFeedVersion is the version URL JSON Feed 1.1 documents carry.
const JSONFeedVersion = "https://jsonfeed.org/version/1.1"

// JSONItem is a JSON Feed 1.1 item with crier's extension. It extends
// gorilla's item with the 1.1 language field and _crier.
type JSONItem struct {
	*gf.JSONItem
	Language string     `json:"language,omitempty"`
	Crier    *Extension `json:"_crier,omitempty"`
}

type jsonFeed struct {
	*gf.JSONFeed
	Items []*JSONItem `json:"items"`
}

// JSONItemOf returns it as a JSON Feed item.
func JSONItemOf(it *Item) *JSONItem {
	ji := &gf.JSONItem{
		Id:          it.ID,
		Url:         it.URL,
		Title:       it.title(),
		ContentHTML: it.ContentHTML,
		ContentText: it.ContentText,
		Summary:     it.Summary,
	}
	if ji.ContentHTML == "" && ji.ContentText == "" {
		ji.ContentText = it.Summary // JSON Feed requires one of the two
	}
	if !it.Published.IsZero() {
		p := it.Published.UTC()
		ji.PublishedDate = &p
	}
	if u := it.updated(); !u.IsZero() {
		u = u.UTC()
		ji.ModifiedDate = &u
	}
	for _, a := range it.Authors {
		ji.Authors = append(ji.Authors, &gf.JSONAuthor{Name: a})
	}
	for _, c := range it.Categories {
		ji.Tags = append(ji.Tags, c.Term)
	}
	return &JSONItem{JSONItem: ji, Language: it.Language, Crier: it.Extension}
}

// WriteJSON writes f as a JSON Feed 1.1 document.
func (f *Feed) WriteJSON(w io.Writer) error {
	if err := f.check(); err != nil {
		return err
	}
	out := jsonFeed{
		JSONFeed: &gf.JSONFeed{
			Version:     JSONFeedVersion,
			Title:       f.Title,
			Language:    f.Language,
			HomePageUrl: f.HomeURL,
			FeedUrl:     f.SelfURL,
			Description: f.Description,
		},
		Items: []*JSONItem{},
	}
	if f.Author != "" {
		out.Authors = []*gf.JSONAuthor{{Name: f.Author}}
	}
	if f.HubURL != "" {
		out.Hubs = []*gf.JSONHub{{Type: "WebSub", Url: f.HubURL}}
	}
	for _, l := range f.Links {
		if l.Rel == "next-archive" || l.Rel == "next" {
			out.NextUrl = l.Href
		}
	}
	for i := range f.Items {
		out.Items = append(out.Items, JSONItemOf(&f.Items[i]))
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
