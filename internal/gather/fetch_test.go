package gather

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Bodies come back whole and each its own, whether their length is stated
// or not (chunked), from one fetch at a time or many at once; a body over
// the cap is refused either way.
func TestFetchBodies(t *testing.T) {
	const max = 64 << 10
	body := func(n int) []byte { return bytes.Repeat([]byte(strconv.Itoa(n%10)), n) }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		b := body(n)
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", strconv.Itoa(len(b)))
			w.Write(b)
			return
		}
		half := len(b) / 2
		w.Write(b[:half])
		w.(http.Flusher).Flush() // no length stated: chunked
		w.Write(b[half:])
	}))
	defer srv.Close()
	f := NewFetcher("t", 5*time.Second, max, true)
	fetch := func(n int, chunked bool) ([]byte, error) {
		u := fmt.Sprintf("%s/?n=%d", srv.URL, n)
		if chunked {
			u += "&chunked=1"
		}
		r, err := f.Fetch(context.Background(), u, Validators{})
		if err != nil {
			return nil, err
		}
		return r.Body, nil
	}
	sizes := []int{0, 1, 511, 512, 4097, 40000, max}
	var kept [][]byte
	for _, chunked := range []bool{false, true} {
		for _, n := range sizes {
			b, err := fetch(n, chunked)
			if err != nil || !bytes.Equal(b, body(n)) {
				t.Fatalf("%d bytes, chunked %v: %d bytes back, %v", n, chunked, len(b), err)
			}
			kept = append(kept, b)
		}
		if _, err := fetch(max+1, chunked); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%d bytes, chunked %v: %v, want ErrTooLarge", max+1, chunked, err)
		}
	}
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Go(func() {
			n := sizes[i%len(sizes)] + i
			if n > max {
				n = max - i
			}
			if b, err := fetch(n, true); err != nil || !bytes.Equal(b, body(n)) {
				t.Errorf("at once, %d bytes: %d back, %v", n, len(b), err)
			}
		})
	}
	wg.Wait()
	// Later fetches wrote nothing into the bodies handed out before.
	i := 0
	for range 2 {
		for _, n := range sizes {
			if !bytes.Equal(kept[i], body(n)) {
				t.Errorf("body %d (%d bytes) changed after later fetches", i, n)
			}
			i++
		}
	}
}

// A declaration that says UTF-8 and 1.0 already is kept as it is, and the
// general reader reads the text the same as with the declaration
// rewritten; any other declaration is rewritten.
func TestFixDeclKeepsAUTF8Declaration(t *testing.T) {
	rewrite := func(s string) string { // what fixDecl always did
		s = strings.TrimLeft(s, " \t\r\n\uFEFF")
		loc := xmlDeclRE.FindStringIndex(s)
		if loc == nil {
			return s
		}
		decl := versionAttrRE.ReplaceAllString(encAttrRE.ReplaceAllString(s[loc[0]:loc[1]], ""), "${1}1.0${2}")
		return decl + s[loc[1]:]
	}
	feed := `<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title><id>urn:t</id><updated>2024-05-01T00:00:00Z</updated>` +
		`<entry><title>É &amp; è</title><id>urn:e</id><link href="https://example.org/e"/><updated>2024-05-01T00:00:00Z</updated><content type="html">&lt;p&gt;Genève&lt;/p&gt;</content></entry></feed>`
	for _, c := range []struct {
		decl string
		kept bool
	}{
		{`<?xml version="1.0" encoding="UTF-8"?>`, true},
		{`<?xml version='1.0' encoding='utf-8' standalone='yes'?>`, true},
		{`<?xml version="1.0"?>`, true},
		{`  <?xml version="1.0" encoding="UTF-8"?>`, true},
		{`<?xml version="1.1" encoding="UTF-8"?>`, false},
		{`<?xml version="1.0" encoding="ISO-8859-1"?>`, false},
		{`<?xml version="1.0" encoding="utf8"?>`, false},
		{`<?xml version="1.0" encoding="UTF-8" encoding="latin1"?>`, false},
	} {
		text := c.decl + feed
		got, want := fixDecl(text), rewrite(text)
		if kept := got == strings.TrimLeft(text, " "); kept != c.kept {
			t.Errorf("%s: kept %v, want %v (%q)", c.decl, kept, c.kept, got[:60])
		}
		if !c.kept && got != want {
			t.Errorf("%s: %q, want %q", c.decl, got[:60], want[:60])
		}
		a, errA := parseXML(got, nil, "https://example.org/")
		b, errB := parseXML(want, nil, "https://example.org/")
		if errA != nil || len(a.Docs) != 1 {
			t.Errorf("%s: %d documents, %v", c.decl, len(a.Docs), errA)
		}
		if (errA == nil) != (errB == nil) || !reflect.DeepEqual(a, b) {
			t.Errorf("%s: the general reader reads the kept declaration differently:\n%+v %v\n%+v %v", c.decl, a, errA, b, errB)
		}
	}
}
