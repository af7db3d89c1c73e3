package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func runCmd(ctx context.Context, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

func writeConfig(t *testing.T, doc string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestBadConfigRefusedByEveryVerb(t *testing.T) {
	path := writeConfig(t, "[server]\nlisten = \"127.0.0.1:0\"\nlisen = \"typo\"\n\n[[sources]]\nid = \"a\"\nkind = \"dir\"\npath = \".\"\nschedule = \"every 5 minutes\"\n")
	for _, verb := range []string{"check", "serve", "fetch"} {
		code, _, stderr := runCmd(context.Background(), verb, "--config", path)
		if code != 1 {
			t.Errorf("%s: exit %d, want 1", verb, code)
		}
		if !strings.Contains(stderr, path+":3:1: unknown key \"server.lisen\"") {
			t.Errorf("%s: stderr lacks the unknown key with line and column:\n%s", verb, stderr)
		}
		if !strings.Contains(stderr, path+":9:1: bad cron expression \"every 5 minutes\"") {
			t.Errorf("%s: stderr lacks the bad cron with line and column:\n%s", verb, stderr)
		}
	}
	// A wrong type stops decoding: it alone is reported.
	path = writeConfig(t, "[feeds]\npage_size = \"many\"\n")
	code, _, stderr := runCmd(context.Background(), "check", "--config", path)
	if code != 1 || !strings.Contains(stderr, path+":2:13: ") {
		t.Errorf("wrong type: exit %d, stderr %q", code, stderr)
	}
}

func TestUsage(t *testing.T) {
	if code, _, _ := runCmd(context.Background()); code != 2 {
		t.Errorf("no command: exit %d, want 2", code)
	}
	if code, _, _ := runCmd(context.Background(), "frobnicate"); code != 2 {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
	if code, _, _ := runCmd(context.Background(), "fetch", "--bogus"); code != 2 {
		t.Errorf("unknown flag: exit %d, want 2", code)
	}
	code, out, _ := runCmd(context.Background(), "version")
	if code != 0 || !strings.HasPrefix(out, "crier ") {
		t.Errorf("version: exit %d, %q", code, out)
	}
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func sampleConfig(t *testing.T, addr string) string {
	wd, _ := os.Getwd()
	releases := filepath.Join(wd, "..", "..", "testdata", "releases")
	return writeConfig(t, fmt.Sprintf(`[server]
listen = %q
base_url = "http://%s"
[[sources]]
id = "samples"
kind = "dir"
path = %q
language = "fr"
country = "BE"
`, addr, addr, releases))
}

// feedHas polls a crier's /feeds/all.atom until it holds at least want
// entries or the deadline passes, and returns how many it held last.
func feedHas(addr string, want int, deadline time.Time) int {
	n := -1
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + addr + "/feeds/all.atom"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if n = strings.Count(string(b), "<entry"); n >= want {
				return n
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return n
}

func TestFetchPrintsSummary(t *testing.T) {
	path := sampleConfig(t, freePort(t))
	code, out, stderr := runCmd(context.Background(), "fetch", "--config", path)
	if code != 0 {
		t.Fatalf("fetch: exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "samples") || !strings.Contains(out, "ADDED") {
		t.Errorf("summary: %q", out)
	}
	fields := strings.Fields(strings.Split(out, "\n")[1])
	if fields[2] != "5" {
		t.Errorf("first fetch added %s, want 5:\n%s", fields[2], out)
	}
	_, out, _ = runCmd(context.Background(), "fetch", "--config", path)
	if fields = strings.Fields(strings.Split(out, "\n")[1]); fields[2] != "0" || fields[5] != "5" {
		t.Errorf("second fetch should add nothing:\n%s", out)
	}
	if code, _, _ := runCmd(context.Background(), "fetch", "--config", path, "--source", "nope"); code != 2 {
		t.Errorf("unknown --source: exit %d, want 2", code)
	}
}

func TestServeAndStopGracefully(t *testing.T) {
	addr := freePort(t)
	path := sampleConfig(t, addr)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		code, _, _ := runCmd(ctx, "serve", "--config", path)
		done <- code
	}()
	if n := feedHas(addr, 5, time.Now().Add(20*time.Second)); n != 5 {
		t.Fatalf("serve: the Atom feed has %d entries, want 5", n)
	}
	if code, out, _ := runCmd(context.Background(), "health", "--config", path); code != 0 || strings.TrimSpace(out) != "ok" {
		t.Errorf("crier health while serving: exit %d %q", code, out)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve exited %d after a graceful stop, want 0", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after its context was cancelled")
	}
}

// brokenListener accepts nothing: its Accept fails for good, as a listener
// whose socket was closed under it does.
type brokenListener struct{ net.Listener }

func (l brokenListener) Accept() (net.Conn, error) {
	return nil, errors.New("accept: socket closed under the server")
}

// When the HTTP server stops on its own, serve stops everything it started
// and says why, instead of hanging.
func TestServeStopsWhenTheServerFails(t *testing.T) {
	var stderr strings.Builder
	a := &app{configPath: sampleConfig(t, freePort(t)), stdout: io.Discard, stderr: &stderr, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		listen: func(network, address string) (net.Listener, error) {
			ln, err := net.Listen(network, address)
			return brokenListener{ln}, err
		}}
	done := make(chan error, 1)
	go func() { done <- a.serve(context.Background()) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "socket closed") {
			t.Errorf("serve returned %v, want the server's error", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve hung after its HTTP server failed")
	}
}

// SIGHUP re-reads config.toml: a topic added appears without a restart; a
// config that fails check is not applied and the running one stays.
func TestReloadOnSIGHUP(t *testing.T) {
	addr := freePort(t)
	path := sampleConfig(t, addr)
	base, _ := os.ReadFile(path)
	hup := make(chan os.Signal, 1)
	var logs syncBuffer
	a := &app{configPath: path, stdout: io.Discard, stderr: io.Discard, reload: hup,
		log: slog.New(slog.NewTextHandler(&logs, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.serve(ctx) }()
	status := func(p string) int {
		resp, err := http.Get("http://" + addr + p)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	wait := func(p string, want int) bool {
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if status(p) == want {
				return true
			}
		}
		return false
	}
	if !wait("/feeds/all.atom", 200) || status("/feeds/topic/floods.atom") != 404 {
		t.Fatal("serve did not start, or knows a topic it was not given")
	}
	topic := "\n[[topics]]\nslug = \"floods\"\nname = \"Floods\"\n[topics.keywords]\nfr = [\"inondation\"]\n"
	os.WriteFile(path, append(base, topic...), 0o644)
	hup <- syscall.SIGHUP
	if !wait("/feeds/topic/floods.atom", 200) {
		t.Fatal("a topic added to config.toml did not appear after SIGHUP")
	}
	os.WriteFile(path, append(base, "\n[feeds]\npage_size = \"fifty\"\n"...), 0o644)
	hup <- syscall.SIGHUP
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !strings.Contains(logs.String(), "config not reloaded"); {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "config not reloaded: "+path+":") {
		t.Errorf("a bad config on reload was not logged with its place:\n%s", logs.String())
	}
	if status("/feeds/topic/floods.atom") != 200 {
		t.Error("a bad config replaced the running one")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// Sources and subscribers added, replaced and removed through the admin
// API are kept in the store and put to work without a restart; those of
// config.toml are read-only there (409); a bad one is a 400 listing its
// problems; a secret is never returned.
func TestManagedThroughTheAPI(t *testing.T) {
	addr := freePort(t)
	path := sampleConfig(t, addr)
	base, _ := os.ReadFile(path)
	token := "a-long-enough-admin-token"
	os.WriteFile(path, []byte(strings.Replace(string(base), "[server]\n", "[server]\nadmin_token = \""+token+"\"\n", 1)), 0o644)
	more := t.TempDir()
	a := &app{configPath: path, stdout: io.Discard, stderr: io.Discard, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.serve(ctx) }()
	call := func(method, p, body string) (int, string) {
		req, _ := http.NewRequest(method, "http://"+addr+p, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	wait := func(p string, want int) bool {
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if code, _ := call("GET", p, ""); code == want {
				return true
			}
		}
		return false
	}
	if !wait("/feeds/all.atom", 200) {
		t.Fatal("serve did not start")
	}
	src := fmt.Sprintf(`{"id": "more", "name": "More releases", "kind": "dir", "path": %q, "language": "en"}`, more)
	if code, body := call("POST", "/api/v1/sources", src); code != 201 {
		t.Fatalf("add a source: %d %s", code, body)
	}
	if !wait("/feeds/source/more.atom", 200) {
		t.Fatal("a source added through the API never got its feed")
	}
	if code, _ := call("POST", "/api/v1/sources", src); code != 409 {
		t.Errorf("adding it twice: %d, want 409", code)
	}
	if code, body := call("POST", "/api/v1/sources", `{"id": "samples", "kind": "dir", "path": "."}`); code != 409 || !strings.Contains(body, "config.toml") {
		t.Errorf("changing config.toml's source: %d %s", code, body)
	}
	if code, body := call("POST", "/api/v1/sources", `{"id": "bad", "kind": "page", "url": "http://127.0.0.1/x", "links": "a[[["}`); code != 400 || !strings.Contains(body, "CSS selector") || !strings.Contains(body, "fetch.allow_private_targets") {
		t.Errorf("a bad source: %d %s, want 400 with every problem", code, body)
	}
	if code, body := call("PUT", "/api/v1/sources/more", fmt.Sprintf(`{"name": "Renamed", "kind": "dir", "path": %q}`, more)); code != 200 {
		t.Errorf("replace: %d %s", code, body)
	}
	sub := `{"id": "p", "url": "https://partner.example/hook", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "schedule": "@hourly"}`
	if code, body := call("POST", "/api/v1/subscribers", sub); code != 201 || strings.Contains(body, "whsec_") {
		t.Errorf("add a subscriber: %d %s (a secret must never be returned)", code, body)
	}
	wait("/api/v1/subscribers/p", 200) // applied in the background
	if code, body := call("GET", "/api/v1/subscribers/p", ""); code != 200 || strings.Contains(body, "whsec_") {
		t.Errorf("get a subscriber: %d %s", code, body)
	}
	if code, _ := call("DELETE", "/api/v1/sources/more", ""); code != 200 {
		t.Errorf("remove: %d", code)
	}
	if !wait("/feeds/source/more.atom", 404) {
		t.Error("a removed source's feed is still served")
	}
	cancel()
	<-done
	// They are kept in the store: a restart finds the subscriber.
	a2 := &app{configPath: path, stdout: io.Discard, stderr: io.Discard, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	go a2.serve(ctx2)
	if !wait("/api/v1/subscribers/p", 200) {
		t.Error("a subscriber added through the API did not survive a restart")
	}
}
