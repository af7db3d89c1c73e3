package gazetteer

import (
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	g := Default()
	tests := []struct {
		place, lang string
		city, cc    string
	}{
		{"Bruxelles", "fr", "Bruxelles", "BE"},
		{"Brussels", "fr", "Bruxelles", "BE"},
		{"GENEVA", "en", "Geneva", "CH"},
		{"Genève", "es", "Ginebra", "CH"},
		{"Ginebra", "fr", "Genève", "CH"},
		{"Washington, D.C.", "fr", "Washington", "US"},
		{"Minsk", "fr", "Minsk", "BY"},
		{"Ciudad de Guatemala", "es", "Ciudad de Guatemala", "GT"},
		{"NAIROBI, Kenya", "en", "Nairobi", "KE"},
		{"Belgique", "fr", "", "BE"},
		{"Bélgica", "es", "", "BE"},
		{"Guatemala", "es", "", "GT"},            // a country wins over a city's French name
		{"London", "en", "London", "GB"},         // the capital before London, Ontario
		{"London, Canada", "en", "London", "CA"}, // a named country wins
		{"Nueva York", "es", "Nueva York", "US"},
		{"Springfield, Kenya", "en", "", "KE"}, // unknown city in a known country
	}
	for _, tt := range tests {
		city, cc, ok := g.Resolve(tt.place, tt.lang)
		if !ok || city != tt.city || cc != tt.cc {
			t.Errorf("Resolve(%q, %s) = %q, %q, %v; want %q, %q", tt.place, tt.lang, city, cc, ok, tt.city, tt.cc)
		}
	}
	if _, _, ok := g.Resolve("Atlantis", "en"); ok {
		t.Error("an unknown place resolved")
	}
}

func TestCoverage(t *testing.T) {
	g := Default()
	if n := len(g.names); n < 240 {
		t.Errorf("%d countries, want every ISO 3166-1 country", n)
	}
	cities := map[*city]bool{}
	for _, cs := range g.cities {
		for _, c := range cs {
			cities[c] = true
		}
	}
	if len(cities) < 4000 {
		t.Errorf("%d cities, want every city above 100,000 people", len(cities))
	}
	if !g.Known("be") || g.Known("ZZ") {
		t.Error("Known: wrong answer for BE or ZZ")
	}
}

// The countries read without the cities are the gazetteer's own: the
// same codes, under the same names.
func TestCountriesAgreeWithDefault(t *testing.T) {
	g, c := Default(), Countries()
	n := 0
	for cc := range g.names {
		n++
		if !c.Known(cc) || !c.Known(strings.ToLower(cc)) {
			t.Errorf("%s is not known", cc)
		}
		if got, want := c.CountryName(cc), g.CountryName(cc); got != want {
			t.Errorf("%s is named %q, want %q", cc, got, want)
		}
	}
	for _, cc := range []string{"XX", "ZZ", "", "FRA"} {
		if c.Known(cc) {
			t.Errorf("%q is known", cc)
		}
	}
	if n < 240 {
		t.Errorf("only %d countries", n)
	}
}
