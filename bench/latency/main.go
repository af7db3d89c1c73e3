// Command latency measures what partners feel: the time from a release
// appearing at an upstream source to its signed webhook arriving at a
// partner whose schedule is "@every 1s", through a real `crier serve`,
// with push (the upstream's WebSub hub) and with polling:
//
//	go run ./bench/latency -releases 30
//
// The upstream is this program: a feed (RSS with rel="hub") and a small
// hub that verifies crier's intent and pushes each new entry, signed. It
// prints the median and p99 of each mode.
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

type upstream struct {
	mu       sync.Mutex
	items    []string // RSS items, newest first
	hubURL   string
	callback string
	secret   string
	live     chan struct{}
}

func (u *upstream) feed(withHub bool) string {
	u.mu.Lock()
	defer u.mu.Unlock()
	hub := ""
	if withHub {
		hub = `<atom:link rel="hub" href="` + u.hubURL + `"/>`
	}
	return `<?xml version="1.0"?><rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel><title>Upstream</title>` +
		`<link>https://upstream.example/</link><atom:link rel="self" href="https://upstream.example/feed"/>` + hub + strings.Join(u.items, "") + `</channel></rss>`
}

var words = strings.Fields(`migration migrants border health refugees asylum shelter water families support government partners
funding programme centre training employment housing schools children women return reintegration floods drought violence`)

func item(n int) string {
	var b strings.Builder
	for w := 0; w < 80; w++ {
		b.WriteString(words[(n*131+w*w*7+w*3)%len(words)] + " ")
	}
	return fmt.Sprintf(`<item><title>Release %d</title><guid>release-%d</guid><description>GENEVA – %s %d</description></item>`, n, n, b.String(), n)
}

func main() {
	n := flag.Int("releases", 30, "releases per mode")
	flag.Parse()
	work, _ := os.MkdirTemp("", "crier-bench-latency-")
	defer os.RemoveAll(work)
	bin := filepath.Join(work, "crier")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/crier").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	fmt.Printf("%-8s %8s %10s %10s\n", "mode", "releases", "median", "p99")
	for _, push := range []bool{true, false} {
		lat, err := run(bin, work, push, *n)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench/latency:", err)
			os.Exit(1)
		}
		slices.Sort(lat)
		mode := "push"
		if !push {
			mode = "polling"
		}
		fmt.Printf("%-8s %8d %10s %10s\n", mode, len(lat), lat[len(lat)/2].Round(time.Millisecond), lat[(len(lat)*99+99)/100-1].Round(time.Millisecond))
	}
}

func listen() net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	return ln
}

func run(bin, work string, push bool, releases int) ([]time.Duration, error) {
	up := &upstream{live: make(chan struct{}, 1)}
	up.items = []string{item(0)}
	upLn := listen()
	up.hubURL = "http://" + upLn.Addr().String() + "/hub"
	mux := http.NewServeMux()
	mux.HandleFunc("/feed", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml")
		io.WriteString(w, up.feed(push))
	})
	mux.HandleFunc("/hub", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		cb := r.PostForm.Get("hub.callback")
		u, _ := url.Parse(cb)
		q := u.Query()
		q.Set("hub.mode", "subscribe")
		q.Set("hub.topic", r.PostForm.Get("hub.topic"))
		q.Set("hub.challenge", "c")
		q.Set("hub.lease_seconds", "3600")
		u.RawQuery = q.Encode()
		w.WriteHeader(http.StatusAccepted)
		go func() {
			resp, err := http.Get(u.String())
			if err != nil {
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) == "c" {
				up.mu.Lock()
				up.callback, up.secret = cb, r.PostForm.Get("hub.secret")
				up.mu.Unlock()
				up.live <- struct{}{}
			}
		}()
	})
	upSrv := &http.Server{Handler: mux}
	go upSrv.Serve(upLn)
	defer upSrv.Close()

	// The partner notes when each release arrives.
	var mu sync.Mutex
	arrived := map[string]time.Time{}
	partnerLn := listen()
	partner := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p struct {
			Data struct {
				Items []struct {
					Title string `json:"title"`
				} `json:"items"`
			} `json:"data"`
		}
		json.NewDecoder(r.Body).Decode(&p)
		now := time.Now()
		mu.Lock()
		for _, it := range p.Data.Items {
			if _, ok := arrived[it.Title]; !ok {
				arrived[it.Title] = now
			}
		}
		mu.Unlock()
	})}
	go partner.Serve(partnerLn)
	defer partner.Close()

	crierLn := listen()
	addr := crierLn.Addr().String()
	crierLn.Close()
	schedule := "@every 1h" // with push, polling is only the fallback
	if !push {
		schedule = "@every 10s"
	}
	cfg := fmt.Sprintf(`[server]
listen = %q
base_url = "http://%s"
[storage]
dsn = %q
[fetch]
allow_private_targets = true
[webhooks]
allow_private_targets = true
[[sources]]
id = "up"
kind = "feed"
url = "http://%s/feed"
language = "en"
schedule = %q
[[subscribers]]
id = "partner"
url = "http://%s/hook"
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
schedule = "@every 1s"
`, addr, addr, filepath.Join(work, fmt.Sprintf("crier-%v.db", push)), upLn.Addr(), schedule, partnerLn.Addr())
	path := filepath.Join(work, fmt.Sprintf("config-%v.toml", push))
	os.WriteFile(path, []byte(cfg), 0o644)
	cmd := exec.Command(bin, "serve", "--config", path)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	if push {
		select {
		case <-up.live:
		case <-time.After(30 * time.Second):
			return nil, fmt.Errorf("crier did not subscribe to the hub")
		}
	} else {
		time.Sleep(3 * time.Second) // the first poll
	}
	var lat []time.Duration
	for i := 1; i <= releases; i++ {
		title := fmt.Sprintf("Release %d", i)
		up.mu.Lock()
		up.items = append([]string{item(i)}, up.items...)
		up.mu.Unlock()
		appeared := time.Now()
		if push {
			body := up.feed(true)
			up.mu.Lock()
			cb, secret := up.callback, up.secret
			up.mu.Unlock()
			m := hmac.New(sha256.New, []byte(secret))
			m.Write([]byte(body))
			req, _ := http.NewRequest("POST", cb, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/rss+xml")
			req.Header.Set("X-Hub-Signature", "sha256="+hex.EncodeToString(m.Sum(nil)))
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}
		deadline := appeared.Add(60 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			at, ok := arrived[title]
			mu.Unlock()
			if ok {
				lat = append(lat, at.Sub(appeared))
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if len(lat) != i {
			return nil, fmt.Errorf("%s did not reach the partner within a minute", title)
		}
		time.Sleep(time.Duration(300+i*37%700) * time.Millisecond) // releases at uneven times
	}
	return lat, nil
}
