package normalize

import (
	"testing"
	"time"
)

func TestDates(t *testing.T) {
	ref := time.Date(2022, 9, 22, 15, 0, 0, 0, time.UTC)
	tests := []struct {
		text string
		want string // "" = no date
	}{
		{"Bruxelles, le 26 mai 2017 – Le", "2017-05-26"},
		{"le 1er juillet 2019, l'OIM", "2019-07-01"},
		{"GENEVA, Nov 5, 2018 - The", "2018-11-05"},
		{"November 5th, 2018", "2018-11-05"},
		{"5 November 2018", "2018-11-05"},
		{"21 de septiembre de 2022", "2022-09-21"},
		{"2021-03-14T09:00:00Z", "2021-03-14"},
		{"14/03/2021", "2021-03-14"},
		{"3 février 2020", "2020-02-03"},
		{"31 février 2020", ""},
		{"Jeudi (12/04), l'OIM", "2022-04-12"},
		{"La semaine dernière (11/12), l'OEA", "2021-12-11"},
		{"a signé, hier, un accord", "2022-09-21"},
		{"said yesterday that", "2022-09-21"},
		{"anunció ayer que", "2022-09-21"},
		{"le 3 mars, l'OIM", "2022-03-03"},
		{"el 12 de mayo", "2022-05-12"},
		{"on March 3 the", "2022-03-03"},
		{"no date at all", ""},
	}
	for _, tt := range tests {
		s := fold(tt.text)
		got, ok := "", false
		if d, _, found := fullDate(s); found {
			got, ok = d.Format("2006-01-02"), true
		} else if d, found := partialDate(s, ref); found {
			got, ok = d.Format("2006-01-02"), true
		}
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("%q: got %q, want %q", tt.text, got, tt.want)
		}
	}
}
