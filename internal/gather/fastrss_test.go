package gather

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// agree runs the fast reader on text and, when it reads it, compares what
// it gives with what the general path (gofeed and the strict check) gives.
func agree(t *testing.T, name, text, base string) bool {
	t.Helper()
	fast, ok := fastRSS(text, base)
	if !ok {
		return false
	}
	general, err := parseXML(text, nil, base)
	if err != nil {
		t.Errorf("%s: the fast reader read it, the general path refused it: %v", name, err)
		return true
	}
	if !reflect.DeepEqual(fast, general) {
		t.Errorf("%s: the readers disagree\nfast:    %s\ngeneral: %s", name, show(fast), show(general))
	}
	return true
}

func show(p Parsed) string {
	var b strings.Builder
	fmt.Fprintf(&b, "format %q warnings %q", p.Format, p.Warnings)
	for _, d := range p.Docs {
		fmt.Fprintf(&b, "\n  key %q url %q title %q html %v date %v stated %v raw %q", d.Key, d.URL, d.Title, d.HTML, d.Date, d.DateStated, d.Raw)
	}
	return b.String()
}

const plainHead = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<!-- made by hand -->
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom" xmlns:media="http://search.yahoo.com/mrss/" xmlns:itunes="http://www.itunes.com/DTDs/PodCast-1.0.dtd">
<channel>
  <title>Office &amp; press</title>
  <link>https://example.org/news/</link>
  <atom:link href="https://example.org/feed.xml" rel="self" type="application/rss+xml"/>
  <!-- items follow -->
