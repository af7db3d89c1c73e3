package admin

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/crier-hub/crier/internal/front"
	"github.com/crier-hub/crier/internal/metrics"
	"github.com/crier-hub/crier/internal/testenv"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/crier-hub/crier/internal/store"
)

// server is where a test's requests go.
type server struct{ URL string }

// setup serves the admin API as crier serve does, through the front (the
// dashboard's browser and the OpenAPI validator included), and returns
// where, with its store.
func setup(t *testing.T, token string) (server, *store.Store) {
	t.Helper()
	dir := t.TempDir()
	doc := "[server]\nadmin_token = \"" + token + "\"\n[[sources]]\nid = \"s\"\nkind = \"dir\"\npath = \".\"\n" +
		"[[subscribers]]\nid = \"p\"\nurl = \"https://partner.example/hook\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\nschedule = \"@hourly\"\n"
	cfg, st := testenv.New(t, dir, doc)
	st.AddSubscriber(context.Background(), "p", "0s")
	mux := http.NewServeMux()
	api := &API{Cfg: cfg, Store: st, Log: testenv.Log(), Metrics: promhttp.HandlerFor(metrics.New(st).Registry, promhttp.HandlerOpts{}),
		Fetch: func(ctx context.Context, id string) (RunCounts, error) {
			return RunCounts{Source: id, Documents: 4, Added: 3, Unchanged: 1}, nil
		}}
	api.Register(mux)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fs := front.New(front.Options{ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, IdleTimeout: 10 * time.Second, MaxHeader: 16 << 10}, testenv.Log())
	fs.Set(mux, nil)
	done := make(chan error, 1)
	go func() { done <- fs.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		fs.Shutdown(ctx)
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return server{URL: "http://" + ln.Addr().String()}, st
}

func call(t *testing.T, method, url, token string) (int, string) {
	req, _ := http.NewRequest(method, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestTokenRequired(t *testing.T) {
	token := "a-long-enough-admin-token"
	srv, _ := setup(t, token)
	for _, tt := range []struct {
		token  string
		status int
	}{{"", 401}, {"wrong-token-wrong-token", 401}, {token, 200}} {
		if code, body := call(t, "GET", srv.URL+"/api/v1/sources", tt.token); code != tt.status {
			t.Errorf("token %q: %d %s, want %d", tt.token, code, body, tt.status)
		}
	}
	off, _ := setup(t, "")
	if code, _ := call(t, "GET", off.URL+"/api/v1/sources", "anything"); code != 404 {
		t.Errorf("with no admin_token the API must be off: %d", code)
	}
}

func TestAdminRoutes(t *testing.T) {
	token := "a-long-enough-admin-token"
	srv, _ := setup(t, token)
	code, body := call(t, "POST", srv.URL+"/api/v1/sources/s/fetch", token)
	if code != 200 || !strings.Contains(body, `"added": 3`) || !strings.Contains(body, `"unchanged": 1`) || !strings.Contains(body, `"documents": 4`) {
		t.Errorf("fetch now: %d %s", code, body)
	}
	if code, _ := call(t, "POST", srv.URL+"/api/v1/sources/nope/fetch", token); code != 404 {
		t.Errorf("unknown source: %d", code)
	}
	call(t, "POST", srv.URL+"/api/v1/subscribers/p/pause", token)
	_, body = call(t, "GET", srv.URL+"/api/v1/subscribers", token)
	var subs []subscriberView
	json.Unmarshal([]byte(body), &subs)
	if len(subs) != 1 || !subs[0].Paused {
		t.Errorf("pause: %s", body)
	}
	if code, _ := call(t, "POST", srv.URL+"/api/v1/deliveries/msg_nope/replay", token); code != 404 {
		t.Errorf("replay of an unknown delivery: %d", code)
	}
	if code, body := call(t, "POST", srv.URL+"/api/v1/sources", token); code != 400 || !strings.Contains(body, "JSON object") {
		t.Errorf("adding a source without a body: %d %s, want 400", code, body)
	}
	// Every answer that is not 2xx is JSON with an error.
	for _, tt := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/api/v1/nope", 404},
		{"PATCH", "/api/v1/sources", 405},
		{"DELETE", "/api/v1/sources/s", 409},
		{"GET", "/api/v1/subscribers/nope/deliveries", 404},
		{"POST", "/api/v1/subscribers/nope/pause", 404},
		{"GET", "/api/v1/sources", 401},
	} {
		tok := token
		if tt.status == 401 {
			tok = ""
		}
		code, body := call(t, tt.method, srv.URL+tt.path, tok)
		var e struct{ Error string }
		if code != tt.status || json.Unmarshal([]byte(body), &e) != nil || e.Error == "" {
			t.Errorf("%s %s: %d %q, want %d with a JSON error", tt.method, tt.path, code, body, tt.status)
		}
	}
	if code, body := call(t, "POST", srv.URL+"/api/v1/subscribers/p/retry", token); code != 200 || !strings.Contains(body, `"due_now"`) {
		t.Errorf("retry: %d %s", code, body)
	}
	if code, _ := call(t, "GET", srv.URL+"/metrics", ""); code != 401 {
		t.Errorf("metrics without the admin token: %d, want 401", code)
	}
	open, _ := setup(t, "")
	if code, _ := call(t, "GET", open.URL+"/metrics", ""); code != 200 {
		t.Errorf("metrics with no admin token configured: %d, want 200", code)
	}
	code, body = call(t, "GET", srv.URL+"/metrics", token)
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "crier_store_wal_bytes", "crier_search_waiting", "crier_outbox_owed", "crier_outbox_oldest_owed_seconds", "crier_outbox_unsettled", "crier_subscriber_failing"} {
		if !strings.Contains(body, name) {
			t.Errorf("metrics lack %s", name)
		}
	}
	promtool(t, body)
	if code != 200 || !strings.Contains(body, "crier_items 0") || !strings.Contains(body, "crier_outbox_unsettled 0") || !strings.Contains(body, `crier_subscriber_failing{subscriber="p"} 0`) {
		t.Errorf("metrics: %d\n%s", code, body)
	}
}

func TestNextRunIsTruthful(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 30, 0, time.UTC)
	for _, tt := range []struct {
		schedule string
		backoff  time.Time
		want     time.Time
	}{
		{"*/15 * * * *", time.Time{}, time.Date(2026, 1, 1, 12, 15, 0, 0, time.UTC)},               // on schedule
		{"*/15 * * * *", now.Add(time.Minute), now.Add(time.Minute)},                               // a backoff sooner than the tick: its own retry
		{"*/15 * * * *", now.Add(20 * time.Minute), time.Date(2026, 1, 1, 12, 30, 0, 0, time.UTC)}, // the first tick after a long backoff
	} {
		if got := nextRun(tt.schedule, tt.backoff, now); !got.Equal(tt.want) {
			t.Errorf("nextRun(%q, %v) = %v, want %v", tt.schedule, tt.backoff, got, tt.want)
		}
	}
}

// promtool checks an exposition with Prometheus's own linter when it is
// installed; bash .ci/run installs it and sets CRIER_VALIDATORS=1, which
// makes it required.
func promtool(t *testing.T, exposition string) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CRIER_VALIDATORS") != "" {
			t.Fatal("CRIER_VALIDATORS is set but promtool is not installed (apt-get install prometheus)")
		}
		t.Log("promtool is not installed: the metrics were not linted (bash .ci/run installs it)")
		return
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = strings.NewReader(exposition)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
