package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/crier-hub/crier/internal/admin"
	"github.com/crier-hub/crier/internal/config"
	"github.com/crier-hub/crier/internal/deliver"
	"github.com/crier-hub/crier/internal/front"
	"github.com/crier-hub/crier/internal/ingest"
	"github.com/crier-hub/crier/internal/metrics"
	"github.com/crier-hub/crier/internal/publish"
	"github.com/crier-hub/crier/internal/schedule"
	"github.com/crier-hub/crier/internal/store"
	"github.com/crier-hub/crier/internal/websub"
)

// app wires crier's parts for one command.
type app struct {
	configPath     string
	stdout, stderr io.Writer
	log            *slog.Logger
	version        string
	// listen opens serve's listener; tests replace it (nil = net.Listen).
	listen func(network, address string) (net.Listener, error)
	// reload tells serve to re-read its config (SIGHUP).
	reload <-chan os.Signal
	// apply asks serve to put the API's sources and subscribers to work.
	apply func()
	// exiting: the process exits once the command returns (not in tests).
	exiting bool
}

// close closes a command's store: for the exit that follows, when there
// is one (store.CloseForExit).
func (a *app) close(st *store.Store) {
	if a.exiting {
		st.CloseForExit()
		return
	}
	st.Close()
}

func (a *app) load() (*config.Config, error) {
	cfg, err := config.Load(a.configPath)
	if err == nil {
		cfg.Version = a.version
	}
	return cfg, err
}

func (a *app) open(ctx context.Context, cfg *config.Config) (*store.Store, error) {
	return store.Open(ctx, cfg.Storage.Driver, cfg.Storage.DSN)
}

func (a *app) check() error {
	cfg, err := a.load()
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "%s: ok (%d sources, %d topics, %d subscribers)\n", a.configPath, len(cfg.Sources), len(cfg.Topics), len(cfg.Subscribers))
	return nil
}

