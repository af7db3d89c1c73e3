// Command push measures `crier push` against a bare loop of the same
// number of signed POSTs of the same bodies, with as many in flight as
// crier may have (one per partner), in one run on one machine:
//
//	go run ./bench/push -items 100 -partners 20 -max-body 4KiB
//
// It writes distinct releases into a folder, runs `crier fetch` and then
// `crier push` (the binary built from ./cmd/crier) against a receiver in
// this process, checks that every delivery arrived, one at a time per
// partner, and prints deliveries per second for both and the ratio. An
// untimed push first gives the bodies the bare loop sends (the receiver
// keeps none in the timed runs, crier's or the loop's). Each of -runs
// runs (3 by default; this machine's figures vary by about 5%) pushes
// from the store as fetched and then runs the bare loop; the medians are
// printed. crier runs with its default settings (webhooks.concurrency
// bounds its requests in flight at 64, the loop has one per partner). A
// second bare loop, with fasthttp's client (the one crier's webhooks
// use), is measured beside it and its ratio printed too.
//
// The last line is CPU time a delivery, which drifts less with the
// machine than wall time: crier's process (its rusage), the receiver's
// (this process's while crier pushes), and the bare loop's (this
// process's while the loop runs, less the receiver's figure: roughly,
// since the loop's requests reuse their connections and crier's first
// ones do not).
//
// With -ceiling each run also pushes with bench/ceiling (crier's sender
// and fire over an outbox kept in memory, no store work per delivery),
// from the store as fetched, and its rate and ratio against the same
// bare loop are printed: the bound an outbox redesign works towards.
package main

import (
	"bytes"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/crier-hub/crier/webhooks"
)

var words = strings.Fields(`migration migrants border health refugees asylum shelter water families support
government partners funding programme centre training employment housing schools children women return
reintegration floods drought violence camps registration data survey report conference ministry office coast
river valley market road bridge clinic vaccine teachers farmers harvest season rain storm wind fire police`)

// receiver counts deliveries per partner and notices two requests in
// flight to one partner at once. It keeps crier's bodies only while keep
// is set (an untimed run), so that a timed run of crier costs the
// receiver what a run of the bare loop does.
type receiver struct {
	mu       sync.Mutex
	keep     atomic.Bool
	bodies   [][]byte
	inFlight map[string]int
	overlap  atomic.Int64
	count    atomic.Int64
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	rc.inFlight[r.URL.Path]++
	if rc.inFlight[r.URL.Path] > 1 && !strings.HasPrefix(r.URL.Path, "/bare") {
		rc.overlap.Add(1)
	}
	rc.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.inFlight[r.URL.Path]--
	if rc.keep.Load() {
		rc.bodies = append(rc.bodies, body)
	}
	rc.mu.Unlock()
	rc.count.Add(1)
}

func main() {
	items := flag.Int("items", 100, "releases to deliver")
	partners := flag.Int("partners", 20, "subscribers, each owed every release")
	maxBody := flag.String("max-body", "4KiB", "webhooks.max_body")
	words := flag.Int("words", 250, "words per release")
	keep := flag.Bool("keep", false, "keep the work folder (releases, config, store) and print its path")
	runs := flag.Int("runs", 3, "runs of each, on the same store as fetched; the median ratio is reported")
	ceiling := flag.Bool("ceiling", false, "also run bench/ceiling (crier's sender and fire over an outbox in memory) in each run")
	against := flag.String("against", "", "another crier binary (an older build, say), run in each run on the same store, before this tree's: the two compare in turns")
	flag.Parse()
	if err := run(*items, *partners, *maxBody, *words, *keep, max(1, *runs), *ceiling, *against); err != nil {
		fmt.Fprintln(os.Stderr, "bench/push:", err)
		os.Exit(1)
	}
}