`

func plainFeed(items ...string) string {
	return plainHead + strings.Join(items, "\n") + "\n</channel>\n</rss>\n<?done here?>\n"
}

const plainItem = `<item>
    <title>  Floods in the delta &#8211; &#x2014; &#150; caf&#233; &lt;b&gt;  </title>
    <link>/news/floods</link>
    <guid isPermaLink="false">urn:floods-1</guid>
    <pubDate>Mon, 15 Mar 2021 09:00:00 +0100</pubDate>
    <dc:creator>Press office</dc:creator>
    <media:content url="https://example.org/a.jpg" medium="image"/>
    <category>health</category>
    <description><![CDATA[<p>GENEVA – The <b>first</b> release.</p>]]></description>
  </item>`

// TestFastRSSAgrees holds the fast reader to the general path on feeds
// made to touch each of its rules, and checks that it leaves to the
// general path what it does not read itself.
func TestFastRSSAgrees(t *testing.T) {
	fast := map[string]string{
		"plain": plainFeed(plainItem),
		"content, text around CDATA, nested markup, an empty date": plainFeed(`<item><title>B</title><link>https://example.org/b</link><pubDate></pubDate>
			<description><p>Hi &amp; bye &quot;x&quot;</p><br/></description>
			<content:encoded>before &lt;i&gt; <![CDATA[<p>inside & as is</p>]]> after &amp; more <![CDATA[two]]></content:encoded></item>`),
		"GMT, a one-digit day, no day name": plainFeed(`<item><title>C</title><guid>c</guid><pubDate>5 Apr 2022 23:59:59 GMT</pubDate><description>plain text</description></item>`,
			`<item><title>D</title><guid>d</guid><pubDate>Tue, 05 Apr 2022 23:59:59 -0930</pubDate></item>`),
		"no guid and no link: a content key":    plainFeed(`<item><title>E</title><description>only text</description></item>`),
		"capitals, as gofeed folds them":        plainFeed(`<Item><Title>F</Title><PUBDATE>Wed, 06 Apr 2022 10:00:00 +0000</PUBDATE><Link>https://example.org/f</Link></Item>`),
		"an atom link in an item, empty fields": plainFeed(`<item><title/><atom:link href="https://x.example/"/><guid>g</guid><description/></item>`),
		"no items":                              plainFeed(),
		"no channel link, no atom link":         `<rss version="2.0"><channel><title>t</title><item><link>rel/h</link><title>H</title></item></channel></rss>`,
		"single quotes, spaces in tags":         `<?xml version='1.0'?><rss version = '2.0' ><channel ><link >https://example.org/</link ><item ><title >I</title ><link>i</link></item></channel></rss >`,
	}
	for name, text := range fast {
		if !agree(t, name, text, "https://source.example/feed") {
			t.Errorf("%s: left to the general path, which the fast reader should read", name)
		}
	}
	p, _ := fastRSS(fast["plain"], "")
	if len(p.Docs) != 1 || p.Docs[0].URL != "https://example.org/news/floods" || p.Docs[0].Key != "urn:floods-1" || !p.Docs[0].DateStated {
		t.Errorf("plain: %s", show(p))
	}

	general := map[string]string{
		"a DOCTYPE":                   `<?xml version="1.0"?><!DOCTYPE rss SYSTEM "x.dtd"><rss version="2.0"><channel><item><title>A</title></item></channel></rss>`,
		"XML 1.1":                     `<?xml version="1.1"?><rss version="2.0"><channel><item><title>A</title></item></channel></rss>`,
		"an attribute twice":          plainFeed(`<item><guid a="1" a="2">g</guid></item>`),
		"another encoding":            `<?xml version="1.0" encoding="ISO-8859-1"?><rss version="2.0"><channel><item><title>A</title></item></channel></rss>`,
		"an HTML entity":              plainFeed(`<item><title>A&nbsp;B</title></item>`),
		"a bare ampersand":            plainFeed(`<item><title>A & B</title></item>`),
		"xml:base":                    plainFeed(`<item xml:base="https://other.example/"><title>A</title><link>a</link></item>`),
		"a default namespace":         `<rss version="2.0" xmlns="http://purl.org/rss/1.0/"><channel><item><title>A</title></item></channel></rss>`,
		"a namespace below the root":  plainFeed(`<item xmlns:x="urn:x"><title>A</title></item>`),
		"dc:date":                     plainFeed(`<item><title>A</title><dc:date>2021-03-15</dc:date></item>`),
		"dc:title":                    plainFeed(`<item><dc:title>A</dc:title></item>`),
		"atom:summary":                plainFeed(`<item><title>A</title><atom:summary>s</atom:summary></item>`),
		"itunes:summary":              plainFeed(`<item><title>A</title><itunes:summary>s</itunes:summary></item>`),
		"two titles":                  plainFeed(`<item><title>A</title><title>B</title></item>`),
		"an ISO date":                 plainFeed(`<item><title>A</title><pubDate>2021-03-15T09:00:00Z</pubDate></item>`),
		"a zone name":                 plainFeed(`<item><title>A</title><pubDate>Mon, 15 Mar 2021 09:00:00 EST</pubDate></item>`),
		"a link with href":            plainFeed(`<item><title>A</title><link href="https://example.org/a"/></item>`),
		"a comment in an item":        plainFeed(`<item><title>A</title><!-- & --></item>`),
		"an undeclared prefix":        plainFeed(`<item><title>A</title><x:y>1</x:y></item>`),
		"crossed tags":                plainFeed(`<item><title>A<b></title></b></item>`),
		"only an atom link":           `<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel><atom:link href="https://example.org/" rel="alternate"/><item><link>a</link></item></channel></rss>`,
		"Atom":                        `<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>A</title></entry></feed>`,
		"an item outside the channel": `<rss version="2.0"><channel><title>t</title></channel><item><title>A</title></item></rss>`,
		"two channels":                `<rss version="2.0"><channel><item><title>A</title></item></channel><channel><item><title>B</title></item></channel></rss>`,
		"text in an item":             plainFeed(`<item>loose<title>A</title></item>`),
		"unclosed":                    plainHead + plainItem,
		"something after the root":    plainFeed(plainItem) + "<rss/>",
		"the RSS 1.0 namespace":       `<rss version="2.0" xmlns:r="http://purl.org/rss/1.0/"><channel><item><r:title>A</r:title></item></channel></rss>`,
	}
	for name, text := range general {
		if _, ok := fastRSS(text, ""); ok {
			t.Errorf("%s: read by the fast reader, which should leave it to the general path", name)
		}
	}
}

// TestFastRSSAgreesOnCorpus holds the fast reader to the general path on
// every input of the shared corpora that it reads.
func TestFastRSSAgreesOnCorpus(t *testing.T) {
	root, f := openCorpus(t, "FastRSSAgreesOnCorpus")
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	inputs, read := 0, 0
	for sc.Scan() {
		path, _, _ := strings.Cut(sc.Text(), "\t")
		raw, err := os.ReadFile(filepath.Join(root, path))
		if err != nil {
			t.Fatal(err)
		}
		inputs++
		text, _ := toUTF8(raw, "")
		if agree(t, path, text, "https://corpus.example/") {
			read++
		}
	}
	t.Logf("%d of %d inputs read by the fast reader, the same as by the general path", read, inputs)
	if read == 0 {
		t.Error("the fast reader read none of the corpora")
	}
}
