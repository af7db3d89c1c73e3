// Package gazetteer resolves place names, as datelines write them in
// English, French or Spanish, to a city and an ISO 3166-1 alpha-2 country,
// offline, from data bundled with crier (see DATA.md).
package gazetteer

import (
	"bufio"
	"bytes"
	"cmp"
	"compress/gzip"
	_ "embed"
	"hash/maphash"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

//go:embed places.tsv.gz
var placesGz []byte

// city is one city, without a pointer: its names are spans of the
// gazetteer's text. The cities are held so that the collector has nothing
// to follow in them (a map per city, as they were, made every collection
// walk some 30,000 objects).
type city struct {
	cc         [2]byte
	population int64
	capital    bool
	names      [3]span // en, fr, es
}

// span is a string's place in a gazetteer's text.
type span struct{ off, n uint32 }

// cityKey is one folded name of one city: the keys are sorted by hash,
// and by the order the data gives within a hash, so that the cities of a
// name are a run of them in the data's order.
type cityKey struct {
	hash uint64
	key  span  // the folded name, in keyText
	city int32 // in cities
}

// Gazetteer is an index of countries and cities by folded name.
type Gazetteer struct {
	countries func() map[string]string // folded name -> CC, made on first use
	codes     []string                 // the countries' codes, in the data's order
	names     map[string][]string      // CC -> names (English first)
	cities    []city
	keys      []cityKey
	text      string // the cities' names
	keyText   string // their folded names
}

// langs are the languages of a city's names, in city.names' order.
var langs = [3]string{"en", "fr", "es"}

// seed hashes folded names for the index; any seed will do, as long as the
// process keeps it.
var seed = maphash.MakeSeed()

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
	g := &Gazetteer{names: map[string][]string{}}
	g.countries = sync.OnceValue(g.foldNames)
	var text, keyText strings.Builder
	add := func(b *strings.Builder, s string) span {
		sp := span{uint32(b.Len()), uint32(len(s))}
		b.WriteString(s)
		return sp
	}
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
			if _, seen := g.names[f[1]]; !seen {
				g.codes = append(g.codes, f[1])
			}
			g.names[f[1]] = strings.Split(f[2], "|")
		case f[0] == "city" && !cities:
			return g, nil
		case f[0] == "city" && len(f) == 8 && len(f[1]) == 2:
			pop, _ := strconv.ParseInt(f[2], 10, 64)
			c := city{cc: [2]byte{f[1][0], f[1][1]}, population: pop, capital: f[3] == "1"}
			for i := range langs {
				c.names[i] = add(&text, f[4+i])
			}
			id := int32(len(g.cities))
			g.cities = append(g.cities, c)
			seen := map[string]bool{}
			for _, n := range f[4:8] {
				k := Key(n)
				if k != "" && !seen[k] {
					seen[k] = true
					g.keys = append(g.keys, cityKey{hash: maphash.String(seed, k), key: add(&keyText, k), city: id})
				}
			}
		}
	}
	g.text, g.keyText = text.String(), keyText.String()
	// Stable: a name's cities stay in the data's order.
	slices.SortStableFunc(g.keys, func(a, b cityKey) int { return cmp.Compare(a.hash, b.hash) })
	return g, sc.Err()
}

// foldNames indexes the countries by folded name, a later country's name
// winning over an earlier one's as in the data's order. Folding some
// 1,500 names costs a few milliseconds, which a gazetteer used only to
// check or name country codes (every command's config check) never pays.
func (g *Gazetteer) foldNames() map[string]string {
	m := map[string]string{}
	for _, cc := range g.codes {
		for _, n := range g.names[cc] {
			m[Key(n)] = cc
		}
	}
	return m
}

// citiesNamed returns the cities whose folded name is key, in the data's
// order.
func (g *Gazetteer) citiesNamed(key string) []int32 {
	h := maphash.String(seed, key)
	i, _ := slices.BinarySearchFunc(g.keys, h, func(k cityKey, h uint64) int { return cmp.Compare(k.hash, h) })
	var out []int32
	for ; i < len(g.keys) && g.keys[i].hash == h; i++ {
		if k := g.keys[i]; g.keyText[k.key.off:k.key.off+k.key.n] == key {
			out = append(out, k.city)
		}
	}
	return out
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
	cc, ok := g.countries()[Key(name)]
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
	if cc, ok := g.countries()[Key(place)]; ok {
		return "", cc, true
	}
	if c := g.best(g.citiesNamed(Key(place)), ""); c != nil {
		return g.name(c, lang), string(c.cc[:]), true
	}
	// "City, Country" or "City, Region".
	if i := strings.LastIndexByte(place, ','); i > 0 {
		head, tail := place[:i], place[i+1:]
		want, tailIsCountry := g.countries()[Key(tail)]
		if c := g.best(g.citiesNamed(Key(head)), want); c != nil && (!tailIsCountry || string(c.cc[:]) == want) {
			return g.name(c, lang), string(c.cc[:]), true
		}
		if tailIsCountry {
			return "", want, true
		}
		// "UNITED NATIONS, New York": the place is the part after the comma.
		if c := g.best(g.citiesNamed(Key(tail)), ""); c != nil {
			return g.name(c, lang), string(c.cc[:]), true
		}
	}
	return "", "", false
}

func (g *Gazetteer) best(ids []int32, cc string) *city {
	var best *city
	for _, id := range ids {
		c := &g.cities[id]
		if cc != "" && string(c.cc[:]) != cc {
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

// name is c's name in lang, or in English.
func (g *Gazetteer) name(c *city, lang string) string {
	sp := c.names[0]
	for i, l := range langs {
		if l == lang && c.names[i].n > 0 {
			sp = c.names[i]
		}
	}
	return g.text[sp.off : sp.off+sp.n]
}
