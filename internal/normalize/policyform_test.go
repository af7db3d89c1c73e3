package normalize

import (
	"fmt"
	"html"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
)

// Wherever the scan says a body is in the policy's form, the policy gives
// it back unchanged: on the markup of every golden release, and of random
// pages and Markdown with every kind of link, reference and markup. The
// scan must pass most of what crier writes and refuse what it should not.
func TestPolicyFormIsWhatThePolicyGives(t *testing.T) {
	n := New(nil)
	passed, refused := 0, 0
	check := func(name, h string) {
		t.Helper()
		if !inPolicyForm(h) {
			refused++
			return
		}
		passed++
		if got := n.policy.Sanitize(h); got != h {
			t.Fatalf("%s: the scan passes\n%q\nbut the policy gives\n%q", name, h, got)
		}
	}
	var dirs []string
	for _, g := range goldenSources {
		dirs = append(dirs, g.dir)
	}
	total := 0
	for _, dir := range dirs {
		names, inputs := readSource(t, dir)
		total += len(inputs)
		for i, in := range inputs {
			in.URL = "https://www.example.org/news/"
			check(filepath.Join(dir, names[i]), markup(Parse(in).blocks))
		}
	}
	goldens := passed
	if goldens != total || total < 15 {
		t.Errorf("the scan passed %d of %d golden bodies: it should pass crier's own markup", goldens, total)
	}
	hrefs := []string{"https://example.org/a?b=1&c=2", "http://example.org/é", "HTTP://EXAMPLE.org/X", "http://example.org/%zz",
		"javascript:alert(1)", "mailto:press@example.org", "//cdn.example.org/x", "/relative/path", "http://example.org/a b",
		`http://example.org/"q"`, "http://[::1]/", "http://example.org/#frag", "http://user:pass@example.org/", "https://example.org/a%20b",
		"https://example.org/ü?q=ä", "data:text/html,x", "https://example.org/<x>", "https://example.org/'", "ftp://example.org/f", " https://example.org/"}
	texts := []string{"GENEVA – The office", "a &amp; b", "&lt;script&gt;", "&nbsp;x", "&eacute;t&eacute;", "'quoted' \"twice\"", "<b>bold</b>",
		"<em>em</em>", "<script>alert(1)</script>", "<img src=x onerror=y>", "x\u00a0y", "<br>", "&#150;", "&#x27;", "€ 5", "<span style=\"x\">s</span>"}
	for _, h := range hrefs { // links as a writer other than crier's might write them
		for _, v := range []string{html.EscapeString(h), h, strings.ToUpper(h[:1]) + h[1:]} {
			check("link "+v, `<p><a href="`+v+`">x</a></p>`)
		}
	}
	rng := rand.New(rand.NewPCG(15, 16))
	for i := 0; i < 3000; i++ {
		var b strings.Builder
		for j := rng.IntN(8); j >= 0; j-- {
			switch rng.IntN(6) {
			case 0:
				fmt.Fprintf(&b, `<a href="%s">%s</a>`, strings.ReplaceAll(hrefs[rng.IntN(len(hrefs))], `"`, "&quot;"), texts[rng.IntN(len(texts))])
			case 1:
				b.WriteString([]string{"<p>", "</p>", "<h2>", "</h2>", "<ul><li>", "</li><li>", "</ul>", "<div>", "<blockquote>", "<p class=\"lead\">"}[rng.IntN(10)])
			default:
				b.WriteString(texts[rng.IntN(len(texts))])
			}
		}
		page := b.String()
		check("page "+page, markup(Parse(Input{Raw: []byte("<html><body>" + page + "</body></html>"), Format: HTML, URL: "https://example.org/n/"}).blocks))
		md := strings.NewReplacer("<a href=\"", "[link](", "\">", ") ").Replace(page)
		check("text "+md, markup(Parse(Input{Raw: []byte(md), Format: Text}).blocks))
	}
	if passed-goldens < 1000 || refused < 100 {
		t.Errorf("of random bodies the scan passed %d and refused %d: both should be many", passed-goldens, refused)
	}
	for _, h := range []string{`<p class="x">a</p>`, `<p>a&nbsp;b</p>`, `<a href="javascript:x">a</a>`, `<p>a > b</p>`, "<p>a\rb</p>",
		`<script>x</script>`, `<a href="http://example.org/é">a</a>`, `<p>it's</p>`, "<p>\xff</p>", `<a href='https://example.org/'>a</a>`} {
		if inPolicyForm(h) {
			t.Errorf("the scan passes %q", h)
		}
	}
}
