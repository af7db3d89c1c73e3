package gather

import (
	"strings"
	"testing"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
)

func TestDecodePagesInTheirCharset(t *testing.T) {
	cyr, _ := charmap.Windows1251.NewEncoder().String("МОМ открывает центр")
	latin, _ := charmap.ISO8859_1.NewEncoder().String("Réfugiés à Genève")
	utf16le, _ := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder().String("<p>Réfugiés</p>")
	for _, tt := range []struct {
		name, contentType, body, want string
	}{
		{"meta charset", "text/html", `<html><head><meta charset="windows-1251"></head><body>` + cyr + `</body></html>`, "МОМ открывает центр"},
		{"http-equiv", "", `<meta http-equiv="Content-Type" content="text/html; charset=windows-1251"><p>` + cyr, "МОМ открывает центр"},
		{"HTTP header", "text/html; charset=windows-1251", `<p>` + cyr, "МОМ открывает центр"},
		{"HTTP header beats meta", "text/html; charset=iso-8859-1", `<meta charset="utf-8"><p>` + latin, "Réfugiés à Genève"},
		{"BOM beats HTTP header", "text/html; charset=windows-1251", "\xef\xbb\xbf<p>Réfugiés", "Réfugiés"},
		{"UTF-16 with BOM", "", utf16le, "<p>Réfugiés</p>"},
		{"undeclared Latin-1", "", "<p>" + latin, "Réfugiés à Genève"},
		{"undeclared UTF-8", "", "<p>Réfugiés à Genève", "Réfugiés à Genève"},
		{"text file in Windows-1252", "", "R\xe9fugi\xe9s \x96 Gen\xe8ve", "Réfugiés – Genève"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(Decode([]byte(tt.body), tt.contentType)); !strings.Contains(got, tt.want) {
				t.Errorf("got %q, want it to contain %q", got, tt.want)
			}
		})
	}
}

// A feed that declares UTF-16 but is sent as UTF-8 is read as UTF-8.
func TestFeedDeclaredUTF16SentAsUTF8(t *testing.T) {
	feed := `<?xml version="1.0" encoding="UTF-16"?><rss version="2.0"><channel><title>T</title><item><title>Réfugiés</title><guid>1</guid><description>Un communiqué</description></item></channel></rss>`
	for _, ct := range []string{"application/rss+xml", "application/rss+xml; charset=utf-16"} {
		p, err := ParseFeed([]byte(feed), ct, "https://example.org/feed")
		if err != nil {
			t.Fatalf("%s: %v", ct, err)
		}
		if len(p.Docs) != 1 || p.Docs[0].Title != "Réfugiés" || len(p.Warnings) == 0 {
			t.Errorf("%s: %d docs, title %q, warnings %v", ct, len(p.Docs), p.Docs[0].Title, p.Warnings)
		}
	}
}
