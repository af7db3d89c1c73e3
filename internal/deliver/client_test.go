package deliver

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A partner over TLS, with credentials in its URL and an escaped path,
// gets the request as written: every header value, the body, basic auth.
func TestPosterSpeaksToPartners(t *testing.T) {
	type seen struct {
		path, auth, agent string
		links             []string
		body              []byte
	}
	got := make(chan seen, 1)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- seen{r.URL.EscapedPath(), r.Header.Get("Authorization"), r.Header.Get("User-Agent"), r.Header.Values("Link"), body}
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusCreated)
		w.Write(bytes.Repeat([]byte("r"), 2*responseCap))
	}))
	defer srv.Close()
	p := newPoster(5*time.Second, 4, true)
	p.c.TLSConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig
	url := strings.Replace(srv.URL, "https://", "https://partner:s3cret@", 1) + "/hooks/a%2Fb"
	header := http.Header{"User-Agent": {"crier/test"}, "Link": {"<a>; rel=\"hub\"", "<b>; rel=\"self\""}}
	body := bytes.Repeat([]byte(`{"x":1}`), 1000)
	ans, err := p.post(url, header, body)
	if err != nil {
		t.Fatal(err)
	}
	if ans.status != http.StatusCreated || ans.retryAfter != "120" || len(ans.body) != responseCap || ans.cut {
		t.Errorf("answer: status %d, Retry-After %q, %d bytes of body, cut %v; want 201, 120, %d, false", ans.status, ans.retryAfter, len(ans.body), ans.cut, responseCap)
	}
	s := <-got
	if s.path != "/hooks/a%2Fb" || s.auth != "Basic cGFydG5lcjpzM2NyZXQ=" || s.agent != "crier/test" || len(s.links) != 2 || !bytes.Equal(s.body, body) {
		t.Errorf("partner saw path %q, auth %q, agent %q, links %q, %d bytes of %d", s.path, s.auth, s.agent, s.links, len(s.body), len(body))
	}
}

// When no answer comes, the attempt's error says why in one sentence.
func TestPosterFailuresAreSentences(t *testing.T) {
	serve := func(t *testing.T, handle func(net.Conn)) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go handle(c)
			}
		}()
		return "http://" + ln.Addr().String() + "/hook"
	}
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	refused := "http://" + closed.Addr().String() + "/hook"
	closed.Close()
	for _, c := range []struct {
		name, url, want string
	}{
		{"refused", refused, "connection refused"},
		{"hang up", serve(t, func(c net.Conn) { c.Read(make([]byte, 4096)); c.Close() }), "the partner closed the connection without answering"},
		{"silent", serve(t, func(c net.Conn) { c.Read(make([]byte, 4096)); time.Sleep(3 * time.Second); c.Close() }), "no answer within 500ms"},
		{"not HTTP", serve(t, func(c net.Conn) { c.Read(make([]byte, 4096)); c.Write([]byte("SSH-2.0-OpenSSH\r\n\r\n")); c.Close() }), "not HTTP/1.x"},
		{"huge headers", serve(t, func(c net.Conn) {
			c.Read(make([]byte, 4096))
			c.Write([]byte("HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("b", 20<<10) + "\r\n\r\n"))
			c.Close()
		}), "more than 16 KiB of headers"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newPoster(500*time.Millisecond, 4, true)
			_, err := p.post(c.url, http.Header{}, []byte("{}"))
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "fasthttp") || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %v; want one sentence with %q", err, c.want)
			}
		})
	}
	t.Run("private", func(t *testing.T) {
		p := newPoster(500*time.Millisecond, 4, false)
		_, err := p.post(refused, http.Header{}, []byte("{}"))
		if err == nil || !strings.Contains(err.Error(), "webhooks.allow_private_targets") {
			t.Errorf("error %v; want the loopback target refused, naming the setting", err)
		}
	})
}

// A partner that closes idle connections sooner than crier lets them go
// (Node's and Apache's servers after 5 s, gunicorn's after 2 s) still
// gets the next delivery: a request is not lost on a connection the
// partner closed while it was idle.
func TestPosterOutlivesPartnersIdleTimeout(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.Config.IdleTimeout = 50 * time.Millisecond
	srv.Start()
	defer srv.Close()
	p := newPoster(2*time.Second, 4, true)
	p.c.MaxIdleConnDuration = time.Hour // as if the partner's timeout were shorter than any we could pick
	for i := range 4 {
		if i > 0 {
			time.Sleep(200 * time.Millisecond) // the partner has closed the connection by now
		}
		if ans, err := p.post(srv.URL+"/hook", http.Header{}, []byte("{}")); err != nil || ans.status != http.StatusNoContent {
			t.Fatalf("post %d after the partner closed the idle connection: %v %v", i+1, ans.status, err)
		}
	}
}

// A partner's URL in another script goes out as net/http would send it:
// the host in its ASCII form, the path percent-encoded, the query and the
// credentials as written.
func TestPosterWritesURLsInASCII(t *testing.T) {
	for in, want := range map[string]string{
		"https://partner.example/hooks/crier?x=1":      "https://partner.example/hooks/crier?x=1",
		"http://bücher.example:8080/é?q=ü":             "http://xn--bcher-kva.example:8080/%C3%A9?q=ü",
		"https://médecins.example/reçu":                "https://xn--mdecins-bya.example/re%C3%A7u",
		"https://user:pässword@xn--bcher-kva.example/": "https://user:pässword@xn--bcher-kva.example/",
	} {
		if got := asciiURL(in); got != want {
			t.Errorf("asciiURL(%q) = %q, want %q", in, got, want)
		}
	}
}