func (a *app) fetch(ctx context.Context, only string) error {
	cfg, err := a.load()
	if err != nil {
		return err
	}
	var sources []config.Source
	for _, s := range cfg.Sources {
		if only == "" || s.ID == only {
			sources = append(sources, s)
		}
	}
	if only != "" && len(sources) == 0 {
		return fmt.Errorf("%w: crier fetch: no source %q in %s", errUsage, only, a.configPath)
	}
	st, err := a.open(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.close(st)
	in := ingest.New(cfg, st, a.log)
	progress := isTerminal(a.stderr)
	var reports []ingest.Report
	for i, src := range sources {
		if progress {
			fmt.Fprintf(a.stderr, "\r\033[K[%d/%d] fetching %s…", i+1, len(sources), src.ID)
		}
		reports = append(reports, in.Run(ctx, src))
	}
	if progress {
		fmt.Fprint(a.stderr, "\r\033[K")
	}
	states, err := st.SourceStates(ctx)
	if err != nil {
		return err
	}
	failed := 0
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tDOCS\tADDED\tUPDATED\tMERGED\tUNCHANGED\tSKIPPED\tTOOK\tLAST SUCCESS\tFAILURES\tNEXT RUN\tERROR")
	for _, r := range reports {
		h := states[r.Source]
		errText := "-"
		if r.Err != nil {
			failed++
			errText = r.Err.Error()
		} else if r.NotModified {
			errText = "- (not modified)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%d\t%s\t%s\n", r.Source, r.Documents, r.Added, r.Updated, r.Merged, r.Unchanged,
			len(r.Problems), r.Took.Round(time.Millisecond), when(h.LastSuccess), h.Failures, nextRun(h.NextRun), errText)
	}
	tw.Flush()
	if failed > 0 {
		return fmt.Errorf("crier fetch: %d of %d sources failed", failed, len(sources))
	}
	return nil
}

func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func nextRun(t time.Time) string {
	if t.IsZero() {
		return "on schedule"
	}
	return when(t)
}

// isTerminal reports whether w is a terminal, where progress is shown.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func (a *app) push(ctx context.Context, only string) error {
	cfg, err := a.load()
	if err != nil {
		return err
	}
	var ids []string
	for _, s := range cfg.Subscribers {
		if only == "" || s.ID == only {
			ids = append(ids, s.ID)
		}
	}
	if only != "" && len(ids) == 0 {
		return fmt.Errorf("%w: crier push: no subscriber %q in %s", errUsage, only, a.configPath)
	}
	if len(ids) == 0 {
		fmt.Fprintln(a.stdout, "no subscribers configured: nothing to deliver")
		return nil
	}
	st, err := a.open(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.close(st)
	if err := st.DeliverOnly(ctx); err != nil {
		return err
	}
	d := deliver.New(cfg, st, a.log)
	if err := d.Sync(ctx); err != nil {
		return err
	}
	// push means now: what waits out a backoff (a partner down, a target
	// refused before the config was fixed) goes too.
	if _, err := st.RetryNowAll(ctx, ids); err != nil {
		return err
	}
	// Each partner's new deliveries go out while the next partner's are
	// being made.
	var created map[string]int
	attempts, delivered, err := d.SendWhile(ctx, func() (err error) {
		created, err = d.FireAll(ctx, ids)
		return err
	})
	if err != nil {
		return err
	}
	subs, err := st.Subscribers(ctx)
	if err != nil {
		return err
	}
	owed, err := st.OwedBySubscriber(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SUBSCRIBER\tNEW DELIVERIES\tOWED\tSTATE\tLAST ERROR")
	for _, id := range ids {
		state := "ok"
		switch sub := subs[id]; {
		case sub.Paused:
			state = "paused"
		case sub.Failing:
			state = "failing"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", id, created[id], owed[id].Deliveries, state, cmp.Or(owed[id].LastError, "-"))
	}
	tw.Flush()
	fmt.Fprintf(a.stdout, "%d attempts, %d delivered\n", attempts, delivered)
	if attempts > delivered {
		return fmt.Errorf("crier push: %d of %d attempts failed; they stay owed and are retried with backoff", attempts-delivered, attempts)
	}
	return nil
}

// warm warms the store in the background (Store.Warm): storing releases
// into a large store finds its lookup indexes in memory once it is done,
// and reads them from disk until then. The returned func stops it and
// waits.
func (a *app) warm(ctx context.Context, st *store.Store) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		start := time.Now()
		if err := st.Warm(ctx); err != nil {
			if ctx.Err() == nil {
				a.log.Warn("store not warmed", "err", err)
			}
			return
		}
		a.log.Debug("store warmed", "took", time.Since(start).Round(time.Millisecond))
	}()
	return func() { cancel(); <-done }
}

func (a *app) serve(ctx context.Context) error {
	// Everything serve starts ends with this context: on a signal, and
	// also when the HTTP server itself fails.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cfg, err := a.load()
	if err != nil {
		return err
	}
	st, err := a.open(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	defer a.warm(ctx, st)() // ends before the store closes
	listen := a.listen
	if listen == nil {
		listen = net.Listen
	}
	ln, err := listen("tcp", cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Server.Listen, err)
	}
	// The routes are swapped whole on reload: a request in flight ends on
	// the routes it started with.
	srv := front.New(front.Options{
		ReadTimeout:  30 * time.Second,
		WriteTimeout: writeTimeout,
		IdleTimeout:  120 * time.Second,
		MaxHeader:    16 << 10,
	}, a.log)
	m := metrics.New(st)             // one for the process: reloads keep the counts
	apply := make(chan os.Signal, 1) // the admin API changed a source or subscriber
	a.apply = func() {
		select {
		case apply <- syscall.SIGHUP:
		default:
		}
	}
	run, err := a.start(ctx, cfg, st, srv, m)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	a.log.Info("serving", "component", "http", "listen", ln.Addr().String(), "feeds", cfg.Server.BaseURL+"/feeds/all.atom")
	for {
		select {
		case <-a.reload:
			a.log.Info("SIGHUP: reloading config.toml", "component", "config")
		case <-apply:
		case err = <-errc:
			a.log.Error("the HTTP server stopped; shutting down", "component", "http", "error", err)
			cancel()
			run.stop()
			return err
		case <-ctx.Done():
			a.log.Info("shutting down", "component", "http")
			sctx, stop := context.WithTimeout(context.Background(), 20*time.Second)
			err = srv.Shutdown(sctx)
			stop()
			run.stop()
			return err
		}
		run, cfg = a.reapply(ctx, cfg, st, srv, m, run)
	}
}

// reapply reads config.toml again and starts its pipelines in place of
// run's. A config with problems, or one that fails to start, leaves the
// running one as it is.
func (a *app) reapply(ctx context.Context, cfg *config.Config, st *store.Store, srv *front.Server, m *metrics.Metrics, run running) (running, *config.Config) {
	next, err := a.load()
	if err != nil {
		a.logConfigProblems(err)
		return run, cfg
	}
	if next.Storage != cfg.Storage || next.Server.Listen != cfg.Server.Listen {
		a.log.Warn("storage and server.listen change only with a restart; the rest of the new config is applied", "component", "config")
		next.Storage, next.Server.Listen = cfg.Storage, cfg.Server.Listen
	}
	nextRun, err := a.start(ctx, next, st, srv, m)
	if err != nil {
		a.log.Error("config not applied: "+err.Error(), "component", "config")
		return run, cfg
	}
	run.stop() // the old pipelines: in-flight deliveries finish or stay due
	a.log.Info("config applied", "component", "config", "sources", len(next.Sources), "topics", len(next.Topics), "subscribers", len(next.Subscribers))
	return nextRun, next
}

// withManaged adds to the file's config the sources and subscribers kept
// in the store (added through the admin API); config.toml's win an id
// both have.
func withManaged(ctx context.Context, file *config.Config, st *store.Store) (*config.Config, error) {
	var srcs, subs [][]byte
	for kind, dst := range map[string]*[][]byte{"source": &srcs, "subscriber": &subs} {
		all, err := st.ManagedAll(ctx, kind)
		if err != nil {
			return nil, err
		}
		for _, m := range all {
			*dst = append(*dst, m.Body)
		}
	}
	if len(srcs)+len(subs) == 0 {
		return file, nil
	}
	extraSrcs, extraSubs, err := config.Extra(file, srcs, subs)
	if err != nil {
		return nil, fmt.Errorf("sources and subscribers kept in the store: %w", err)
	}
	merged := *file
	merged.Sources = append([]config.Source(nil), file.Sources...)
	merged.Subscribers = append([]config.Subscriber(nil), file.Subscribers...)
	has := map[string]bool{}
	for _, s := range file.Sources {
		has["source:"+s.ID] = true
	}
	for _, s := range file.Subscribers {
		has["subscriber:"+s.ID] = true
	}
	for _, s := range extraSrcs {
		if !has["source:"+s.ID] {
			merged.Sources = append(merged.Sources, s)
		}
	}
	for _, s := range extraSubs {
		if !has["subscriber:"+s.ID] {
			merged.Subscribers = append(merged.Subscribers, s)
		}
	}
	return &merged, nil
}

// logRun logs how a scheduled run went: failures as warnings, runs that
// changed something as news, the rest at debug level.
func (a *app) logRun(ctx context.Context, src config.Source, r ingest.Report) {
	switch {
	case r.ElsewhereRun:
		a.log.Debug("source run by another crier process at this tick", "component", "ingest", "source", src.ID)
	case r.Skipped:
		a.log.Debug("source not due", "component", "ingest", "source", src.ID, "next_run", r.NextRun)
	case r.Err != nil:
		a.log.Warn("source failed", "component", "ingest", "source", src.ID, "error", r.Err, "next_run", r.NextRun)
	default:
		level := slog.LevelInfo
		if r.Added+r.Updated+r.Merged+r.Retracted == 0 {
			level = slog.LevelDebug // a run that changed nothing is not news
		}
		a.log.Log(ctx, level, "source fetched", "component", "ingest", "source", src.ID, "added", r.Added, "updated", r.Updated,
			"merged", r.Merged, "unchanged", r.Unchanged, "retracted", r.Retracted, "skipped", len(r.Problems), "took", r.Took.Round(time.Millisecond))
	}
}

// writeTimeout bounds the writing of a response; one that takes longer is
// lost to the client, and logged.
const writeTimeout = 60 * time.Second

// logConfigProblems logs each problem of a config that failed to load, with
// its line and column.
func (a *app) logConfigProblems(err error) {
	var ce *config.Error
	if errors.As(err, &ce) {
		for _, p := range ce.Problems {
			a.log.Error(fmt.Sprintf("config not reloaded: %s:%d:%d: %s", ce.Path, p.Line, p.Col, p.Msg), "component", "config")
		}
		return
	}
	a.log.Error("config not reloaded: "+err.Error(), "component", "config")
}

// running is one config's pipelines: stop ends them and waits.
type running struct {
	stop func()
}

// start builds the HTTP handler and the pipelines of cfg (sources on their
// schedules, subscribers' schedules, the senders, the WebSub hub), puts the
// handler in place and starts the pipelines under their own context.
func (a *app) start(parent context.Context, file *config.Config, st *store.Store, srv *front.Server, m *metrics.Metrics) (running, error) {
	cfg, err := withManaged(parent, file, st)
	if err != nil {
		return running{}, err
	}
	ctx, cancel := context.WithCancel(parent)
	in := ingest.New(cfg, st, a.log)
	pub := publish.New(cfg, st, a.log)
	deliverer := deliver.New(cfg, st, a.log)
	in.Metrics, pub.Metrics, deliverer.Metrics = m, m, m
	pub.WriteTimeout = writeTimeout
	api := &admin.API{Cfg: cfg, Store: st, Log: a.log, Wake: deliverer.Wake,
		Metrics: promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}), File: file, Apply: a.apply,
		Fetch: fetchOne(cfg, in)}
	sources := map[string]config.Source{}
	for _, src := range cfg.Sources {
		sources[src.ID] = src
	}
	push := &websub.Subscriber{Store: st, Client: in.Fetcher.Client, BaseURL: cfg.Server.BaseURL, Sources: sources,
		Ingest: in.IngestPushed, Log: a.log, Now: time.Now, MaxBody: cfg.Fetch.MaxBody}
	in.OnHub = push.Ensure
	sched := schedule.New(a.log)
	fail := func(err error) (running, error) { cancel(); return running{}, err }
	if err := a.scheduleSources(ctx, sched, cfg, st, in); err != nil {
		return fail(err)
	}
	if err := deliverer.Sync(ctx); err != nil {
		return fail(err)
	}
	if err := a.scheduleSubscribers(ctx, sched, cfg, st, deliverer); err != nil {
		return fail(err)
	}
	hub := websub.NewHub(cfg, st, pub, a.log)
	h := pub.Handler(api.Register, func(mux *http.ServeMux) {
		mux.Handle("POST /websub", hub)
		mux.Handle("GET "+websub.CallbackPath+"{source}/{token}", push)
		mux.Handle("POST "+websub.CallbackPath+"{source}/{token}", push)
	})
	srv.Set(h, pub)
	var wg sync.WaitGroup
	wg.Add(5)
	go func() {
		defer wg.Done()
		push.Renew(ctx, time.Hour) // leases of the hubs that push to crier
	}()
	go func() {
		defer wg.Done()
		st.Watch(ctx, 2*time.Second) // feeds see what another process stored
	}()
	go func() {
		defer wg.Done()
		hub.Run(ctx, time.Second, deliverer.Wake) // WebSub content on new items
	}()
	go func() {
		defer wg.Done()
		sched.Run(ctx) // runs the jobs that missed a run at start, then on schedule
	}()
	go func() {
		defer wg.Done()
		deliverer.Run(ctx) // in-flight deliveries finish; the rest stay due
	}()
	return running{stop: func() {
		cancel()
		wg.Wait()
		hub.Wait()
	}}, nil
}

