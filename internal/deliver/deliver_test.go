package deliver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crier-hub/crier/internal/testenv"

	"github.com/crier-hub/crier/internal/config"
	"github.com/crier-hub/crier/internal/ingest"
	"github.com/crier-hub/crier/internal/store"
	"github.com/crier-hub/crier/webhooks"
)

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// receiver records what a partner got, verifying every signature.
type receiver struct {
	t       testing.TB
	mu      sync.Mutex
	got     map[string][]string // item id -> webhook-ids that carried it
	ids     []string            // webhook-ids in arrival order
	bodies  [][]byte
	headers []http.Header
	answer  func(w http.ResponseWriter, r *http.Request) bool // true = handled
	srv     *httptest.Server
	now     func() time.Time // the clock signatures are checked against
}

func newReceiver(t testing.TB) *receiver {
	rc := &receiver{t: t, got: map[string][]string{}, now: time.Now}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		answer := rc.answer
		rc.mu.Unlock()
		if answer != nil && answer(w, r) {
			return
		}
		rc.mu.Lock()
		now := rc.now()
		rc.mu.Unlock()
		if err := webhooks.Verify([]string{secret}, r.Header, body, now); err != nil {
			t.Errorf("signature: %v", err)
		}
		// The public type holds every field crier sends: nothing a partner
		// decodes with it is lost.
		var p webhooks.Payload
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil || (p.Type != webhooks.EventItemsPublished && p.Type != webhooks.EventItemsUpdated && p.Type != webhooks.EventItemsDeleted) {
			t.Errorf("payload: %v %q", err, p.Type)
		}
		rc.mu.Lock()
		defer rc.mu.Unlock()
		id := r.Header.Get("webhook-id")
		rc.ids = append(rc.ids, id)
		rc.bodies = append(rc.bodies, body)
		rc.headers = append(rc.headers, r.Header.Clone())
		for _, it := range p.Data.Items {
			rc.got[it.ID] = append(rc.got[it.ID], id)
		}
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) set(f func(w http.ResponseWriter, r *http.Request) bool) {
	rc.mu.Lock()
	rc.answer = f
	rc.mu.Unlock()
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func newClock() *clock               { return &clock{t: time.Now()} }
func quiet() *slog.Logger            { return testenv.Log() }
func sub(id, url, filter string) string {
	return fmt.Sprintf("[[subscribers]]\nid = %q\nurl = %q\nsecret = %q\nschedule = \"@hourly\"\nbackfill = \"all\"\n%s\n", id, url, secret, filter)
}

// setup ingests the sample releases and returns a Deliverer for subs.
func setup(t testing.TB, extra string, subs ...string) (*Deliverer, *clock) {
	t.Helper()
	dir := t.TempDir()
	wd, _ := os.Getwd()
	doc := fmt.Sprintf("[webhooks]\ntimeout = \"2s\"\nallow_private_targets = true\n%s\n[[sources]]\nid = \"samples\"\nkind = \"dir\"\npath = %q\nlanguage = \"fr\"\ncountry = \"BE\"\n"+
		"[[topics]]\nslug = \"refugees\"\n[topics.keywords]\nfr = [\"réfugié\"]\n%s", extra, filepath.Join(wd, "../../testdata/releases"), strings.Join(subs, "\n"))
	cfg, st := testenv.New(t, dir, doc)
	if r := ingest.New(cfg, st, quiet()).Run(context.Background(), cfg.Sources[0]); r.Err != nil || r.Added != 5 {
		t.Fatalf("ingest: %+v", r)
	}
	c := newClock()
	st.Now = c.Now
	d := New(cfg, st, quiet())
	d.Now, d.Jitter = c.Now, func() float64 { return 1 }
	if err := d.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	return d, c
}

func fireAll(t testing.TB, d *Deliverer) {
	t.Helper()
	for id := range d.Subs {
		if _, err := d.Fire(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
}

func TestEveryMatchingPairDeliveredOnce(t *testing.T) {
	all, be, refugees := newReceiver(t), newReceiver(t), newReceiver(t)
	d, _ := setup(t, "", sub("all", all.srv.URL, ""),
		sub("be", be.srv.URL, "[subscribers.filter]\ncountries = [\"BE\"]"),
		sub("refugees", refugees.srv.URL, "[subscribers.filter]\ntopics = [\"refugees\"]\nlanguages = [\"fr\"]"))
	ctx := context.Background()
	fireAll(t, d)
	fireAll(t, d) // firing again owes nothing new
	if _, delivered, err := d.SendDue(ctx); err != nil || delivered != 3 {
		t.Fatalf("SendDue: %d delivered, %v; want 3", delivered, err)
	}
	items, _ := concrete(d.Store).Items(ctx, store.Query{})
	want := map[*receiver]int{all: 0, be: 0, refugees: 0}
	for _, it := range items {
		want[all]++
		if it.Country == "BE" {
			want[be]++
		}
		for _, tp := range it.Topics {
			if tp == "refugees" {
				want[refugees]++
			}
		}
	}
	for rc, n := range want {
		if len(rc.got) != n || n == 0 {
			t.Errorf("receiver got %d items, want %d", len(rc.got), n)
		}
		for id, hooks := range rc.got {
			if len(hooks) != 1 {
				t.Errorf("item %s delivered %d times", id, len(hooks))
			}
		}
	}
	if n, _, _ := d.SendDue(ctx); n != 0 {
		t.Errorf("a second SendDue made %d attempts, want none", n)
	}
}

func TestRetryKeepsWebhookIDAndFollowsSchedule(t *testing.T) {
	rc := newReceiver(t)
	d, c := setup(t, "", sub("p", rc.srv.URL, ""))
	rc.now = c.Now
	ctx := context.Background()
	var seen []string
	calls := 0
	rc.set(func(w http.ResponseWriter, r *http.Request) bool {
		calls++
		seen = append(seen, r.Header.Get("webhook-id"))
		switch calls {
		case 1:
			http.Error(w, "oops", 500)
			return true
		case 2:
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(503)
			return true
		}
		return false
	})
	fireAll(t, d)
	d.SendDue(ctx) // 500
	d.SendDue(ctx) // not due: the first retry waits 5s
	if calls != 1 {
		t.Fatalf("retried before its time: %d calls", calls)
	}
	c.Add(6 * time.Second)
	d.SendDue(ctx) // 503, Retry-After 1h beats the 5 min of the schedule
	c.Add(30 * time.Minute)
	d.SendDue(ctx)
	if calls != 2 {
		t.Fatalf("Retry-After not honoured: %d calls", calls)
	}
	c.Add(31 * time.Minute)
	if _, delivered, _ := d.SendDue(ctx); delivered != 1 {
		t.Fatal("not delivered after Retry-After")
	}
	if len(rc.ids) != 1 || seen[0] != seen[1] || seen[1] != rc.ids[0] {
		t.Errorf("webhook-ids across retries: %v then %v", seen, rc.ids)
	}
	dels, _ := concrete(d.Store).Deliveries(ctx, "p", 10)
	atts, _ := concrete(d.Store).Attempts(ctx, dels[0].ID)
	if len(atts) != 3 || atts[0].Status != 500 || atts[1].Status != 503 || atts[2].Status != 200 || string(atts[0].Response) != "oops\n" {
		t.Errorf("attempts recorded: %+v", atts)
	}
}

func TestGoneAndNeverGiveUp(t *testing.T) {
	rc := newReceiver(t)
	d, c := setup(t, "", sub("p", rc.srv.URL, ""))
	rc.now = c.Now
	ctx := context.Background()
	rc.set(func(w http.ResponseWriter, r *http.Request) bool { w.WriteHeader(410); return true })
	fireAll(t, d)
	d.SendDue(ctx)
	subs, _ := concrete(d.Store).Subscribers(ctx)
	if !subs["p"].Paused {
		t.Fatal("410 did not pause the subscriber")
	}
	c.Add(time.Hour)
	if n, _, _ := d.SendDue(ctx); n != 0 {
		t.Error("a paused subscriber got an attempt")
	}
	// Resumed, the partner fails every time: after the last scheduled
	// retry the delivery stays owed (retried daily), the subscriber is
	// failing, and nothing created later overtakes it.
	rc.set(func(w http.ResponseWriter, r *http.Request) bool { w.WriteHeader(500); return true })
	concrete(d.Store).SetPaused(ctx, "p", false)
	for i := 0; i <= len(Retries)+1; i++ {
		d.SendDue(ctx)
		c.Add(25 * time.Hour)
	}
	dels, _ := concrete(d.Store).Deliveries(ctx, "p", 10)
	first := dels[len(dels)-1]
	subs, _ = concrete(d.Store).Subscribers(ctx)
	if first.Status != store.Due || !subs["p"].Failing || first.Attempts != len(Retries)+3 { // the 410, then one a day
		t.Fatalf("after the last retry: status %s, attempts %d, failing %v", first.Status, first.Attempts, subs["p"].Failing)
	}
	for _, later := range dels[:len(dels)-1] {
		if later.Attempts != 0 {
			t.Errorf("delivery %s was attempted %d times while an older one was owed", later.WebhookID, later.Attempts)
		}
	}
	// Fixed, the partner gets the owed delivery now (not after a day's
	// wait) through replay, under its own webhook-id, then the rest in order.
	rc.set(nil)
	rc.ids = nil
	if err := concrete(d.Store).Replay(ctx, first.WebhookID); err != nil {
		t.Fatal(err)
	}
	if _, delivered, _ := d.SendDue(ctx); delivered < 1 || rc.ids[0] != first.WebhookID {
		t.Errorf("replay: delivered %d, ids %v", delivered, rc.ids)
	}
	subs, _ = concrete(d.Store).Subscribers(ctx)
	if subs["p"].Failing {
		t.Error("a success did not clear failing")
	}
}

func TestBadReceiversDoNotHoldUpOthers(t *testing.T) {
	good := newReceiver(t)
	bad := map[string]func(w http.ResponseWriter, r *http.Request) bool{
		"redirect": func(w http.ResponseWriter, r *http.Request) bool {
			http.Redirect(w, r, "https://elsewhere.example/", http.StatusFound)
			return true
		},
		"hang": func(w http.ResponseWriter, r *http.Request) bool { <-r.Context().Done(); return true },
		"drip": func(w http.ResponseWriter, r *http.Request) bool {
			w.WriteHeader(500)
			for i := 0; i < 100 && r.Context().Err() == nil; i++ {
				w.Write([]byte("x"))
				w.(http.Flusher).Flush()
				time.Sleep(100 * time.Millisecond)
			}
			return true
		},
		"gigabyte": func(w http.ResponseWriter, r *http.Request) bool {
			w.WriteHeader(500)
			chunk := make([]byte, 1<<20)
			for i := 0; i < 1024; i++ {
				if _, err := w.Write(chunk); err != nil {
					return true
				}
			}
			return true
		},
	}
	subs := []string{sub("good", good.srv.URL, "")}
	for name, h := range bad {
		rc := newReceiver(t)
		rc.set(h)
		subs = append(subs, sub(name, rc.srv.URL, ""))
	}
	d, _ := setup(t, "", subs...)
	ctx := context.Background()
	fireAll(t, d)
	attempts, delivered, err := d.SendDue(ctx)
	if err != nil || attempts != 5 || delivered != 1 || len(good.got) != 5 {
		t.Fatalf("attempts %d, delivered %d, good got %d items, err %v", attempts, delivered, len(good.got), err)
	}
	for name, want := range map[string]string{"redirect": "HTTP 302", "hang": "no answer within 2s", "drip": "HTTP 500", "gigabyte": "HTTP 500"} {
		dels, _ := concrete(d.Store).Deliveries(ctx, name, 1)
		if len(dels) != 1 || dels[0].Status != store.Due || !strings.Contains(dels[0].LastError, want) {
			t.Errorf("%s: %d deliveries, first %s %q; want due again with %q", name, len(dels), dels[0].Status, dels[0].LastError, want)
		}
		if atts, _ := concrete(d.Store).Attempts(ctx, dels[0].ID); len(atts) != 1 || len(atts[0].Response) > 1024 {
			t.Errorf("%s: attempts %d, response kept %d bytes", name, len(atts), len(atts[0].Response))
		}
	}
}

func TestLargeBatchesAreSplit(t *testing.T) {
	rc := newReceiver(t)
	d, _ := setup(t, "", sub("p", rc.srv.URL, ""))
	d.MaxBody = 9000 // a sample release is 3 to 8 KiB as JSON
	fireAll(t, d)
	d.SendDue(context.Background())
	if len(rc.bodies) < 3 || len(rc.got) != 5 {
		t.Fatalf("%d bodies carrying %d items; want several carrying all 5", len(rc.bodies), len(rc.got))
	}
	for _, b := range rc.bodies {
		if len(b) > 9000 {
			t.Errorf("a body of %d bytes exceeds max_body", len(b))
		}
	}
}

func TestPrivateTargetsRefused(t *testing.T) {
	rc := newReceiver(t)
	d, _ := setup(t, "", sub("p", rc.srv.URL, ""))
	guarded := New(&config.Config{Webhooks: config.Webhooks{Timeout: 2 * time.Second, MaxBody: 1 << 20}}, d.Store, quiet())
	guarded.Subs, guarded.Now, guarded.Jitter = d.Subs, d.Now, d.Jitter
	fireAll(t, guarded)
	guarded.SendDue(context.Background())
	if len(rc.ids) != 0 {
		t.Fatal("a loopback target was reached with allow_private_targets off")
	}
	dels, _ := concrete(d.Store).Deliveries(context.Background(), "p", 1)
	if !strings.Contains(dels[0].LastError, "not public") {
		t.Errorf("last error %q, want the address refused", dels[0].LastError)
	}
}

// A release corrected at its source keeps its id and reaches the partner
// again as items.updated; one whose file is deleted leaves every feed and
// reaches the partner as items.deleted; every delivery is numbered.
func TestCorrectionsAndRetractions(t *testing.T) {
	rc := newReceiver(t)
	ctx := context.Background()
	dir := t.TempDir()
	rel := filepath.Join(dir, "releases")
	os.Mkdir(rel, 0o755)
	samples, _ := filepath.Glob("../../testdata/releases/*.txt")
	for _, f := range samples {
		b, _ := os.ReadFile(f)
		os.WriteFile(filepath.Join(rel, filepath.Base(f)), b, 0o644)
	}
	doc := "[webhooks]\ntimeout = \"2s\"\nallow_private_targets = true\n[[sources]]\nid = \"s\"\nkind = \"dir\"\npath = \"releases\"\nlanguage = \"fr\"\ncountry = \"BE\"\n" + sub("p", rc.srv.URL, "")
	cfg, st := testenv.New(t, dir, doc)
	in := ingest.New(cfg, st, quiet())
	src := cfg.Sources[0]
	if r := in.Run(ctx, src); r.Added != 5 {
		t.Fatalf("ingest: %+v", r)
	}
	d := New(cfg, st, quiet())
	d.Sync(ctx)
	fireAll(t, d)
	if _, delivered, err := d.SendDue(ctx); err != nil || delivered == 0 {
		t.Fatalf("first fan-out: %d, %v", delivered, err)
	}
	files := []string{filepath.Join(rel, "000_dc35ab031d5b7d0b.txt"), filepath.Join(rel, "004_3ddd9c1bccf19f9a.txt")}
	if len(files) < 2 {
		t.Fatalf("no release files in %s", rel)
	}
	// Correct one release, retract another.
	b, _ := os.ReadFile(files[0])
	os.WriteFile(files[0], bytes.Replace(b, []byte("une équipe, appelée"), []byte("une équipe (chiffres corrigés), appelée"), 1), 0o644)
	os.Remove(files[1])
	r := in.Run(ctx, src)
	if r.Err != nil || r.Updated != 1 || r.Retracted != 1 {
		t.Fatalf("run after the changes: %+v", r)
	}
	before := len(rc.bodies)
	fireAll(t, d)
	if _, _, err := d.SendDue(ctx); err != nil {
		t.Fatal(err)
	}
	types := map[string]int{}
	var seqs []int64
	for _, body := range rc.bodies {
		var p webhooks.Payload
		json.Unmarshal(body, &p)
		seqs = append(seqs, p.Data.Sequence)
	}
	for _, body := range rc.bodies[before:] {
		var p webhooks.Payload
		json.Unmarshal(body, &p)
		types[p.Type]++
		for _, it := range p.Data.Items {
			if p.Type == webhooks.EventItemsDeleted && (it.Crier == nil || it.Crier.Retracted == nil) {
				t.Errorf("items.deleted without _crier.retracted: %+v", it)
			}
			if p.Type == webhooks.EventItemsUpdated && !strings.Contains(it.ContentText, "chiffres corrigés") {
				t.Errorf("items.updated without the corrected text")
			}
		}
	}
	if types[webhooks.EventItemsUpdated] != 1 || types[webhooks.EventItemsDeleted] != 1 || len(types) != 2 {
		t.Errorf("after a correction and a retraction the partner got %v", types)
	}
	for i, s := range seqs {
		if s != int64(i+1) {
			t.Errorf("sequence numbers %v, want 1, 2, 3…", seqs)
			break
		}
	}
	items, _ := concrete(d.Store).Items(ctx, store.Query{Limit: 50, SeqDesc: true})
	if len(items) != 4 {
		t.Errorf("the feed has %d items after one of five was retracted", len(items))
	}
}

// A payload put together from items encoded once is byte for byte what
// encoding/json makes of the whole, whatever the strings it carries.
func TestEnvelopeIsWhatJSONMakes(t *testing.T) {
	type payload struct {
		Type      string    `json:"type"`
		Timestamp time.Time `json:"timestamp"`
		Data      struct {
			Subscriber string            `json:"subscriber"`
			Sequence   int64             `json:"sequence"`
			Items      []json.RawMessage `json:"items"`
		} `json:"data"`
	}
	at := time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC)
	for _, c := range []struct {
		event, sub string
		items      []json.RawMessage
	}{
		{store.Published, "partner-1", []json.RawMessage{[]byte(`{"id":"a","title":"x \u003c y \u0026 \"z\""}`), []byte(`{"id":"b"}`)}},
		{store.Retracted, `odd "sub" <name> é`, []json.RawMessage{[]byte(`{"id":"c"}`)}},
		{store.Corrected, "p", nil},
	} {
		env, err := newEnvelope(c.event, c.sub, at)
		if err != nil {
			t.Fatal(err)
		}
		var p payload
		p.Type, p.Timestamp, p.Data.Subscriber, p.Data.Sequence, p.Data.Items = c.event, at, c.sub, 42, c.items
		if p.Data.Items == nil {
			p.Data.Items = []json.RawMessage{}
		}
		want, _ := json.Marshal(p)
		if got := env.with(42, c.items); string(got) != string(want) {
			t.Errorf("envelope:\n%s\nencoding/json:\n%s", got, want)
		}
	}
}

// A run of a partner's deliveries stops at the first commit after a pause
// (at most the one sent ahead meanwhile goes), and a sender that stops
// mid-run gives the rest of its run back at once: another process need
// not wait for the claims to lapse.
func TestRunsStopOnPauseAndShutdown(t *testing.T) {
	for _, how := range []string{"pause", "shutdown"} {
		t.Run(how, func(t *testing.T) {
			rc := newReceiver(t)
			d, _ := setup(t, "", sub("p", rc.srv.URL, ""))
			d.MaxBody = 2000 // one release a delivery: a run of five
			st := d.Store.(*store.Store)
			fireAll(t, d)
			second := make(chan struct{})
			resume := make(chan struct{})
			n := 0
			rc.set(func(w http.ResponseWriter, r *http.Request) bool {
				rc.mu.Lock()
				n++
				k := n
				rc.mu.Unlock()
				if k == 2 {
					close(second)
					<-resume
				}
				if k > 2 {
					time.Sleep(50 * time.Millisecond) // longer than a commit takes to notice
				}
				return false
			})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan struct{})
			go func() { d.Run(ctx); close(done) }()
			<-second
			if how == "pause" {
				if err := st.SetPaused(ctx, "p", true); err != nil {
					t.Fatal(err)
				}
			} else {
				cancel()
			}
			close(resume)
			if how == "pause" {
				time.Sleep(300 * time.Millisecond) // the commit that notices the pause
				cancel()
			}
			<-done
			rc.mu.Lock()
			got := len(rc.ids)
			rc.mu.Unlock()
			if got < 2 || got > 3 {
				t.Errorf("%d deliveries arrived; want the two in flight or sent ahead at the %s, and no more", got, how)
			}
			if how == "pause" {
				st.SetPaused(context.Background(), "p", false)
			}
			// The rest of the run is given back: claimable now, in order.
			runs, err := st.ClaimRuns(context.Background(), []string{"p"}, 1, 10, time.Minute)
			if err != nil || len(runs) != 1 || len(runs[0]) != 5-got {
				t.Fatalf("after the %s: %v %v, want the %d not sent", how, runs, err, 5-got)
			}
			dels, _ := st.Deliveries(context.Background(), "p", 10)
			for _, del := range dels {
				if del.Status == store.Sent && !slices.Contains(rc.ids, del.WebhookID) {
					t.Errorf("%s recorded sent, never arrived", del.WebhookID)
				}
			}
		})
	}
}

// The items of a payload are joined and named once for every partner
// owed them, and joined again when an item changes.
func TestSharedPartsFollowCorrections(t *testing.T) {
	cfg, st := testenv.New(t, t.TempDir(), "[webhooks]\nmax_body = \"4KiB\"\n")
	d := New(cfg, st, quiet())
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	it := store.Item{Seq: 7, UID: "u7", Title: "First", ContentText: "the first text", Updated: at, Published: at, Language: "en"}
	body := func(sub string, it store.Item) store.Batch {
		t.Helper()
		bs, err := d.batches(sub, store.Published, []store.Item{it}, 1)
		if err != nil || len(bs) != 1 {
			t.Fatalf("batches: %d, %v", len(bs), err)
		}
		if b := bs[0]; b.SharedHash != store.SharedHash(b.Shared) {
			t.Fatalf("the part's hash does not name it")
		}
		return bs[0]
	}
	a, b := body("partner-a", it), body("partner-b", it)
	if a.SharedHash != b.SharedHash || &a.Shared[0] != &b.Shared[0] {
		t.Errorf("two partners owed the same item got parts joined twice")
	}
	it.ContentText, it.Updated = "the corrected text", at.Add(time.Hour)
	c := body("partner-a", it)
	if c.SharedHash == a.SharedHash || !strings.Contains(string(c.Shared), "the corrected text") {
		t.Errorf("a corrected item went out with its old text: %s", c.Shared)
	}
}

// A store that fails every commit (here, closed under the sender) makes
// SendDue return its error, once, instead of claiming again at once and
// again: the sender waits before it tries a claim that failed.
func TestFailingStoreIsNotPolledInALoop(t *testing.T) {
	rc := newReceiver(t)
	d, _ := setup(t, "", sub("p", rc.srv.URL, ""))
	fireAll(t, d)
	concrete(d.Store).Close()
	done := make(chan error, 1)
	go func() {
		_, _, err := d.SendDue(context.Background())
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "claim") && !strings.Contains(err.Error(), "record") {
			t.Fatalf("SendDue on a closed store: %v, want the store's error", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("SendDue on a closed store is still running after 20s")
	}
	if len(rc.ids) != 0 {
		t.Errorf("%d deliveries reached the partner from a closed store", len(rc.ids))
	}
}

// The sender records successes in the outbox's log; once it is idle, it
// settles them onto their deliveries' rows, so that the log stays short.
func TestIdleSenderSettlesTheLog(t *testing.T) {
	rc := newReceiver(t)
	d, _ := setup(t, "", sub("p", rc.srv.URL, ""))
	st := concrete(d.Store)
	fireAll(t, d)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { d.Run(ctx); close(stopped) }()
	defer func() { cancel(); <-stopped }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		dels, err := st.Deliveries(context.Background(), "p", 10)
		if err != nil || len(dels) == 0 {
			t.Fatalf("deliveries: %v %v", dels, err)
		}
		sent := 0
		for _, del := range dels {
			if del.Status == store.Sent && !del.SentAt.IsZero() {
				sent++
			}
		}
		n, err := st.Unsettled(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if sent == len(dels) && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20s %d of %d deliveries are sent and %d successes are unsettled", sent, len(dels), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.got) != 5 {
		t.Errorf("the partner got %d items, want 5", len(rc.got))
	}
}
