package sniff

import (
	"testing"
	"time"
)

func TestHTML(t *testing.T) {
	for s, want := range map[string]bool{
		"<!DOCTYPE html><html><body>x</body></html>": true,
		"\ufeff  <html lang=fr>":                     true,
		"<div><head>oops</head><body>":               true,
		`<?xml version="1.0"?><rss version="2.0">`:   false,
		"<p>A fragment of a release.</p>":            false,
		"GENEVA, 3 May 2024 – plain text":            false,
		"":                                           false,
	} {
		if got := HTML(s); got != want {
			t.Errorf("HTML(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestDate(t *testing.T) {
	want := time.Date(2024, 5, 3, 8, 30, 0, 0, time.UTC)
	for _, s := range []string{
		"2024-05-03T10:30:00+02:00",
		"2024-05-03T08:30:00Z",
		"2024-05-03T08:30:00.000Z",
		"2024-05-03T08:30:00",
		"Fri, 03 May 2024 08:30:00 GMT",
		"Fri, 3 May 2024 10:30:00 +0200",
		"03 May 24 08:30 UTC",
		" 3 May 2024 08:30:00 +0000 ",
	} {
		got, ok := Date(s)
		if !ok || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("Date(%q) = %v, %v; want %v", s, got, ok, want)
		}
	}
	if got, ok := Date("2024-05-03"); !ok || !got.Equal(time.Date(2024, 5, 3, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("Date(2024-05-03) = %v, %v", got, ok)
	}
	for _, s := range []string{"", "yesterday", "3 mai 2024", "2024-13-45"} {
		if _, ok := Date(s); ok {
			t.Errorf("Date(%q) accepted", s)
		}
	}
}