func run(items, partners int, maxBody string, nwords int, keep bool, runs int, ceiling bool, against string) error {
	work, err := os.MkdirTemp("", "crier-bench-push-")
	if err != nil {
		return err
	}
	if keep {
		defer fmt.Println("work folder kept:", work)
	} else {
		defer os.RemoveAll(work)
	}
	bin := filepath.Join(work, "crier")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/crier").CombinedOutput(); err != nil {
		return fmt.Errorf("build crier: %v\n%s", err, out)
	}
	ceilingBin := filepath.Join(work, "ceiling")
	if ceiling {
		if out, err := exec.Command("go", "build", "-o", ceilingBin, "./bench/ceiling").CombinedOutput(); err != nil {
			return fmt.Errorf("build bench/ceiling: %v\n%s", err, out)
		}
	}
	if err := writeReleases(filepath.Join(work, "releases"), items, nwords); err != nil {
		return err
	}
	rc := &receiver{inFlight: map[string]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: rc}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String()

	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("bench-secret-bench-secret-32byte"))
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "[server]\nlisten = \"127.0.0.1:0\"\nbase_url = \"http://127.0.0.1\"\n[storage]\ndsn = %q\n", filepath.Join(work, "crier.db"))
	// crier runs with its defaults, webhooks.concurrency (64) among them:
	// as a user runs it.
	fmt.Fprintf(&cfg, "[webhooks]\nmax_body = %q\nallow_private_targets = true\n", maxBody)
	fmt.Fprintf(&cfg, "[[sources]]\nid = \"bench\"\nkind = \"dir\"\npath = %q\nlanguage = \"en\"\ncountry = \"CH\"\n", filepath.Join(work, "releases"))
	for p := 0; p < partners; p++ {
		fmt.Fprintf(&cfg, "[[subscribers]]\nid = \"p%d\"\nurl = \"%s/p/%d\"\nsecret = %q\nschedule = \"@every 1h\"\nbackfill = \"all\"\n", p, base, p, secret)
	}
	conf := filepath.Join(work, "config.toml")
	if err := os.WriteFile(conf, []byte(cfg.String()), 0o644); err != nil {
		return err
	}
	if out, err := exec.Command(bin, "fetch", "--config", conf).CombinedOutput(); err != nil {
		return fmt.Errorf("crier fetch: %v\n%s", err, out)
	}

	// Every run starts from the store as fetched: nothing delivered yet.
	db := filepath.Join(work, "crier.db")
	fetched := map[string][]byte{}
	for _, suffix := range []string{"", "-wal"} {
		if b, err := os.ReadFile(db + suffix); err == nil {
			fetched[suffix] = b
		} else if suffix == "" {
			return err
		}
	}
	restore := func() error {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			os.Remove(db + suffix)
		}
		for suffix, b := range fetched {
			if err := os.WriteFile(db+suffix, b, 0o600); err != nil {
				return err
			}
		}
		rc.count.Store(0)
		return nil
	}
	// An untimed run gives the bodies the bare loops send (the same in
	// every run).
	if err := restore(); err != nil {
		return err
	}
	rc.keep.Store(true)
	if _, _, err := pushOnce(rc, bin, "push", "--config", conf); err != nil {
		return err
	}
	rc.keep.Store(false)
	bodies := rc.bodies
	n := len(bodies)
	var crierRates, bareRates, ratios, fastRates, fastRatios []float64
	var crierCPUs, bareCPUs, recvCPUs []float64 // µs of CPU a delivery
	var ceilingRates, ceilingRatios []float64
	var otherTimes, otherCPUs, times, cpus []float64 // -against: seconds, and seconds of CPU, of each build's push
	for i := 0; i < runs; i++ {
		if against != "" {
			if err := restore(); err != nil {
				return err
			}
			took, cpu, err := pushOnce(rc, against, "push", "--config", conf)
			if err != nil {
				return err
			}
			otherTimes, otherCPUs = append(otherTimes, took.Seconds()), append(otherCPUs, cpu.Seconds())
		}
		if err := restore(); err != nil {
			return err
		}
		recvBefore := selfCPU()
		crierTook, crierCPU, err := pushOnce(rc, bin, "push", "--config", conf)
		if err != nil {
			return err
		}
		recvCPU := selfCPU() - recvBefore // this process's: the receiver's, for crier's requests
		if got := int(rc.count.Load()); got != n {
			return fmt.Errorf("run %d delivered %d, the untimed run %d", i+1, got, n)
		}
		bareBefore := selfCPU()
		bareTook, err := bareLoop(base, secret, partners, bodies, netHTTPPost(partners))
		if err != nil {
			return err
		}
		// The loop's own CPU: this process's, less what the receiver
		// spent on as many requests from crier.
		bareCPU := selfCPU() - bareBefore - recvCPU
		crierCPUs = append(crierCPUs, float64(crierCPU.Microseconds())/float64(n))
		times, cpus = append(times, crierTook.Seconds()), append(cpus, crierCPU.Seconds())
		bareCPUs = append(bareCPUs, float64(bareCPU.Microseconds())/float64(n))
		recvCPUs = append(recvCPUs, float64(recvCPU.Microseconds())/float64(n))
		fastTook, err := bareLoop(base, secret, partners, bodies, fastHTTPPost(partners))
		if err != nil {
			return err
		}
		cr, br, fr := float64(n)/crierTook.Seconds(), float64(n)/bareTook.Seconds(), float64(n)/fastTook.Seconds()
		if ceiling {
			if err := restore(); err != nil {
				return err
			}
			took, _, err := pushOnce(rc, ceilingBin, conf)
			if err != nil {
				return err
			}
			ceilingRates = append(ceilingRates, float64(n)/took.Seconds())
			ceilingRatios = append(ceilingRatios, float64(n)/took.Seconds()/br)
		}
		crierRates, bareRates, ratios = append(crierRates, cr), append(bareRates, br), append(ratios, cr/br)
		fastRates, fastRatios = append(fastRates, fr), append(fastRatios, cr/fr)
		if runs > 1 {
			fmt.Printf("run %d: crier %.0f deliveries/s (%.2fs), bare %.0f/s (%.2fs), ratio %.2f; bare with fasthttp's client %.0f/s, ratio %.2f\n",
				i+1, cr, crierTook.Seconds(), br, bareTook.Seconds(), cr/br, fr, cr/fr)
		}
	}
	size := 0
	for _, b := range bodies {
		size += len(b)
	}
	fmt.Printf("push: %d items x %d partners, max_body %s: %d deliveries, %d bytes on average\n", items, partners, maxBody, n, size/n)
	fmt.Printf("crier push (fire + sign + POST + record): %.0f deliveries/s (median of %d)\n", median(crierRates), runs)
	fmt.Printf("bare signed POST loop, %d in flight:    %.0f deliveries/s (median of %d)\n", partners, median(bareRates), runs)
	fmt.Printf("ratio: %.2f (median of %d runs' ratios)\n", median(ratios), runs)
	fmt.Printf("the bare loop with fasthttp's client, which crier uses: %.0f deliveries/s, ratio %.2f (medians)\n", median(fastRates), median(fastRatios))
	if ceiling {
		fmt.Printf("bench/ceiling (crier's sender and fire, no store work per delivery): %.0f deliveries/s, ratio %.2f (medians)\n", median(ceilingRates), median(ceilingRatios))
	}
	if against != "" {
		fmt.Printf("in turns, %s against this tree's build: %.3f s against %.3f s, %.3f s of CPU against %.3f s (medians of %d)\n",
			against, median(otherTimes), median(times), median(otherCPUs), median(cpus), runs)
	}
	fmt.Printf("CPU a delivery: crier's process %.0f µs, the net/http bare loop %.0f µs (its process's, less the receiver's), the receiver %.0f µs (medians)\n", median(crierCPUs), median(bareCPUs), median(recvCPUs))
	return nil
}

