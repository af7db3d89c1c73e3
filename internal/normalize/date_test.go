package normalize

import (
	"testing"
	"time"
)

func TestDates(t *testing.T) {
	ref := time.Date(2022, 9, 22, 15, 0, 0, 0, time.UTC) // a Thursday
	tests := []struct {
		text      string
		refStated bool // ref is the feed entry's own date, not a file's time
		want      string
	}{
		{"Bruxelles, le 26 mai 2017 – Le", false, "2017-05-26"},
		{"le 1er juillet 2019, l'OIM", false, "2019-07-01"},
		{"GENEVA, Nov 5, 2018 - The", false, "2018-11-05"},
		{"November 5th, 2018", false, "2018-11-05"},
		{"5 November 2018", false, "2018-11-05"},
		{"21 de septiembre de 2022", false, "2022-09-21"},
		{"2021-03-14T09:00:00Z", false, "2021-03-14"},
		{"14/03/2021", false, "2021-03-14"},
		{"3 février 2020", false, "2020-02-03"},
		{"31 février 2020", false, ""},
		// Partial dates: completed only with evidence. 12 April fell on a
		// Thursday in 2018 (and not since); 11 December 2021 was a
		// Saturday; 3 March 2022 a Thursday.
		{"Jeudi (12/04), l'OIM", false, "2018-04-12"},
		{"Jeudi (12/04), l'OIM", true, "2018-04-12"},
		{"Lundi (12/04), l'OIM", false, "2021-04-12"},
		{"La semaine dernière (11/12), l'OEA", false, ""},
		{"La semaine dernière (11/12), l'OEA", true, "2021-12-11"},
		{"samedi 11 décembre, l'OEA", false, "2021-12-11"},
		{"a signé, hier, un accord", false, ""},
		{"a signé, hier, un accord", true, "2022-09-21"},
		{"said yesterday that", true, "2022-09-21"},
		{"anunció ayer que", true, "2022-09-21"},
		{"le 3 mars, l'OIM", false, ""},
		{"le 3 mars, l'OIM", true, "2022-03-03"},
		{"el 12 de mayo", true, "2022-05-12"},
		{"on Thursday, March 3 the", false, "2022-03-03"},
		{"on March 3 the", true, "2022-03-03"},
		{"no date at all", true, ""},
	}
	for _, tt := range tests {
		s := fold(tt.text)
		got, ok := "", false
		if d, _, found := fullDate(s); found {
			got, ok = d.Format("2006-01-02"), true
		} else if d, found := partialDate(s, ref, tt.refStated, yearIn(s, ref)); found {
			got, ok = d.Format("2006-01-02"), true
		}
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("%q (ref stated %v): got %q, want %q", tt.text, tt.refStated, got, tt.want)
		}
	}
	// A year written near the day completes it, but not one after ref.
	if d, ok := partialDate(fold("le 3 mars"), ref, false, 2019); !ok || d.Format("2006-01-02") != "2019-03-03" {
		t.Errorf("a year in the text: %v %v", d, ok)
	}
	if y := yearIn(fold("le Programme 2030, depuis 2016"), ref); y != 2016 {
		t.Errorf("yearIn skips years after ref: got %d, want 2016", y)
	}
}

func TestNeverTitles(t *testing.T) {
	for _, tt := range []struct {
		line  string
		never bool
	}{
		{"Published on 14 March 2021", true},
		{"Posted by the IOM media team on Monday", true},
		{"Publié le 26 mai 2017 par l'OIM Belgique", true},
		{"Publicado el 21 de septiembre de 2022", true},
		{"By Jane Doe and John Smith", true},
		{"Par Marie Dupont, chargée de communication", true},
		{"14 March 2021", true},
		{"Home > Newsroom > Press releases", true},
		{"Accueil / Actualités / Communiqués de presse", true},
		{"Inicio » Sala de prensa » Comunicados", true},
		{"GENEVA, 14 March 2021 – Sudden-onset disasters forced", true},
		{"Sudden-onset disasters displaced more people than conflict last year", false},
		{"Por primera vez, la OIM abre un centro en Quito", false},
		{"Des migrants burkinabè rentrés du Niger reçoivent une aide", false},
		{"Floods in 2021 displaced more people than any year since 2010", false},
	} {
		if got := neverTitle(tt.line); got != tt.never {
			t.Errorf("neverTitle(%q) = %v, want %v", tt.line, got, tt.never)
		}
	}
}

// More shapes of datelines that offices write.
func TestDatelineShapes(t *testing.T) {
	n := New(nil)
	ref := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct{ lead, country, date string }{
		{"(Quito) 12 de mayo de 2022.- La Organización Internacional para las Migraciones abrió hoy una nueva oficina para las personas migrantes.", "EC", "2022-05-12"},
		{"BEIRUT/DAMASCUS, 5 June 2023 – The International Organization for Migration has opened a new office for returning migrants today.", "LB", "2023-06-05"},
		{"Tegucigalpa, Honduras. 21 de septiembre de 2022. La Organización Internacional para las Migraciones abrió hoy una nueva oficina para migrantes.", "HN", "2022-09-21"},
		{"Ciudad de Panamá, 14 de marzo de 2022 – La Organización Internacional para las Migraciones abrió hoy una nueva oficina para las personas migrantes.", "PA", "2022-03-14"},
		{"On 5 June 2023, the International Organization for Migration opened a new office for returning migrants in the capital city of the country.", "CH", "2023-06-05"},
		{"The International Organization for Migration said today. It opened a new office for returning migrants in the capital city of the country.", "CH", ""},
	} {
		r := n.Normalize(Input{Raw: []byte("A title for the release\n\n" + tt.lead + "\n\nA second paragraph of the release, with enough words to be a body."), Date: ref, Country: "CH", Language: "en"})
		date := ""
		if r.DateSource != FirstSeen {
			date = r.Published.Format("2006-01-02")
		}
		if r.Country != tt.country || date != tt.date {
			t.Errorf("%.45q: country %s, date %q; want %s, %q", tt.lead, r.Country, date, tt.country, tt.date)
		}
	}
}

// A release with no headline (a label, then the lead) gets a title from
// its lead's words, not from its dateline.
func TestTitleFromLeadSkipsDateline(t *testing.T) {
	n := New(nil)
	for _, tt := range []struct{ text, title string }{
		{"Communiqué de presse\n\nDakar, le 3 juin 2025 – L’Organisation internationale pour les migrations a lancé aujourd’hui au Sénégal un programme d’appui aux migrants de retour.\n\nLe programme accompagnera plus de 2 000 personnes dans les régions de Tambacounda et de Kolda.",
			"L’Organisation internationale pour les migrations a lancé aujourd’hui au Sénégal un programme…"},
		{"(Quito) 12 de mayo de 2022.- La Organización Internacional para las Migraciones abrió hoy una nueva oficina para las personas migrantes en el norte del país.\n\nLa oficina atenderá a miles de personas cada mes en la frontera norte.",
			"La Organización Internacional para las Migraciones abrió hoy una nueva oficina para…"},
	} {
		r := n.Normalize(Input{Raw: []byte(tt.text), Language: "fr"})
		if r.Title != tt.title || r.Place == "" {
			t.Errorf("title %q (place %q); want %q", r.Title, r.Place, tt.title)
		}
	}
}