// fetchOne runs one source of cfg now, for the admin API.
func fetchOne(cfg *config.Config, in *ingest.Ingester) func(ctx context.Context, id string) (admin.RunCounts, error) {
	return func(ctx context.Context, id string) (admin.RunCounts, error) {
		for _, src := range cfg.Sources {
			if src.ID == id {
				r := in.Run(ctx, src)
				c := admin.RunCounts{Source: id, Documents: r.Documents, Added: r.Added, Updated: r.Updated, Merged: r.Merged,
					Unchanged: r.Unchanged, Skipped: len(r.Problems), Retracted: r.Retracted}
				if r.Err != nil {
					c.Error = r.Err.Error()
				}
				return c, nil
			}
		}
		return admin.RunCounts{}, fmt.Errorf("no source %q", id)
	}
}

// scheduleSources puts every source of cfg on its schedule. A failed run
// whose backoff ends before the next tick gets a retry of its own.
func (a *app) scheduleSources(ctx context.Context, sched *schedule.Scheduler, cfg *config.Config, st *store.Store, in *ingest.Ingester) error {
	states, err := st.SourceStates(ctx)
	if err != nil {
		return err
	}
	for _, src := range cfg.Sources {
		src := src
		every, err := config.ParseSchedule(src.Schedule)
		if err != nil {
			return fmt.Errorf("source %s: %w", src.ID, err)
		}
		next := every.Next(time.Now())
		gap := every.Next(next).Sub(next) / 2
		var running sync.Mutex // a backoff retry and a tick never overlap
		var run func(ctx context.Context, gap time.Duration)
		// again runs the source once more at a time of its own, besides
		// the ticks.
		again := func(ctx context.Context, at time.Time, gap time.Duration) {
			time.AfterFunc(time.Until(at)+time.Second, func() {
				if ctx.Err() == nil {
					run(ctx, gap)
				}
			})
		}
		run = func(ctx context.Context, gap time.Duration) {
			if !running.TryLock() {
				return
			}
			defer running.Unlock()
			r := in.RunScheduled(ctx, src, gap)
			if r.Err != nil && !r.NextRun.IsZero() && r.NextRun.Before(every.Next(time.Now())) {
				// The backoff (1, 2, 4 minutes…) runs sooner than the
				// schedule would: no tick gap, only the lease and the
				// backoff apply.
				again(ctx, r.NextRun, 0)
			}
			if r.ElsewhereRun && !r.LeaseUntil.IsZero() {
				// Another process's run: if it dies mid-run, its lease
				// lapses with the source stored only in part, and this
				// process runs it then rather than at the next tick (the
				// tick's gap still refuses it when the run was recorded).
				again(ctx, r.LeaseUntil, gap)
			}
			a.logRun(ctx, src, r)
		}
		job := func(ctx context.Context) { run(ctx, gap) }
		// At start-up the scheduler runs what fell due while crier was down.
		if err := sched.Add(src.ID, src.Schedule, states[src.ID].LastAttempt, job); err != nil {
			return fmt.Errorf("source %s: %w", src.ID, err)
		}
	}
	return nil
}

