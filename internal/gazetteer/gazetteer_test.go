package gazetteer

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"hash/maphash"
	"strconv"
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
	if len(g.cities) < 4000 {
		t.Errorf("%d cities, want every city above 100,000 people", len(g.cities))
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
	// Names fold into the index on first use, each to its country, in
	// both gazetteers alike.
	for name, want := range map[string]string{"Suisse": "CH", "ESPAÑA": "ES", "côte d’ivoire": "CI", "Germany": "DE"} {
		for _, x := range []*Gazetteer{c, g} {
			if got, ok := x.Country(name); !ok || got != want {
				t.Errorf("Country(%q) = %q, %v; want %s", name, got, ok, want)
			}
		}
	}
	if len(c.countries()) != len(g.countries()) || len(c.countries()) < n {
		t.Errorf("%d and %d country names folded, for %d countries", len(c.countries()), len(g.countries()), n)
	}
}

// mapCity and citiesByMaps read the cities as the gazetteer once held
// them, a map of names per city and a map of cities per folded name: the
// index without pointers must find the same cities, in the same order,
// and resolve every name alike.
type mapCity struct {
	cc         string
	population int
	capital    bool
	names      map[string]string
}

func citiesByMaps(t *testing.T) map[string][]*mapCity {
	zr, err := gzip.NewReader(bytes.NewReader(placesGz))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]*mapCity{}
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if f[0] != "city" || len(f) != 8 {
			continue
		}
		pop, _ := strconv.Atoi(f[2])
		c := &mapCity{cc: f[1], population: pop, capital: f[3] == "1", names: map[string]string{"en": f[4], "fr": f[5], "es": f[6]}}
		seen := map[string]bool{}
		for _, n := range f[4:8] {
			if k := Key(n); k != "" && !seen[k] {
				seen[k] = true
				out[k] = append(out[k], c)
			}
		}
	}
	return out
}

func TestCityIndexAgreesWithMaps(t *testing.T) {
	g, ref := Default(), citiesByMaps(t)
	if len(ref) < 4000 {
		t.Fatalf("the reference read %d names", len(ref))
	}
	for k, want := range ref {
		got := g.citiesNamed(k)
		if len(got) != len(want) {
			t.Fatalf("%q: %d cities, want %d", k, len(got), len(want))
		}
		for i, id := range got {
			c, w := g.cities[id], want[i]
			for j, l := range langs {
				if g.name(&c, l) != w.names[l] || string(c.cc[:]) != w.cc || c.population != int64(w.population) || c.capital != w.capital {
					t.Fatalf("%q, city %d (%s): %q %s %d %v, want %q %s %d %v", k, i, langs[j], g.name(&c, l), c.cc, c.population, c.capital, w.names[l], w.cc, w.population, w.capital)
				}
			}
		}
	}
	if got := g.citiesNamed("atlantis"); len(got) != 0 {
		t.Errorf("atlantis: %d cities", len(got))
	}
	// Every name resolves as the maps resolve it: alone, and after a comma.
	best := func(cs []*mapCity, cc string) *mapCity {
		var b *mapCity
		for _, c := range cs {
			if cc != "" && c.cc != cc {
				continue
			}
			if b == nil || c.capital != b.capital && c.capital || c.capital == b.capital && c.population > b.population {
				b = c
			}
		}
		return b
	}
	n := 0
	for k, cs := range ref {
		if _, isCountry := g.countries()[k]; isCountry {
			continue
		}
		for _, lang := range []string{"en", "fr", "es", "de"} {
			w := best(cs, "")
			want := w.names["en"]
			if v := w.names[lang]; v != "" {
				want = v
			}
			if city, cc, ok := g.Resolve(k, lang); !ok || city != want || cc != w.cc {
				t.Fatalf("Resolve(%q, %s) = %q, %s, %v; want %q, %s", k, lang, city, cc, ok, want, w.cc)
			}
			n++
		}
		if w := best(cs, cs[len(cs)-1].cc); w != nil && !strings.Contains(g.CountryName(w.cc), ",") {
			place := k + ", " + g.CountryName(w.cc)
			if city, cc, ok := g.Resolve(place, "en"); !ok || city != w.names["en"] || cc != w.cc {
				t.Fatalf("Resolve(%q) = %q, %s, %v; want %q, %s", place, city, cc, ok, w.names["en"], w.cc)
			}
		}
	}
	if n < 16000 {
		t.Errorf("only %d names resolved", n)
	}
}

// Names whose hashes collide are told apart by their text.
func TestCitiesNamedComparesKeys(t *testing.T) {
	h := maphash.String(seed, "lima")
	g := &Gazetteer{keyText: "limalimo", cities: make([]city, 2),
		keys: []cityKey{{hash: h, key: span{4, 4}, city: 0}, {hash: h, key: span{0, 4}, city: 1}}}
	if got := g.citiesNamed("lima"); len(got) != 1 || got[0] != 1 {
		t.Errorf("lima: cities %v, want [1] (city 0's name is limo)", got)
	}
}
