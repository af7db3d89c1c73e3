package gather

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/mmcdole/gofeed"

	"github.com/crier-hub/crier/internal/sniff"
)

// ErrNotFeed is returned for a document that holds no feed.
var ErrNotFeed = errors.New("not a feed")

// Parsed is a feed read into documents, with what had to be forgiven.
type Parsed struct {
	Format   string // rss, atom, json, or xml for the generic reader
	Docs     []Doc
	Warnings []string
}

// ParseFeed reads an RSS, Atom, RDF or JSON feed of any vintage and
// encoding. The policy for broken input is one: what yields entries is
// accepted, with a warning saying what was wrong (not well-formed XML, a
// mistyped JSON field, a charset that lied); what yields no feed at all is
// refused with ErrNotFeed and the reason. base resolves relative links.
func ParseFeed(body []byte, contentType, base string) (Parsed, error) {
	trimmed := bytes.TrimLeft(bytes.TrimPrefix(body, []byte{0xEF, 0xBB, 0xBF}), " \t\r\n")
	if len(trimmed) == 0 {
		return Parsed{}, fmt.Errorf("%w: the document is empty", ErrNotFeed)
	}
	if trimmed[0] == '{' || trimmed[0] == '[' {
		return parseJSONFeed(trimmed, base)
	}
	text, warnings := toUTF8(body, contentType)
	if p, ok := fastRSS(text, base); ok {
		p.Warnings = warnings
		return p, nil
	}
	return parseXML(text, warnings, base)
}

// parseXML reads an XML feed of any form: gofeed first, checked for
// well-formedness beside it, then the generic reader.
func parseXML(text string, warnings []string, base string) (Parsed, error) {
	p := Parsed{Warnings: warnings}
	// Whether the document is well-formed decides only a warning: it is
	// checked on another core while gofeed parses.
	formed := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				formed <- fmt.Errorf("the XML checker failed: %v", r)
			}
		}()
		formed <- wellFormed(text)
	}()
	fp := gofeed.NewParser()
	// crier keeps no feed or item images: gofeed need not parse every
	// item's HTML to find one.
	fp.RSSTranslator = &gofeed.DefaultRSSTranslator{DisableContentImageScan: true}
	f, err := fp.ParseString(text)
	if err := <-formed; err != nil {
		p.Warnings = append(p.Warnings, "not well-formed XML ("+err.Error()+"); read leniently")
	}
	if err == nil {
		p.Format = f.FeedType
		base = cmp.Or(f.Link, base)
		for _, it := range f.Items {
			p.Docs = append(p.Docs, itemDoc(it, base))
		}
		return p, nil
	}
	// gofeed knows no RSS 1.1 and no lone Atom entry, and gives up on some
	// broken documents: read any item or entry elements there are.
	docs, root, gerr := genericItems(text, base)
	if gerr == nil && (len(docs) > 0 || feedRoot(root)) {
		p.Format = "xml"
		p.Docs = docs
		p.Warnings = append(p.Warnings, "read by the generic reader: "+err.Error())
		return p, nil
	}
	if sniff.HTML(text) {
		return Parsed{}, fmt.Errorf("%w: the document is an HTML page, not RSS, Atom or JSON Feed", ErrNotFeed)
	}
	return Parsed{}, fmt.Errorf("%w: %v", ErrNotFeed, err)
}

func feedRoot(name string) bool {
	switch strings.ToLower(name) {
	case "rss", "feed", "rdf", "channel", "entry":
		return true
	}
	return false
}

// wellFormed checks a document with a strict XML reader, and that every
// namespace prefix it uses is declared. Entities are never expanded beyond
// the predefined five, so an entity bomb costs nothing here.
func wellFormed(s string) error {
	d := xml.NewDecoder(strings.NewReader(s))
	d.Strict = true
	var scopes []map[string]bool
	declared := func(prefix string) bool {
		if prefix == "" || prefix == "xml" || prefix == "xmlns" {
			return true
		}
		for i := len(scopes) - 1; i >= 0; i-- {
			if scopes[i][prefix] {
				return true
			}
		}
		return false
	}
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			scope := map[string]bool{}
			for _, a := range t.Attr {
				if a.Name.Space == "xmlns" {
					scope[a.Name.Local] = true
				}
			}
			scopes = append(scopes, scope)
			if !declared(t.Name.Space) {
				line, _ := d.InputPos()
				return fmt.Errorf("line %d: undeclared namespace prefix %q", line, t.Name.Space)
			}
			for _, a := range t.Attr {
				if !declared(a.Name.Space) {
					line, _ := d.InputPos()
					return fmt.Errorf("line %d: undeclared namespace prefix %q", line, a.Name.Space)
				}
			}
		case xml.EndElement:
			if len(scopes) > 0 {
				scopes = scopes[:len(scopes)-1]
			}
		}
	}
}

