package normalize

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// goldenRecord is what a golden file holds of a Record.
type goldenRecord struct {
	Title      string    `json:"title"`
	Summary    string    `json:"summary"`
	Date       string    `json:"date"`
	DateSource string    `json:"date_source"`
	Place      string    `json:"place"`
	City       string    `json:"city"`
	Country    string    `json:"country"`
	Language   string    `json:"language"`
	Topics     []string  `json:"topics"`
	Contacts   []Contact `json:"contacts"`
	Text       string    `json:"text"`
}

// goldenTopics is a small taxonomy in the three languages.
var goldenTopics = []Topic{
	{Slug: "refugees", Keywords: map[string][]string{"en": {"refugee", "asylum"}, "fr": {"réfugié", "asile"}, "es": {"refugiad", "asilo"}}},
	{Slug: "health", Keywords: map[string][]string{"en": {"health", "covid", "hiv", "tuberculosis"}, "fr": {"santé", "covid", "pandémie"}, "es": {"salud", "covid"}}},
	{Slug: "labour", Keywords: map[string][]string{"en": {"labour migration", "migrant workers"}, "fr": {"travailleurs migrants"}, "es": {"trabajadores", "contratación"}}},
	{Slug: "return", Keywords: map[string][]string{"en": {"return", "reintegration"}, "fr": {"retour", "réintégration"}, "es": {"retornad", "reintegración"}}},
}

// goldenSources are the test sources: a folder of releases, the source's
// fallbacks, and text of its frame that no body may contain.
var goldenSources = []struct {
	name, dir, lang, country string
	frame                    []string
}{
	{"iom-be", "../../testdata/releases", "fr", "BE", []string{"Qui sommes nous", "Notre travail", "Engagez-vous", "2030 AGENDA", "The UN Migration Agency", "Communiqué de presse", "gdhoop@iom.int"}},
	{"iom-ch", "testdata/golden/iom-ch", "en", "CH", []string{"cookies", "About us", "Donate", "Related stories", "Share on", "All rights reserved", "Press releases", "alert(", "onclick", "onerror", "javascript:", "smsehli@iom.int"}},
	{"iom-ke", "testdata/golden/iom-ke", "en", "KE", []string{"Skip to main content", "Who we are", "Share on", "© IOM Kenya", "wwang@iom.int"}},
	{"oim-gt", "testdata/golden/oim-gt", "es", "GT", []string{"Quiénes somos", "Sala de prensa", "Privacidad", "zona 14", "Comunicado de prensa", "alopez@iom.int"}},
	{"oim-es", "testdata/golden/oim-es", "es", "ES", []string{"Quiénes somos", "Publicaciones", "Síguenos", "Aviso legal", "Política de cookies", "mruiz@iom.int"}},
	{"oim-sn", "testdata/golden/oim-sn", "fr", "SN", []string{"Accueil", "Actualités", "Partager", "asy@iom.int", "**", "---"}},
	{"crier-made", "testdata/golden/crier-made", "en", "CH", []string{"UN Migration | East", "Who we are", "All rights reserved", "Privacy policy", "Tous droits réservés", "Mentions légales", "derechos reservados", "Aviso legal", "Published on", "Newsroom"}},
	{"iom-un", "testdata/golden/iom-un", "en", "US", []string{"Speeches", "Statements", "About", "866 UN Plaza", "smsehli@iom.int"}},
}

var goldenRef = time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)

func readSource(t *testing.T, dir string) (names []string, inputs []Input) {
	return readSourceB(t, dir)
}

func readSourceB(t testing.TB, dir string) (names []string, inputs []Input) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if ext != ".txt" && ext != ".md" && ext != ".html" {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		f := Text
		if ext == ".html" {
			f = HTML
		}
		names = append(names, e.Name())
		inputs = append(inputs, Input{Raw: raw, Format: f, Date: goldenRef})
	}
	return names, inputs
}

func TestGolden(t *testing.T) {
	n := New(goldenTopics)
	for _, src := range goldenSources {
		names, inputs := readSource(t, src.dir)
		if len(inputs) == 0 {
			t.Fatalf("%s: no releases in %s", src.name, src.dir)
		}
		frame := LearnFrame(inputs)
		for i, in := range inputs {
			name := src.name + "/" + names[i]
			t.Run(name, func(t *testing.T) {
				in.Language, in.Country, in.Frame = src.lang, src.country, frame
				r := n.Normalize(in)
				got := goldenRecord{Title: r.Title, Summary: r.Summary, DateSource: r.DateSource, Place: r.Place, City: r.City,
					Country: r.Country, Language: r.Language, Topics: r.Topics, Contacts: r.Contacts, Text: r.Text}
				if r.DateKnown {
					got.Date = r.Published.Format("2006-01-02")
				}
				for _, f := range src.frame {
					if strings.Contains(r.Text, f) || strings.Contains(r.HTML, f) || strings.Contains(r.Title, f) {
						t.Errorf("frame text %q left in the release", f)
					}
				}
				path := filepath.Join("testdata/golden", src.name, strings.TrimSuffix(names[i], filepath.Ext(names[i]))+".golden.json")
				b, _ := json.MarshalIndent(got, "", "  ")
				b = append(b, '\n')
				if *update {
					if err := os.WriteFile(path, b, 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test ./internal/normalize -run TestGolden -update to create it)", err)
				}
				if string(want) != string(b) {
					t.Errorf("record differs from %s:\ngot:\n%s", path, b)
				}
			})
		}
	}
}
