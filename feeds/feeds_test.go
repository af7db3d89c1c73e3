package feeds

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mmcdole/gofeed"
)

func sample() *Feed {
	t0 := time.Date(2017, 5, 26, 0, 0, 0, 0, time.UTC)
	return &Feed{
		ID: "https://hub.example/feeds/all", Title: "All", SelfURL: "https://hub.example/feeds/all.atom",
		HomeURL: "https://hub.example/", HubURL: "https://hub.example/websub", Author: "crier", Language: "fr",
		Items: []Item{
			{ID: "urn:uuid:1", URL: "https://hub.example/items/1", Title: "Un communiqué <b>&</b> plus", Summary: "Résumé",
				ContentHTML: "<p>Corps</p>", Published: t0, Updated: t0.Add(time.Hour), Language: "fr",
				Authors: []string{"IOM Belgium"}, Categories: []Category{{Term: "BE", Scheme: "https://hub.example/feeds/country/"}, {Term: "refugees"}},
				Extension: &Extension{Country: "BE", Topics: []string{"refugees"}, Sources: []string{"iom-be"}, Contacts: []Contact{}}},
			{ID: "urn:uuid:2", Title: "", ContentText: "No title, no URL", Published: t0},
		},
	}
}

func TestRoundTripThroughGofeed(t *testing.T) {
	for _, format := range Formats {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			if err := sample().Write(&buf, format); err != nil {
				t.Fatal(err)
			}
			f, err := gofeed.NewParser().Parse(&buf)
			if err != nil {
				t.Fatalf("gofeed: %v\n%s", err, buf.String())
			}
			if len(f.Items) != 2 {
				t.Fatalf("items: %d", len(f.Items))
			}
			it := f.Items[0]
			if it.GUID != "urn:uuid:1" || it.Title != "Un communiqué <b>&</b> plus" {
				t.Errorf("item: guid %q title %q", it.GUID, it.Title)
			}
			if f.FeedLink != "https://hub.example/feeds/all.atom" && format != "json" {
				t.Errorf("self link: %q", f.FeedLink)
			}
			if format != "json" && len(it.Categories) != 2 {
				t.Errorf("categories: %v", it.Categories)
			}
		})
	}
}

func TestAtomHasWhatGorillaLacks(t *testing.T) {
	var buf bytes.Buffer
	if err := sample().WriteAtom(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		`<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="fr">`,
		`rel="self"`, `rel="hub"`, `rel="alternate"`,
		`<category term="BE" scheme="https://hub.example/feeds/country/"></category>`,
		`<entry xml:lang="fr">`, `<id>urn:uuid:2</id>`, `<title>Untitled</title>`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("Atom lacks %s", want)
		}
	}
	var again bytes.Buffer
	sample().WriteAtom(&again)
	if again.String() != out {
		t.Error("two renders of the same feed differ")
	}
}

func TestRSSAndJSONExtras(t *testing.T) {
	var rss, js bytes.Buffer
	sample().WriteRSS(&rss)
	sample().WriteJSON(&js)
	for _, want := range []string{`<atom:link href="https://hub.example/feeds/all.atom" rel="self"`, `<guid isPermaLink="false">urn:uuid:1</guid>`, `<category domain="https://hub.example/feeds/country/">BE</category>`} {
		if !strings.Contains(rss.String(), want) {
			t.Errorf("RSS lacks %s", want)
		}
	}
	for _, want := range []string{`"version": "https://jsonfeed.org/version/1.1"`, `"_crier": {`, `"language": "fr"`, `"hubs"`} {
		if !strings.Contains(js.String(), want) {
			t.Errorf("JSON Feed lacks %s", want)
		}
	}
}

func TestInvalidFeedsRefused(t *testing.T) {
	for name, mutate := range map[string]func(*Feed){
		"item without id": func(f *Feed) { f.Items[1].ID = "" },
		"duplicate ids":   func(f *Feed) { f.Items[1].ID = f.Items[0].ID },
		"no self link":    func(f *Feed) { f.SelfURL = "" },
	} {
		f := sample()
		mutate(f)
		for _, format := range Formats {
			if err := f.Write(&bytes.Buffer{}, format); !errors.Is(err, ErrInvalid) {
				t.Errorf("%s, %s: got %v, want ErrInvalid", name, format, err)
			}
		}
	}
}
