package normalize

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzNormalize runs the normalizer on arbitrary bytes, as text and as
// HTML: it must not panic, and what it returns must be valid UTF-8 with no
// script left in the HTML.
func FuzzNormalize(f *testing.F) {
	for _, dir := range []string{"../../testdata/releases", "testdata/golden/iom-ch", "testdata/golden/oim-gt"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.*"))
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b, p[len(p)-4:] == "html")
			}
		}
	}
	f.Add([]byte{0xff, 0xfe, 0x41, 0x00}, false)
	f.Add([]byte("<script>alert(1)</script><h1>T</h1><p>GENEVA, 31 February 2021 – x</p>"), true)
	f.Add([]byte("(X) – (12/13) hier yesterday ayer 99/99/9999"), false)
	n := New(goldenTopics)
	f.Fuzz(func(t *testing.T, raw []byte, html bool) {
		format := Text
		if html {
			format = HTML
		}
		r := n.Normalize(Input{Raw: raw, Format: format, Date: goldenRef, Language: "en", Frame: LearnFrame([]Input{{Raw: raw}, {Raw: raw}})})
		for _, s := range []string{r.Title, r.Text, r.HTML, r.Summary, r.City} {
			if !utf8.ValidString(s) {
				t.Fatalf("invalid UTF-8 in output: %q", s)
			}
		}
		if strings.Contains(strings.ToLower(r.HTML), "<script") {
			t.Fatalf("script left in HTML: %q", r.HTML)
		}
		// A date is given with where it comes from; without one, none is
		// made up.
		switch r.DateSource {
		case Stated, Inferred:
			if r.Published.IsZero() {
				t.Fatalf("date_source %s with no date", r.DateSource)
			}
		case FirstSeen:
			if !r.Published.IsZero() {
				t.Fatalf("a date (%v) presented for a release without one", r.Published)
			}
		default:
			t.Fatalf("date_source %q", r.DateSource)
		}
	})
}

func TestBadInputKeepsWhatCanBeKnown(t *testing.T) {
	n := New(goldenTopics)
	ref := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name string
		raw  []byte
	}{
		{"empty", nil},
		{"binary", []byte{0, 1, 2, 3, 0xff, 0xd8, 0xff, 0xe0, 0, 0, 0x10, 'J', 'F', 'I', 'F'}},
		{"latin-1", []byte("R\xe9fugi\xe9s \xe0 Gen\xe8ve: un communiqu\xe9 sans date ni lieu connu")},
		{"german", []byte("Die Internationale Organisation für Migration hat heute einen Bericht veröffentlicht, der zeigt, dass die Zahl der Vertriebenen weiter steigt und dass die Hilfe nicht ausreicht, um die Menschen zu versorgen, die auf der Flucht sind.")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := n.Normalize(Input{Raw: tt.raw, Date: ref, Language: "fr"})
			if r.DateKnown || !r.Published.IsZero() || r.DateSource != FirstSeen {
				t.Errorf("date: got %v (%s), want none: a file's time is no evidence", r.Published, r.DateSource)
			}
			if r.Country != "" || r.City != "" {
				t.Errorf("invented a place: %q %q", r.City, r.Country)
			}
			if !utf8.ValidString(r.Text) || !utf8.ValidString(r.Title) {
				t.Error("invalid UTF-8")
			}
		})
	}
	german := n.Normalize(Input{Raw: tests[3].raw, Language: "fr", Date: ref})
	if german.Language != "de" {
		t.Errorf("a German release: language %q, want de (visible, not passed off as the source's fr)", german.Language)
	}
}

// Two releases of one source that share their lead paragraph (a release
// republished under a new title) must not lose it as "frame".
func TestSharedLeadIsNotFrame(t *testing.T) {
	lead := "GENEVA – " + strings.Repeat("The International Organization for Migration said families need shelter and water. ", 6)
	a := Input{Raw: []byte("First headline about shelter for families\n\n" + lead + "\n")}
	b := Input{Raw: []byte("Second headline, same story, new title\n\n" + lead + "\n")}
	f := LearnFrame([]Input{a, b})
	a.Frame = f
	r := New(nil).Normalize(a)
	if r.Title != "First headline about shelter for families" || !strings.Contains(r.Text, "GENEVA") {
		t.Errorf("title %q, text %q", r.Title, r.Text)
	}
}

// Titles are plain text whatever the path: a page's heading, its <title>,
// a feed entry's title.
func TestTitlesArePlainText(t *testing.T) {
	n := New(nil)
	body := "<p>GENEVA, 3 May 2021 – The organisation opened a centre for families who left their homes after the floods this spring.</p>"
	for _, in := range []Input{
		{Raw: []byte("<html><body><h1>&lt;script&gt;alert(1)&lt;/script&gt;Floods <b>centre</b></h1>" + body + "</body></html>"), Format: HTML},
		{Raw: []byte("<html><head><title>&lt;img src=x onerror=alert(1)&gt;Floods centre</title></head><body>" + body + "</body></html>"), Format: HTML},
		{Raw: []byte(body), Format: HTML, Title: "<script>alert(1)</script>Floods <i>centre</i>"},
	} {
		r := n.Normalize(in)
		if strings.ContainsAny(r.Title, "<>") || strings.Contains(r.Title, "alert") || r.Title == "" {
			t.Errorf("title %q: want plain text without the markup", r.Title)
		}
	}
}
