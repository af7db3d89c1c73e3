package gather

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/crier-hub/crier/internal/sniff"
)

// parseJSONFeed reads a JSON Feed leniently: a field of the wrong type is
// skipped with a warning instead of failing the whole feed, and the NaN and
// Infinity that some writers emit are read as null.
func parseJSONFeed(b []byte, base string) (Parsed, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(sanitizeJSON(b)))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return Parsed{}, fmt.Errorf("%w: invalid JSON: %v", ErrNotFeed, err)
	}
	feed, ok := v.(map[string]any)
	if !ok {
		return Parsed{}, fmt.Errorf("%w: the JSON document is not an object", ErrNotFeed)
	}
	p := Parsed{Format: "json"}
	// Any JSON object is read as a JSON Feed, as other readers do; one
	// that does not say it is one gets a warning.
	version, _ := feed["version"].(string)
	rawItems := feed["items"]
	if !strings.Contains(version, "jsonfeed.org") {
		p.Warnings = append(p.Warnings, "JSON without a JSON Feed version URL; read as a JSON Feed")
	}
	if hp, ok := feed["home_page_url"].(string); ok && base == "" {
		base = hp
	}
	items, ok := rawItems.([]any)
	if !ok && rawItems != nil {
		p.Warnings = append(p.Warnings, "items is not an array")
	}
	for i, raw := range items {
		it, ok := raw.(map[string]any)
		if !ok {
			p.Warnings = append(p.Warnings, fmt.Sprintf("item %d is not an object", i))
			continue
		}
		str := func(key string) string {
			switch x := it[key].(type) {
			case string:
				return x
			case nil:
				return ""
			default:
				p.Warnings = append(p.Warnings, fmt.Sprintf("item %d: %s has the wrong type", i, key))
				return ""
			}
		}
		d := Doc{Title: str("title"), URL: resolve(base, str("url"))}
		switch id := it["id"].(type) {
		case string:
			d.Key = id
		case json.Number:
			d.Key = id.String()
		}
		body := cmp.Or(str("content_html"), str("content_text"), str("summary"))
		d.Raw, d.HTML = []byte(body), str("content_html") != ""
		if dt, ok := sniff.Date(cmp.Or(str("date_published"), str("date_modified"))); ok {
			d.Date, d.DateStated = dt, true
		}
		if d.Key == "" {
			d.Key = cmp.Or(d.URL, contentKey(d.Title, body, d.Date))
		}
		p.Docs = append(p.Docs, d)
	}
	return p, nil
}

// sanitizeJSON replaces the bare NaN, Infinity and -Infinity tokens that
// are not JSON with null, leaving strings alone.
func sanitizeJSON(b []byte) []byte {
	if !bytes.Contains(b, []byte("NaN")) && !bytes.Contains(b, []byte("Infinity")) {
		return b
	}
	var out bytes.Buffer
	inString, escaped := false, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			out.WriteByte(c)
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch {
		case c == '"':
			inString = true
			out.WriteByte(c)
		case bytes.HasPrefix(b[i:], []byte("-Infinity")):
			out.WriteString("null")
			i += len("-Infinity") - 1
		case bytes.HasPrefix(b[i:], []byte("Infinity")):
			out.WriteString("null")
			i += len("Infinity") - 1
		case bytes.HasPrefix(b[i:], []byte("NaN")):
			out.WriteString("null")
			i += len("NaN") - 1
		default:
			out.WriteByte(c)
		}
	}
	return out.Bytes()
}