// scheduleSubscribers puts every subscriber's webhook schedule in place.
func (a *app) scheduleSubscribers(ctx context.Context, sched *schedule.Scheduler, cfg *config.Config, st *store.Store, deliverer *deliver.Deliverer) error {
	subs, err := st.Subscribers(ctx)
	if err != nil {
		return err
	}
	for _, sub := range cfg.Subscribers {
		id := sub.ID
		err := sched.Add("subscriber "+id, sub.Schedule, subs[id].LastFire, func(ctx context.Context) {
			if n, err := deliverer.Fire(ctx, id); err != nil {
				a.log.Error("webhook schedule failed", "component", "webhooks", "subscriber", id, "error", err)
			} else if n > 0 {
				a.log.Info("deliveries created", "component", "webhooks", "subscriber", id, "deliveries", n)
			}
		})
		if err != nil {
			return fmt.Errorf("subscriber %s: %w", id, err)
		}
	}
	return nil
}

// copy copies the configured store into the empty store at dsn.
func (a *app) copy(ctx context.Context, dsn string) error {
	if dsn == "" {
		return fmt.Errorf("%w: crier copy: give the target with --to (a SQLite path or a postgres:// URL)", errUsage)
	}
	cfg, err := a.load()
	if err != nil {
		return err
	}
	from, err := a.open(ctx, cfg)
	if err != nil {
		return err
	}
	defer from.Close()
	driver := "sqlite"
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		driver = "postgres"
	} else if abs, err := filepath.Abs(dsn); err == nil {
		dsn = abs
	}
	to, err := store.Open(ctx, driver, dsn)
	if err != nil {
		return err
	}
	defer to.Close()
	copied, err := store.Copy(ctx, from, to)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tROWS")
	for _, c := range copied {
		fmt.Fprintf(tw, "%s\t%d\n", c.Table, c.Rows)
	}
	tw.Flush()
	fmt.Fprintf(a.stdout, "copied the %s store into %s; point storage.driver and storage.dsn at it\n", from.Engine(), to.Engine())
	return nil
}

// secret prints a new Standard Webhooks secret: whsec_ and 32 random
// bytes in base64.
func (a *app) secret() error {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, "whsec_"+base64.StdEncoding.EncodeToString(b))
	return nil
}

// health asks the running server whether it is up (GET /healthz on
// server.listen): a HEALTHCHECK for images that carry no HTTP client.
func (a *app) health(ctx context.Context) error {
	cfg, err := a.load()
	if err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(cfg.Server.Listen)
	if err != nil {
		return err
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/healthz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("crier is not answering on %s: %w", cfg.Server.Listen, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("crier answered /healthz with HTTP %d", resp.StatusCode)
	}
	fmt.Fprintln(a.stdout, "ok")
	return nil
}
