package gather

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/andybalholm/cascadia"
	"golang.org/x/net/html"
)

// Links returns the absolute http(s) URLs of the elements a CSS selector
// picks on a listing page, in page order and without repeats. A selector
// that picks nothing is an error: the site's layout has probably changed,
// and a silent empty fetch would hide it.
func Links(page []byte, contentType, base, selector string) ([]string, error) {
	sel, err := cascadia.Parse(selector)
	if err != nil {
		return nil, fmt.Errorf("links selector %q: %v", selector, err)
	}
	root, err := html.Parse(bytes.NewReader(Decode(page, contentType)))
	if err != nil {
		return nil, fmt.Errorf("listing page: %v", err)
	}
	if b := baseHref(root); b != "" {
		base = resolve(base, b)
	}
	nodes := cascadia.QueryAll(root, sel)
	if len(nodes) == 0 {
		return nil, fmt.Errorf("links selector %q matched nothing on %s: the page layout may have changed", selector, base)
	}
	var out []string
	seen := map[string]bool{}
	for _, n := range nodes {
		href := ""
		if n.Data == "a" {
			href = attrOf(n, "href")
		} else if a := cascadia.Query(n, cascadia.MustCompile("a[href]")); a != nil {
			href = attrOf(a, "href")
		}
		u := resolve(base, href)
		if i := strings.IndexByte(u, '#'); i >= 0 {
			u = u[:i]
		}
		if u != "" && !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("links selector %q matched %d elements on %s but no http(s) links", selector, len(nodes), base)
	}
	return out, nil
}

func attrOf(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func baseHref(root *html.Node) string {
	if n := cascadia.Query(root, cascadia.MustCompile("base[href]")); n != nil {
		return attrOf(n, "href")
	}
	return ""
}
