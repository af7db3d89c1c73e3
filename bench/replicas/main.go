// Command replicas measures crier on PostgreSQL with 1 and with 3 `crier
// serve` replicas sharing one database: deliveries per second (a fan-out
// of items to partners, from the first item stored to the last delivery
// received) and feed requests per second (clients spread over the
// replicas, conditional polls and full responses). Each run starts from an
// empty database:
//
//	go run ./bench/replicas -postgres postgres://user@127.0.0.1:5432/postgres
//
// The user must be allowed to create databases.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
)

func main() {
	admin := flag.String("postgres", os.Getenv("CRIER_TEST_POSTGRES"), "URL of a PostgreSQL database where the user may create databases")
	items := flag.Int("items", 200, "releases to fan out")
	partners := flag.Int("partners", 20, "partners, each owed every release")
	secs := flag.Int("seconds", 5, "seconds of feed requests")
	flag.Parse()
	if *admin == "" {
		fmt.Fprintln(os.Stderr, "bench/replicas: give -postgres URL (or CRIER_TEST_POSTGRES)")
		os.Exit(2)
	}
	work, _ := os.MkdirTemp("", "crier-bench-replicas-")
	defer os.RemoveAll(work)
	bin := filepath.Join(work, "crier")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/crier").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	fmt.Printf("%d items x %d partners; feed load %ds, 32 clients\n", *items, *partners, *secs)
	fmt.Printf("%-9s %14s %16s %16s\n", "replicas", "deliveries/s", "feed 200 req/s", "feed 304 req/s")
	for _, n := range []int{1, 3} {
		d, f200, f304, err := run(*admin, bin, work, n, *items, *partners, *secs)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench/replicas:", err)
			os.Exit(1)
		}
		fmt.Printf("%-9d %14.0f %16.0f %16.0f\n", n, d, f200, f304)
	}
}

func run(admin, bin, work string, replicas, items, partners, secs int) (deliveries, f200, f304 float64, err error) {
	dsn, drop, err := tempDB(admin)
	if err != nil {
		return 0, 0, 0, err
	}
	defer drop()
	rel := filepath.Join(work, fmt.Sprintf("releases%d", replicas))
	os.MkdirAll(rel, 0o755)
	words := strings.Fields(`migration migrants border health refugees asylum shelter water families support government partners
funding programme centre training employment housing schools children women return reintegration floods drought violence
camps registration data survey report conference ministry office coast river valley market road bridge clinic vaccine`)
	rng := mrand.New(mrand.NewPCG(uint64(replicas), 7))
	for i := 0; i < items; i++ {
		var b strings.Builder
		fmt.Fprintf(&b, "Release %d\n\nGENEVA – ", i)
		for w := 0; w < 150; w++ { // distinct releases: none is a copy of another
			b.WriteString(words[rng.IntN(len(words))] + " ")
		}
		fmt.Fprintf(&b, "%d", i)
		os.WriteFile(filepath.Join(rel, fmt.Sprintf("r%04d.txt", i)), []byte(b.String()), 0o644)
	}
	var received atomic.Int64
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		received.Add(1)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	var subs strings.Builder
	for p := 0; p < partners; p++ {
		fmt.Fprintf(&subs, "[[subscribers]]\nid = \"p%d\"\nurl = \"http://%s/p%d\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\nschedule = \"@every 1s\"\nbackfill = \"all\"\n", p, ln.Addr(), p)
	}
	var addrs []string
	var cmds []*exec.Cmd
	defer func() {
		for _, c := range cmds {
			c.Process.Kill()
			c.Wait()
		}
	}()
	start := time.Now()
	for r := 0; r < replicas; r++ {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := l.Addr().String()
		l.Close()
		addrs = append(addrs, addr)
		cfg := fmt.Sprintf("[server]\nlisten = %q\nbase_url = \"http://feeds.example\"\n[storage]\ndriver = \"postgres\"\ndsn = %q\n[webhooks]\nmax_body = \"4KiB\"\nallow_private_targets = true\n"+
			"[[sources]]\nid = \"s\"\nkind = \"dir\"\npath = %q\nlanguage = \"en\"\nschedule = \"@every 1h\"\n%s", addr, dsn, rel, subs.String())
		path := filepath.Join(work, fmt.Sprintf("r%d-%d.toml", replicas, r))
		os.WriteFile(path, []byte(cfg), 0o644)
		cmd := exec.Command(bin, "serve", "--config", path)
		if err := cmd.Start(); err != nil {
			return 0, 0, 0, err
		}
		cmds = append(cmds, cmd)
	}
	want := int64(items * partners)
	deadline := time.Now().Add(5 * time.Minute)
	for received.Load() < want && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	took := time.Since(start)
	if received.Load() < want {
		return 0, 0, 0, fmt.Errorf("%d replicas: %d of %d deliveries after 5 minutes", replicas, received.Load(), want)
	}
	deliveries = float64(want) / took.Seconds()
	f200 = load(addrs, secs, "")
	etag := ""
	req, _ := http.NewRequest("GET", "http://"+addrs[0]+"/feeds/all.atom", nil)
	req.Header.Set("Accept-Encoding", "identity")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		etag = resp.Header.Get("ETag")
		resp.Body.Close()
	}
	f304 = load(addrs, secs, etag)
	return deliveries, f200, f304, nil
}

// load polls /feeds/all.atom with 32 clients spread over the replicas.
func load(addrs []string, secs int, etag string) float64 {
	var n atomic.Int64
	stop := time.Now().Add(time.Duration(secs) * time.Second)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var wg sync.WaitGroup
	for c := 0; c < 32; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				req, _ := http.NewRequest("GET", "http://"+addrs[int(n.Load())%len(addrs)]+"/feeds/all.atom", nil)
				req.Header.Set("Accept-Encoding", "identity")
				if etag != "" {
					req.Header.Set("If-None-Match", etag)
				}
				resp, err := client.Do(req)
				if err != nil {
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(n.Load()) / float64(secs)
}

func tempDB(admin string) (string, func(), error) {
	db, err := sql.Open("pgx", admin)
	if err != nil {
		return "", nil, err
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := "crier_bench_" + hex.EncodeToString(b)
	if _, err := db.ExecContext(context.Background(), "CREATE DATABASE "+name); err != nil {
		db.Close()
		return "", nil, err
	}
	u, _ := url.Parse(admin)
	u.Path = "/" + name
	return u.String(), func() { db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); db.Close() }, nil
}