// itemDoc turns a gofeed item into a document.
func itemDoc(it *gofeed.Item, base string) Doc {
	d := Doc{Title: it.Title, URL: resolve(base, it.Link)}
	raw := cmp.Or(it.Content, it.Description)
	d.Raw = []byte(raw)
	d.HTML = strings.ContainsAny(raw, "<&")
	switch {
	case it.PublishedParsed != nil:
		d.Date = it.PublishedParsed.UTC()
	case it.UpdatedParsed != nil:
		d.Date = it.UpdatedParsed.UTC()
	}
	d.DateStated = !d.Date.IsZero()
	d.Key = cmp.Or(it.GUID, d.URL)
	if d.Key == "" {
		d.Key = contentKey(it.Title, raw, d.Date)
	}
	return d
}

// contentKey identifies an entry that has neither guid nor link.
func contentKey(title, body string, date time.Time) string {
	h := sha256.Sum256([]byte(title + "\x00" + body + "\x00" + date.Format(time.RFC3339)))
	return "sha256:" + hex.EncodeToString(h[:16])
}

// resolve makes a link absolute against base; a link that is not an
// http(s) URL once resolved is dropped.
func resolve(base, link string) string {
	link = strings.TrimSpace(link)
	if link == "" {
		return ""
	}
	u, err := url.Parse(link)
	if err != nil {
		return ""
	}
	if b, err := url.Parse(base); err == nil && base != "" {
		u = b.ResolveReference(u)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return u.String()
}

// setField sets the field of an item or entry that the element name
// holds; date keeps the first date element, read when the item ends.
func setField(cur *Doc, date *string, base, name, v string) {
	switch name {
	case "title":
		cur.Title = v
	case "link":
		if cur.URL == "" {
			cur.URL = resolve(base, v)
		}
	case "guid", "id":
		cur.Key = v
	case "description", "content", "summary", "encoded":
		if len(cur.Raw) == 0 || name == "content" || name == "encoded" {
			cur.Raw = []byte(v)
		}
	case "pubdate", "published", "updated", "date", "issued", "modified":
		if *date == "" {
			*date = v
		}
	}
}

// finishItem completes an item or entry at its end: its date, whether its
// content is HTML, and a key when it has neither guid nor id.
func finishItem(cur *Doc, date string) Doc {
	if dt, ok := sniff.Date(date); ok {
		cur.Date, cur.DateStated = dt, true
	}
	cur.HTML = bytes.ContainsAny(cur.Raw, "<&")
	if cur.Key == "" {
		cur.Key = cmp.Or(cur.URL, contentKey(cur.Title, string(cur.Raw), cur.Date))
	}
	return *cur
}

// genericItems reads the item and entry elements of any XML document: their
// title, link, guid or id, date, and description or content.
func genericItems(s, base string) ([]Doc, string, error) {
	d := xml.NewDecoder(strings.NewReader(s))
	d.Strict = false
	d.Entity = xml.HTMLEntity
	var docs []Doc
	var root string
	var cur *Doc
	var field string
	var text strings.Builder
	var date string
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			if len(docs) > 0 {
				break // keep the entries read before the break in the document
			}
			return nil, root, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = t.Name.Local
			}
			name := strings.ToLower(t.Name.Local)
			switch {
			case name == "item" || name == "entry":
				cur, date = &Doc{}, ""
			case cur != nil && field == "":
				field = name
				text.Reset()
				if name == "link" {
					for _, a := range t.Attr {
						if a.Name.Local == "href" && cur.URL == "" {
							cur.URL = resolve(base, a.Value)
						}
					}
				}
			}
		case xml.CharData:
			if cur != nil && field != "" {
				text.Write(t)
			}
		case xml.EndElement:
			name := strings.ToLower(t.Name.Local)
			switch {
			case cur != nil && (name == "item" || name == "entry"):
				docs = append(docs, finishItem(cur, date))
				cur = nil
			case cur != nil && name == field:
				setField(cur, &date, base, name, strings.TrimSpace(text.String()))
				field = ""
			}
		}
	}
	return docs, root, nil
}