// pushOnce runs crier push (or bench/ceiling: bin and its args) and
// checks what the receiver got: every delivery it counted, and never two
// at once to one partner.
func pushOnce(rc *receiver, bin string, args ...string) (took, cpu time.Duration, err error) {
	rc.overlap.Store(0)
	start := time.Now()
	cmd := exec.Command(bin, args...)
	out, err := cmd.CombinedOutput()
	took = time.Since(start)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %v\n%s", filepath.Base(bin), err, out)
	}
	cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	n := int(rc.count.Load())
	if n == 0 {
		return 0, 0, fmt.Errorf("%s delivered nothing:\n%s", filepath.Base(bin), out)
	}
	if !bytes.Contains(out, []byte(fmt.Sprintf("%d attempts, %d delivered", n, n))) {
		return 0, 0, fmt.Errorf("the receiver counted %d deliveries, %s says:\n%s", n, filepath.Base(bin), out)
	}
	if o := rc.overlap.Load(); o > 0 {
		return 0, 0, fmt.Errorf("%d requests arrived while another to the same partner was in flight", o)
	}
	return took, cpu, nil
}

// poster sends one signed POST and reads its answer.
type poster func(url string, header http.Header, body []byte) error

// netHTTPPost posts through net/http's client: the reference.
func netHTTPPost(partners int) poster {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: partners}}
	return func(url string, header http.Header, body []byte) error {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header = header
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	}
}

// fastHTTPPost posts through fasthttp's client, which crier's webhooks
// use: the same loop, with the same client as crier.
func fastHTTPPost(partners int) poster {
	client := &fasthttp.Client{MaxConnsPerHost: partners}
	return func(url string, header http.Header, body []byte) error {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI(url)
		req.Header.SetMethod(http.MethodPost)
		for k, vs := range header {
			req.Header.Set(k, vs[0])
		}
		req.SetBodyRaw(body)
		return client.Do(req, resp)
	}
}

// bareLoop is the reference: the same bodies, signed, POSTed by as many
// workers as crier had partners, through one client.
func bareLoop(base, secret string, partners int, bodies [][]byte, post poster) (time.Duration, error) {
	next := make(chan int)
	var wg sync.WaitGroup
	var failed atomic.Int64
	// The key decoded and keyed once, as crier's sender does.
	signer, err := webhooks.NewSigner([]string{secret})
	if err != nil {
		return 0, err
	}
	start := time.Now()
	for w := 0; w < partners; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				h := http.Header{"Content-Type": {"application/json"}}
				signer.SetHeaders(h, fmt.Sprintf("msg_bench%d", i), time.Now(), bodies[i])
				if err := post(fmt.Sprintf("%s/bare/%d", base, i%partners), h, bodies[i]); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	for i := range bodies {
		next <- i
	}
	close(next)
	wg.Wait()
	took := time.Since(start)
	if failed.Load() > 0 {
		return 0, fmt.Errorf("the bare loop failed %d requests", failed.Load())
	}
	return took, nil
}

func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// writeReleases writes n distinct releases, each long enough that a
// small max_body carries about one per delivery.
func writeReleases(dir string, n, nwords int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < n; i++ {
		var b strings.Builder
		fmt.Fprintf(&b, "Release %d on %s and %s\n\nGENEVA, 14 March 2021 – ", i, words[r.IntN(len(words))], words[r.IntN(len(words))])
		for w := 0; w < nwords; w++ {
			b.WriteString(words[r.IntN(len(words))])
			if w%30 == 29 {
				b.WriteString(".\n\n")
			} else {
				b.WriteByte(' ')
			}
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("r%05d.txt", i)), []byte(b.String()+"\n"), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// selfCPU is the CPU time this process has used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
