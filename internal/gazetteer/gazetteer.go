// Package gazetteer resolves place names, as datelines write them in
// English, French or Spanish, to a city and an ISO 3166-1 alpha-2 country,
// offline, from data bundled with crier (see DATA.md).
package gazetteer

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

//go:embed places.tsv.gz
var placesGz []byte

type city struct {
	cc         string
	population int
	capital    bool
	names      map[string]string // language -> name
}

// Gazetteer is an index of countries and cities by folded name.
type Gazetteer struct {
	countries map[string]string   // folded name -> CC
	names     map[string][]string // CC -> names (English first)
	cities    map[string][]*city  // folded name -> cities
}

var (
	once sync.Once
	def  *Gazetteer
)

// Default returns the bundled gazetteer, loaded on first use.
func Default() *Gazetteer {
	once.Do(func() {
		g, err := parse(placesGz, true)
		if err != nil {
			panic("gazetteer: bundled data is corrupt: " + err.Error())
		}
		def = g
	})
	return def
}

// parse reads the bundled data: its countries, and its cities too when
// cities (the countries come first).
func parse(gz []byte, cities bool) (*Gazetteer, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, err
	}
	g := &Gazetteer{countries: map[string]string{}, names: map[string][]string{}, cities: map[string][]*city{}}
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Split(line, "\t")
		switch {
		case f[0] == "country" && len(f) == 3:
			names := strings.Split(f[2], "|")
			g.names[f[1]] = names
			for _, n := range names {
				g.countries[Key(n)] = f[1]
			}
		case f[0] == "city" && !cities:
			return g, nil
		case f[0] == "city" && len(f) == 8:
			pop, _ := strconv.Atoi(f[2])
			c := &city{cc: f[1], population: pop, capital: f[3] == "1",
				names: map[string]string{"en": f[4], "fr": f[5], "es": f[6]}}
			seen := map[string]bool{}
			for _, n := range f[4:8] {
				k := Key(n)
				if k != "" && !seen[k] {
					seen[k] = true
					g.cities[k] = append(g.cities[k], c)
				}
			}
		}
	}
	return g, sc.Err()
}

// Key folds a place name for lookup: lower case, no accents, punctuation
// as spaces: "Washington, D.C." and "washington dc" differ, "Genève" and
// "GENEVE" do not.
func Key(s string) string {
	var b strings.Builder
	space := false
	for _, r := range norm.NFD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
			continue
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteRune(unicode.ToLower(r))
		case r == '\'' || r == '’':
			// "N'Djamena" and "NDjamena" alike
		default:
			space = true
		}
	}
	return b.String()
}

// Country returns the country a name designates, in any of its spellings.
func (g *Gazetteer) Country(name string) (string, bool) {
	cc, ok := g.countries[Key(name)]
	return cc, ok
}

// Countries returns the bundled gazetteer's countries without its
// cities: enough to check a country code or name one, and much quicker
// to read.
func Countries() *Gazetteer {
	countriesOnce.Do(func() {
		if g, err := parse(placesGz, false); err == nil {
			countries = g
		} else {
			countries = Default() // which says what is wrong with the data
		}
	})
	return countries
}

var (
	countriesOnce sync.Once
	countries     *Gazetteer
)

// Known reports whether cc is an ISO 3166-1 alpha-2 code.
func (g *Gazetteer) Known(cc string) bool {
	_, ok := g.names[strings.ToUpper(cc)]
	return ok
}

// CountryName returns a country's English name, or cc itself.
func (g *Gazetteer) CountryName(cc string) string {
	if n := g.names[strings.ToUpper(cc)]; len(n) > 0 {
		return n[0]
	}
	return cc
}

// Resolve finds the place a dateline names. A place that is a country gives
// that country and no city. Otherwise, among the cities of that name, one
// in a country the place also names wins ("NAIROBI, Kenya"), then a
// capital, then the most populous. The city comes back spelt in lang
// (en, fr or es), or in English. ok is false for an unknown place.
func (g *Gazetteer) Resolve(place, lang string) (cityName, cc string, ok bool) {
	place = strings.TrimSpace(place)
	if cc, ok := g.countries[Key(place)]; ok {
		return "", cc, true
	}
	if c := g.best(g.cities[Key(place)], ""); c != nil {
		return c.name(lang), c.cc, true
	}
	// "City, Country" or "City, Region".
	if i := strings.LastIndexByte(place, ','); i > 0 {
		head, tail := place[:i], place[i+1:]
		want, tailIsCountry := g.countries[Key(tail)]
		if c := g.best(g.cities[Key(head)], want); c != nil && (!tailIsCountry || c.cc == want) {
			return c.name(lang), c.cc, true
		}
		if tailIsCountry {
			return "", want, true
		}
		// "UNITED NATIONS, New York": the place is the part after the comma.
		if c := g.best(g.cities[Key(tail)], ""); c != nil {
			return c.name(lang), c.cc, true
		}
	}
	return "", "", false
}

func (g *Gazetteer) best(cs []*city, cc string) *city {
	var best *city
	for _, c := range cs {
		if cc != "" && c.cc != cc {
			continue
		}
		if best == nil || better(c, best) {
			best = c
		}
	}
	if best == nil && cc != "" {
		return nil
	}
	return best
}

func better(a, b *city) bool {
	if a.capital != b.capital {
		return a.capital
	}
	return a.population > b.population
}

func (c *city) name(lang string) string {
	if n := c.names[lang]; n != "" {
		return n
	}
	return c.names["en"]
}
