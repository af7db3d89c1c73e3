package normalize

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// Contact sections come a block per contact or a line per field; either
// way each person keeps their name, office, email and phone together.
func TestContactSections(t *testing.T) {
	body := "Un primer párrafo de la nota, con bastantes palabras para ser el cuerpo de la nota de prensa.\n\n" +
		"Un segundo párrafo de la nota, también con bastantes palabras para ser parte del cuerpo.\n\n"
	for _, tt := range []struct {
		name, section string
		want          []Contact
	}{
		{"a line per field", "Contacto de prensa:\nLaura Pérez\nOIM Colombia\nlperez@iom.int\n+57 1 639 7777",
			[]Contact{{Name: "Laura Pérez", Office: "OIM Colombia", Email: "lperez@iom.int", Phone: "+57 1 639 7777"}}},
		{"two people, a line per field", "Media contacts:\n\nJane Doe\nIOM Geneva\njdoe@iom.int\nTel: +41 22 717 9111\n\nJuan Díaz\nIOM Panama\njdiaz@iom.int",
			[]Contact{{Name: "Jane Doe", Office: "IOM Geneva", Email: "jdoe@iom.int", Phone: "+41 22 717 9111"},
				{Name: "Juan Díaz", Office: "IOM Panama", Email: "jdiaz@iom.int"}}},
		{"a block per contact", "Pour plus d’informations, veuillez contacter :\n\nAwa Diop, OIM Sénégal, adiop@iom.int, +221 33 869 62 00\n\nPaul Martin, OIM Mali, pmartin@iom.int, +223 20 22 00 00",
			[]Contact{{Name: "Awa Diop", Office: "OIM Sénégal", Email: "adiop@iom.int", Phone: "+221 33 869 62 00"},
				{Name: "Paul Martin", Office: "OIM Mali", Email: "pmartin@iom.int", Phone: "+223 20 22 00 00"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := New(nil).Normalize(Input{Raw: []byte(body + tt.section)})
			if !reflect.DeepEqual(r.Contacts, tt.want) {
				t.Errorf("contacts:\n got %+v\nwant %+v", r.Contacts, tt.want)
			}
			if strings.Contains(r.Text, "@") || strings.Contains(r.Text, "OIM Colombia") {
				t.Errorf("the contact section stayed in the body: %q", r.Text)
			}
		})
	}
}

// What a site adds after the text (more reading, follow us, share) is not
// part of the release, in any of the three languages; the release's own
// last sentence stays.
func TestSiteTailDropped(t *testing.T) {
	lead := "GENÈVE – L’Organisation internationale pour les migrations salue l’adoption d’un pacte régional sur la libre circulation des personnes.\n\n"
	last := "Le pacte prévoit la reconnaissance mutuelle des documents de voyage des États membres."
	for _, tail := range []string{
		"Lire aussi : Rapport sur l’état de la migration dans le monde\n\nSuivez-nous sur Twitter et Facebook",
		"Read more: World Migration Report 2024\n\nShare this: Facebook Twitter LinkedIn",
		"Lea también: Informe sobre las migraciones en el mundo\n\nSíguenos en redes sociales",
		"Related news: IOM welcomes new donor support",
		"The post IOM welcomes the regional pact appeared first on IOM Switzerland.",
		"La entrada La OIM saluda el pacto regional se publicó primero en OIM España.",
		"L’article L’OIM salue le pacte est apparu en premier sur OIM France.",
	} {
		r := New(nil).Normalize(Input{Raw: []byte(lead + last + "\n\n" + tail)})
		if !strings.HasSuffix(r.Text, last) {
			t.Errorf("tail %.30q: text ends %q", tail, r.Text[max(0, len(r.Text)-80):])
		}
	}
}

// The words that open a contact section vary; each is taken off the
// contact.
func TestContactIntros(t *testing.T) {
	body := "NAIROBI – The International Organization for Migration opened a new office for returning migrants in the north today.\n\nThe office will serve thousands of people each month along the border.\n\n"
	for _, intro := range []string{"Contacto para medios:", "Media enquiries:", "For media inquiries:", "Contact pour les médias :", "Contactos de prensa:", "Press contact:"} {
		r := New(nil).Normalize(Input{Raw: []byte(body + intro + " Ana López, alopez@iom.int")})
		want := []Contact{{Name: "Ana López", Email: "alopez@iom.int"}}
		if !reflect.DeepEqual(r.Contacts, want) {
			t.Errorf("%q: got %+v", intro, r.Contacts)
		}
	}
}

// End-of-release marks leave the text; the lines after them stay.
func TestEndMarksDropped(t *testing.T) {
	for _, mark := range []string{"-ENDS-", "– FIN –", "###", "-30-", "***", "ENDS", "- Fin du communiqué -"} {
		doc := "NAIROBI – The International Organization for Migration opened a new office for returning migrants today.\n\n" +
			"The office will serve thousands of people each month.\n\n" + mark + "\n\nNotes to editors: IOM has worked in Kenya since 1991."
		r := New(nil).Normalize(Input{Raw: []byte(doc)})
		if strings.Contains(r.Text, strings.Trim(mark, " -–")) || !strings.HasSuffix(r.Text, "since 1991.") {
			t.Errorf("%q: text %q", mark, r.Text)
		}
	}
	r := New(nil).Normalize(Input{Raw: []byte("NAIROBI – The office opened today for returning migrants in the north.\n\nThe end of the year will see 30 more offices open across the region.")})
	if !strings.HasSuffix(r.Text, "across the region.") {
		t.Errorf("a sentence was taken for a mark: %q", r.Text)
	}
}

// TestPhoneRunAgreesWithPhoneRE holds the hand-written phoneRun to the
// expression it stands for, on random strings of digits, separators,
// letters and multi-byte characters.
func TestPhoneRunAgreesWithPhoneRE(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	alphabet := []string{"0", "1", "7", "9", " ", "\t", "\n", "\f", "\v", "(", ")", ".", "-", "/", "+", "a", "T", "é", "–", "\u00a0", ","}
	matched := 0
	for i := 0; i < 20000; i++ {
		var b strings.Builder
		for n := rng.IntN(24); n > 0; n-- {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		s := b.String()
		want := phoneRE().MatchString(s)
		if got := phoneRun(s); got != want {
			t.Fatalf("phoneRun(%q) = %v, phoneRE says %v", s, got, want)
		}
		if want {
			matched++
		}
	}
	if matched < 100 {
		t.Fatalf("only %d of the random strings hold a phone: the test says little", matched)
	}
}
