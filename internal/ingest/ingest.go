// Package ingest runs one source through the pipeline: gather its
// documents, normalize each, store the items, and keep the source's health.
package ingest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/crier-hub/crier/internal/config"
	"github.com/crier-hub/crier/internal/gather"
	"github.com/crier-hub/crier/internal/metrics"
	"github.com/crier-hub/crier/internal/normalize"
	"github.com/crier-hub/crier/internal/store"
)

// Ingester runs sources into the store.
type Ingester struct {
	Store      Store
	Normalizer *normalize.Normalizer
	Fetcher    *gather.Fetcher
	Fetch      config.Fetch
	Sources    []config.Source
	Log        *slog.Logger
	Now        func() time.Time
	// PageDelay spaces the requests of a page source to one site.
	PageDelay time.Duration
	// MaxPages caps the release pages a page source fetches in one run.
	MaxPages int
	// RunLease is how long a claim on a scheduled run lasts unless its
	// holder renews it (every quarter of it); zero is a minute.
	RunLease time.Duration
	// SaveHold bounds how long a run's transaction stays open for the
	// releases still being made (the store's other writers wait
	// meanwhile); zero is saveHold.
	SaveHold time.Duration
	// PageRun bounds the time a page source's run spends on its pages;
	// zero is four times fetch.timeout, at least a minute.
	PageRun time.Duration
	// MaxItemSize caps an item's text and HTML (feeds.max_item_size).
	MaxItemSize int64
	// Holder names this process in the leases of scheduled runs.
	Holder string
	// Metrics counts runs and their duration; nil counts nothing.
	Metrics *metrics.Metrics
	// OnHub, when set, is told of a feed source whose feed names a WebSub
	// hub (after each successful poll), to subscribe to it.
	OnHub func(ctx context.Context, src config.Source, hub, topic string) error

	mu      sync.Mutex
	offline map[string]bool         // sources whose last run could not connect
	frames  map[string]*frameWindow // each source's recent frame lines
}

// New returns an Ingester for cfg.
func New(cfg *config.Config, st Store, log *slog.Logger) *Ingester {
	topics := make([]normalize.Topic, len(cfg.Topics))
	for i, t := range cfg.Topics {
		topics[i] = normalize.Topic{Slug: t.Slug, Keywords: t.Keywords}
	}
	ua := fmt.Sprintf("crier/%s (+%s)", cmp.Or(cfg.Version, "dev"), cfg.Server.BaseURL)
	return &Ingester{
		Store: st, Normalizer: normalize.New(topics), Fetch: cfg.Fetch, Sources: cfg.Sources,
		Fetcher: gather.NewFetcher(ua, cfg.Fetch.Timeout, cfg.Fetch.MaxBody, cfg.Fetch.AllowPrivateTargets),
		Log:     log.With("component", "ingest"), Now: time.Now,
		PageDelay: time.Second, MaxPages: 50, MaxItemSize: cfg.Feeds.MaxItemSize, Holder: holderName(), offline: map[string]bool{}, frames: map[string]*frameWindow{},
	}
}

// Report is the outcome of one run of a source.
type Report struct {
	Source      string
	Documents   int
	Added       int
	Updated     int
	Merged      int
	Unchanged   int
	Retracted   int  // releases whose file left a dir source
	NotModified bool // the source answered 304
	Skipped     bool // not due yet (backoff or Retry-After), or run elsewhere
	// ElsewhereRun: another crier process sharing the database runs (or
	// just ran) the source at this tick; LeaseUntil is when that run's
	// lease lapses, when it is still under way.
	ElsewhereRun bool
	LeaseUntil   time.Time
	Problems     []error // documents that were skipped; the run still succeeded
	Warnings     []string
	Err          error // what stopped the run, if anything
	Took         time.Duration
	NextRun      time.Time

	// record, set while a run stores its documents, writes the run's
	// record as a success with added items in the transaction that
	// commits the last of them; recorded says that it did.
	record   func(ctx context.Context, b *store.SaveBatch, added int) error
	recorded bool
}

// RunDue runs src if it is due: not in backoff, not told to wait.
func (in *Ingester) RunDue(ctx context.Context, src config.Source) Report {
	st, err := in.Store.SourceState(ctx, src.ID)
	if err != nil {
		return Report{Source: src.ID, Err: err}
	}
	if now := in.Now(); st.NextRun.After(now) {
		return Report{Source: src.ID, Skipped: true, NextRun: st.NextRun}
	}
	return in.run(ctx, src, st)
}

// RunScheduled is RunDue for a run the source's schedule started, in a
// process that may share its database with other crier processes: the
// run happens only if this process claims it (a lease in the database),
// so that at each tick exactly one process runs the source. gap is half
// the schedule's interval: a source run less than gap ago was this tick's.
func (in *Ingester) RunScheduled(ctx context.Context, src config.Source, gap time.Duration) Report {
	st, err := in.Store.SourceState(ctx, src.ID)
	if err != nil {
		return Report{Source: src.ID, Err: err}
	}
	if now := in.Now(); st.NextRun.After(now) {
		return Report{Source: src.ID, Skipped: true, NextRun: st.NextRun}
	}
	// A source its hub pushes to is polled less: every sixth tick, as the
	// fallback.
	if p, ok, err := in.Store.PushSubscription(ctx, src.ID); err == nil && ok && p.Live(in.Now()) {
		gap = 11 * gap
	}
	// The lease is renewed while the run goes on, so that it lapses soon
	// after its holder died, and another process takes the run over.
	ok, err := in.Store.ClaimRun(ctx, src.ID, in.Holder, in.runLease(), gap)
	if err != nil {
		return Report{Source: src.ID, Err: err}
	}
	if !ok {
		r := Report{Source: src.ID, Skipped: true, ElsewhereRun: true}
		// A run under way elsewhere: when its lease lapses, its holder
		// finished (and recorded the run) or died mid-run, its documents
		// stored only in part; the caller tries again then.
		if st, err := in.Store.SourceState(ctx, src.ID); err == nil && st.LeaseUntil.After(in.Now()) {
			r.LeaseUntil = st.LeaseUntil
		}
		return r
	}
	stop := in.renewLease(ctx, src.ID)
	defer stop()
	return in.run(ctx, src, st)
}

// runLease is how long a claim on a source's run lasts unless renewed:
// how long after its holder died another process takes the run over.
func (in *Ingester) runLease() time.Duration {
	if in.RunLease > 0 {
		return in.RunLease
	}
	return time.Minute
}

// renewLease renews the lease on a source's run until the returned
// function is called (after the run is recorded, which ends the lease).
func (in *Ingester) renewLease(ctx context.Context, id string) (stop func()) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		lease := in.runLease()
		t := time.NewTicker(lease / 4)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			held, err := in.Store.RenewRun(ctx, id, in.Holder, lease)
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				in.Log.Warn("could not renew the lease on a source's run; another process may run it too once it lapses", "component", "ingest", "source", id, "error", err)
			case !held:
				return // recorded, or taken over
			}
		}
	}()
	return func() { cancel(); <-done }
}

// IngestPushed stores what a source's WebSub hub pushed: a feed document
// (or a part of one), read, normalized and deduplicated as a poll's.
func (in *Ingester) IngestPushed(ctx context.Context, src config.Source, body []byte, contentType string) error {
	p, err := gather.ParseFeed(body, contentType, src.URL)
	if err != nil {
		return err
	}
	r := Report{Source: src.ID}
	if err := in.store(ctx, src, p.Docs, &r); err != nil {
		return err
	}
	in.Log.Info("source pushed", "source", src.ID, "added", r.Added, "updated", r.Updated, "merged", r.Merged, "unchanged", r.Unchanged)
	return nil
}

// Run gathers, normalizes and stores one source now, and records the run
// in the source's health.
func (in *Ingester) Run(ctx context.Context, src config.Source) Report {
	st, err := in.Store.SourceState(ctx, src.ID)
	if err != nil {
		return Report{Source: src.ID, Err: err}
	}
	return in.run(ctx, src, st)
}

func (in *Ingester) run(ctx context.Context, src config.Source, st store.SourceState) Report {
	start := in.Now()
	r := Report{Source: src.ID}
	var docs []gather.Doc
	var g gathered
	switch src.Kind {
	case "dir":
		docs, r.Problems, r.Err = gather.Dir(ctx, src.Path, in.Fetch.MaxBody)
	case "feed":
		g, r.Err = in.gatherFeed(ctx, src, st)
		docs, r.NotModified, r.Warnings = g.docs, g.notModified, g.warnings
	case "page":
		g, r.Err = in.gatherPage(ctx, src)
		docs, r.Problems = g.docs, g.problems
	default:
		r.Err = fmt.Errorf("unknown source kind %q", src.Kind)
	}
	for _, p := range r.Problems {
		in.Log.Warn("document skipped", "source", src.ID, "error", p)
	}
	for _, w := range r.Warnings {
		in.Log.Info("source read with a warning", "source", src.ID, "warning", w)
	}
	// A successful run's record: in the transaction that stores its last
	// document, or in one of its own.
	success := func(added int) store.Run {
		run := store.Run{At: start, Added: added, CountFailure: true, ETag: g.validators.ETag, LastModified: g.validators.LastModified}
		if g.notModified && run.ETag == "" && run.LastModified == "" {
			run.ETag, run.LastModified = st.ETag, st.LastModified
		}
		if g.fresh > 0 {
			run.NextRun = start.Add(min(g.fresh, maxBackoff))
		}
		return run
	}
	if r.Err == nil {
		if src.Kind != "dir" { // a dir source's run retracts after it stores
			r.record = func(ctx context.Context, b *store.SaveBatch, added int) error {
				return b.RecordRun(ctx, src.ID, success(added))
			}
		}
		r.Err = in.store(ctx, src, docs, &r)
		r.record = nil
	}
	if r.Err == nil && src.Kind == "dir" {
		r.Err = in.retractMissing(ctx, src, docs, &r)
	}
	r.Took = in.Now().Sub(start)
	var run store.Run
	if r.Err == nil {
		run = success(r.Added)
	} else {
		run = store.Run{At: start, Added: r.Added, Err: r.Err, CountFailure: true}
		run.NextRun, run.CountFailure = in.afterFailure(src, st, r.Err, start)
	}
	in.setOffline(src.ID, r.Err)
	outcome := "ok"
	switch {
	case r.Err != nil:
		outcome = "failed"
	case r.NotModified:
		outcome = "not_modified"
	}
	in.Metrics.Fetch(src.ID, outcome, r.Took)
	if r.Err == nil && g.hub != "" && in.OnHub != nil {
		if err := in.OnHub(ctx, src, g.hub, g.topic); err != nil {
			in.Log.Warn("websub subscription failed; polling goes on", "source", src.ID, "hub", g.hub, "error", err)
		}
	}
	r.NextRun = run.NextRun
	if r.Err != nil || !r.recorded {
		if err := in.Store.RecordRun(context.WithoutCancel(ctx), src.ID, run); err != nil {
			r.Err = errors.Join(r.Err, err)
		}
	}
	return r
}

// frameDocs is how many of a source's documents its frame is learnt from.
const frameDocs = 60

// frameWindow is the frame lines of a source's most recent documents,
// kept between runs so that each document is read for its frame once.
type frameWindow struct {
	keys  []string // oldest first
	lines map[string]normalize.FrameLines
	cur   *normalize.Frame // the frame last learnt from the window
}

func (w *frameWindow) add(key string, lines normalize.FrameLines) {
	if _, ok := w.lines[key]; ok {
		for i, k := range w.keys {
			if k == key {
				w.keys = append(w.keys[:i], w.keys[i+1:]...)
				break
			}
		}
	}
	w.keys = append(w.keys, key)
	w.lines[key] = lines
	for len(w.keys) > frameDocs {
		delete(w.lines, w.keys[0])
		w.keys = w.keys[1:]
	}
}

func (w *frameWindow) frame() *normalize.Frame {
	sets := make([]normalize.FrameLines, 0, len(w.keys))
	for _, k := range w.keys {
		sets = append(sets, w.lines[k])
	}
	return normalize.FrameOf(sets)
}

// learnFrame adds the frame lines of this run's first frameDocs changed
// documents to the source's frame window (read from its most recent
// stored documents the first time) and learns the frame from it.
func (in *Ingester) learnFrame(ctx context.Context, src config.Source, docs []gather.Doc, lines []normalize.FrameLines) (*normalize.Frame, error) {
	in.mu.Lock()
	w := in.frames[src.ID]
	in.mu.Unlock()
	if w == nil {
		w = &frameWindow{lines: map[string]normalize.FrameLines{}}
		stored, err := in.Store.RecentDocuments(ctx, src.ID, frameDocs)
		if err != nil {
			return nil, err
		}
		for i := len(stored) - 1; i >= 0; i-- { // oldest first
			w.add(stored[i].Key, normalize.LinesOf(normalize.Input{Raw: stored[i].Raw}))
		}
	}
	for i, l := range lines {
		w.add(docs[i].Key, l)
	}
	f := w.frame()
	in.mu.Lock()
	w.cur = f
	in.frames[src.ID] = w
	in.mu.Unlock()
	return f, nil
}

// frameNow is the frame a source's last run learnt, or nil.
func (in *Ingester) frameNow(id string) *normalize.Frame {
	in.mu.Lock()
	defer in.mu.Unlock()
	if w := in.frames[id]; w != nil {
		return w.cur
	}
	return nil
}

func format(d gather.Doc) normalize.Format {
	if d.HTML {
		return normalize.HTML
	}
	return normalize.Text
}

// saveChunk bounds the documents stored in one transaction; a Save
// takes at most a quarter of the run, and never fewer than savePart when
// more are ready. saveHold is SaveHold's default.
const (
	saveChunk = 200
	savePart  = 8
	saveHold  = 100 * time.Millisecond
	// saveAhead is how many documents the makers may hold made and not
	// yet stored.
	saveAhead = 2 * saveChunk
)

func (in *Ingester) store(ctx context.Context, src config.Source, docs []gather.Doc, r *Report) error {
	// Skip the work of normalizing documents that have not changed: their
	// stored hashes are read in one go.
	keys := make([]string, len(docs))
	for i, d := range docs {
		keys[i] = d.Key
	}
	hashes, err := in.Store.DocumentHashes(ctx, src.ID, keys)
	if err != nil {
		return fmt.Errorf("source %s: %w", src.ID, err)
	}
	var changed []gather.Doc
	for _, d := range docs {
		r.Documents++
		if h, ok := hashes[d.Key]; ok && h == store.ContentHash(d.Raw) {
			r.Unchanged++
			continue
		}
		changed = append(changed, d)
	}
	if len(changed) == 0 {
		return nil
	}
	// The store's merges hold off while the documents are parsed and made,
	// and its search indexer while they are on every core.
	defer in.Store.WillWrite()()
	making := in.Store.Making()
	defer making()
	parsed := make([]*normalize.Parsed, len(changed))
	lines := make([]normalize.FrameLines, min(len(changed), frameDocs))
	if old := in.frameNow(src.ID); old != nil && len(changed) <= saveChunk {
		// The frame the source's last run learnt is taken for this run's
		// too, so that its releases are made and stored as each is parsed,
		// and checked once all are: see speculate.
		frame, ok, err := in.speculate(ctx, src, changed, parsed, lines, old, making, r)
		if err != nil {
			return fmt.Errorf("source %s: %w", src.ID, err)
		}
		if speculated != nil {
			speculated(ok)
		}
		if !ok {
			making := in.Store.Making()
			defer making()
			if err := in.saveInOrder(ctx, src, changed, parsed, frame, making, r); err != nil {
				return fmt.Errorf("source %s: %w", src.ID, err)
			}
		}
	} else {
		// Each document is parsed once, on every core, for its frame
		// lines and for normalizing.
		parallel(ctx, len(changed), nil, func(i int) {
			parsed[i] = normalize.Parse(in.input(src, changed[i], nil))
			if i < len(lines) {
				lines[i] = parsed[i].Lines()
			}
		})
		frame, err := in.learnFrame(ctx, src, changed, lines)
		if err != nil {
			return fmt.Errorf("source %s: %w", src.ID, err)
		}
		// The releases are made on every core and stored in order, each
		// as soon as it and those before it are made: the store's work, on
		// one core, overlaps the making, and waits for no part to be
		// whole. They go into one transaction, committed once it holds
		// saveChunk documents or has been open saveHold, and at the end: a
		// run is stored in a few transactions, in order. The makers run at
		// most saveAhead documents ahead of the store, which bounds the
		// documents held in memory.
		if err := in.saveInOrder(ctx, src, changed, parsed, frame, making, r); err != nil {
			return fmt.Errorf("source %s: %w", src.ID, err)
		}
	}
	if r.Added+r.Updated >= 1000 {
		// Statistics that keep up with the store keep the planner honest.
		if err := in.Store.Optimize(ctx); err != nil {
			return fmt.Errorf("source %s: %w", src.ID, err)
		}
	}
	return nil
}

// saveInOrder makes each of docs (parsed already) with frame, on every
// core, and stores them in order as they are made (see store), counting
// what became of them in r once committed.
func (in *Ingester) saveInOrder(ctx context.Context, src config.Source, docs []gather.Doc, parsed []*normalize.Parsed, frame *normalize.Frame, madeAll func(), r *Report) error {
	return in.makeAndStore(ctx, src, len(docs), func(i int) store.Document {
		d := in.document(src, docs[i], parsed[i], frame)
		parsed[i] = nil
		return d
	}, madeAll, nil, r)
}

// makeAndStore calls makeOne(0) … makeOne(n-1) on every core and stores
// what they make in order, each as soon as it and those before it are
// made (storeMade; confirm, if not nil, is asked before each commit). The
// store failing stops the makers; madeAll is called once they are done.
func (in *Ingester) makeAndStore(ctx context.Context, src config.Source, n int, makeOne func(i int) store.Document, madeAll func(), confirm func() bool, r *Report) error {
	made := make([]store.Document, n)
	done := make(chan int, n)              // indexes made
	room := make(chan struct{}, saveAhead) // a token for each document made and not yet stored
	mctx, stop := context.WithCancel(ctx)
	defer stop()
	saved := make(chan error, 1)
	go func() {
		err := in.storeMade(ctx, src, made, done, room, r, confirm)
		if err != nil {
			stop()
		}
		saved <- err
	}()
	// The documents are handed to the makers in order, each once its room
	// is taken: every document the store waits for has its room already,
	// however far the makers ran ahead of it.
	admit := func() bool {
		select {
		case room <- struct{}{}:
			return true
		case <-mctx.Done():
			return false
		}
	}
	parallel(mctx, n, admit, func(i int) {
		if makeHook != nil {
			makeHook(i)
		}
		if mctx.Err() == nil {
			made[i] = makeOne(i)
		}
		done <- i
		// The store, woken by done, runs now: the makers never block,
		// and without this it waited for the scheduler to take the core
		// from one (1.8 ms a run in the ingest bench, before its first
		// Save).
		runtime.Gosched()
	})
	madeAll() // the store's work alone is left
	close(done)
	return <-saved
}

// speculated, when set (by the tests), is told whether a run's releases
// made with the frame of the source's last run were kept.
var speculated func(ok bool)

// makeHook, when set (by the tests), is called as a maker takes each
// document, before making it.
var makeHook func(i int)

// storeMade is saveInOrder's store: it takes the documents of made in
// order as done says each is ready, a run of them a Save, in one
// transaction at a time, and frees their room. Cancelled, or failing, it
// rolls the open transaction back: nothing of it is kept, and the
// source's validators are not recorded, so the next run reads it again.
func (in *Ingester) storeMade(ctx context.Context, src config.Source, made []store.Document, done <-chan int, room <-chan struct{}, r *Report, confirm func() bool) error {
	hold := cmp.Or(in.SaveHold, saveHold)
	part := min(saveChunk, max(savePart, (len(made)+3)/4)) // the most a Save takes
	ready := make([]bool, len(made))
	var (
		batch   *store.SaveBatch
		opened  time.Time
		next    int      // the first document not yet stored
		pending []string // the keys of the documents saved in batch, not yet committed
		saved   []store.Saved
	)
	defer func() {
		if batch != nil {
			batch.Rollback()
		}
	}()
	for i := range done {
		ready[i] = true
		for next < len(made) && ready[next] {
			if err := ctx.Err(); err != nil {
				return err
			}
			from := next
			for next < len(made) && ready[next] && next-from < part {
				next++
			}
			if batch == nil {
				var err error
				if batch, err = in.Store.BeginSave(ctx); err != nil {
					return err
				}
				opened = time.Now()
			}
			out, err := batch.Save(ctx, made[from:next])
			if err != nil {
				return err
			}
			for k := from; k < next; k++ {
				pending = append(pending, made[k].Key)
				made[k] = store.Document{}
				<-room
			}
			saved = append(saved, out...)
			if next < len(made) && batch.Len() < saveChunk && time.Since(opened) < hold {
				continue
			}
			if confirm != nil && !confirm() {
				return errFrameMoved
			}
			last := next == len(made) && r.record != nil
			if last {
				added := r.Added
				for _, sv := range saved {
					if sv.Status == store.Added {
						added++
					}
				}
				if err := r.record(ctx, batch, added); err != nil {
					return err
				}
			}
			err = batch.Commit(ctx)
			batch = nil
			if err != nil {
				return err
			}
			r.recorded = last
			for k, sv := range saved {
				in.Log.Debug("document stored", "source", src.ID, "key", pending[k], "item", sv.UID, "status", sv.Status)
				switch sv.Status {
				case store.Added:
					r.Added++
				case store.Updated:
					r.Updated++
				case store.Merged:
					r.Merged++
				case store.Unchanged:
					r.Unchanged++
				}
			}
			pending, saved = nil, nil
		}
	}
	if next < len(made) {
		// The makers stopped: the run was cancelled.
		return cmp.Or(ctx.Err(), context.Canceled)
	}
	return nil
}

// errFrameMoved is storeMade's answer when the releases it stored were
// made with a frame that, learnt again, treats them otherwise.
var errFrameMoved = errors.New("the source's frame moved")

// speculate makes this run's releases with old, the frame the source's
// last run learnt, as each is parsed, and stores them as they are made:
// the store's work, the longest part of a run, starts with the first
// release rather than once every one is parsed. Once all are parsed, the
// frame is learnt again with their lines (as store does before making
// any); the transaction commits only if each release comes out the same
// under the new frame as under old (normalize.Frame.SameFor), else it is
// rolled back and ok is false: the caller makes them again with frame,
// from parsed. It is for runs stored in one transaction (at most
// saveChunk documents): nothing is committed before the check.
func (in *Ingester) speculate(ctx context.Context, src config.Source, docs []gather.Doc, parsed []*normalize.Parsed, lines []normalize.FrameLines, old *normalize.Frame, madeAll func(), r *Report) (frame *normalize.Frame, ok bool, err error) {
	n := len(docs)
	all := make([]normalize.FrameLines, n) // every document's frame lines, for the check
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The check, once every document is parsed: the frame learnt again,
	// and whether each document agrees. Its answer is kept for every
	// commit that asks.
	var (
		parsedN  atomic.Int32
		allIn    = make(chan struct{})
		verdict  = make(chan struct{})
		same     bool
		learnErr error
	)
	go func() {
		defer close(verdict)
		select {
		case <-allIn:
		case <-sctx.Done():
			return
		}
		copy(lines, all)
		if frame, learnErr = in.learnFrame(ctx, src, docs, lines); learnErr != nil {
			return
		}
		same = true
		for _, l := range all {
			if !old.SameFor(frame, l) {
				same = false
				break
			}
		}
	}()
	confirm := func() bool {
		<-verdict
		return same && learnErr == nil
	}
	err = in.makeAndStore(ctx, src, n, func(i int) store.Document {
		parsed[i] = normalize.Parse(in.input(src, docs[i], nil))
		all[i] = parsed[i].Lines()
		if int(parsedN.Add(1)) == n {
			close(allIn)
		}
		return in.document(src, docs[i], parsed[i], old)
	}, madeAll, confirm, r)
	cancel() // a run stopped before every document was parsed is not checked
	<-verdict
	switch {
	case learnErr != nil:
		return nil, false, learnErr
	case errors.Is(err, errFrameMoved):
		return frame, false, nil
	case err != nil:
		return nil, false, err
	}
	return frame, true, nil
}

// retractMissing retracts the releases whose files left a dir source: a
// folder is the whole of such a source, so a file gone is a release taken
// back. A file that could not be read this run is not gone, and an empty
// folder where releases were is taken for a mount that failed, not for
// every release retracted at once.
func (in *Ingester) retractMissing(ctx context.Context, src config.Source, docs []gather.Doc, r *Report) error {
	stored, err := in.Store.DocumentKeys(ctx, src.ID)
	if err != nil {
		return fmt.Errorf("source %s: %w", src.ID, err)
	}
	present := map[string]bool{}
	for _, d := range docs {
		present[d.Key] = true
	}
	for _, p := range r.Problems {
		var de *gather.DocError
		if errors.As(p, &de) {
			present[de.Key] = true
		}
	}
	var gone []string
	for _, k := range stored {
		if !present[k] {
			gone = append(gone, k)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	if len(docs) == 0 && len(r.Problems) == 0 {
		in.Log.Warn("the folder of a dir source is empty: its releases are kept, not retracted", "source", src.ID, "path", src.Path, "releases", len(gone))
		return nil
	}
	n, err := in.Store.RemoveDocuments(ctx, src.ID, gone)
	if err != nil {
		return fmt.Errorf("source %s: %w", src.ID, err)
	}
	r.Retracted = n
	return nil
}

// parallel calls f(0) … f(n-1) on every core, handing out the indexes
// in order until ctx ends. admit, if not nil, is asked before each index
// is handed out, and false stops the handing out. Each worker takes its
// next index itself: handed out by a goroutine of their own, each index
// waited for that goroutine to be scheduled, between workers that hold
// the cores.
func parallel(ctx context.Context, n int, admit func() bool, f func(i int)) {
	var mu sync.Mutex
	next, over := 0, false
	take := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		if over || next >= n || ctx.Err() != nil || (admit != nil && !admit()) {
			over = true
			return 0, false
		}
		next++
		return next - 1, true
	}
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), n) {
		wg.Go(func() {
			for i, ok := take(); ok; i, ok = take() {
				f(i)
			}
		})
	}
	wg.Wait()
}

// input is what normalize reads of a gathered document.
func (in *Ingester) input(src config.Source, d gather.Doc, frame *normalize.Frame) normalize.Input {
	date := d.Date
	if date.IsZero() {
		date = in.Now().UTC()
	}
	return normalize.Input{
		Raw: d.Raw, Format: format(d), Title: d.Title, Date: date, DateStated: d.DateStated, URL: cmp.Or(d.URL, src.URL),
		Language: src.Language, Country: src.Country, Frame: frame,
	}
}

// document normalizes one gathered document into what the store keeps.
func (in *Ingester) document(src config.Source, d gather.Doc, p *normalize.Parsed, frame *normalize.Frame) store.Document {
	rec := in.Normalizer.NormalizeParsed(in.input(src, d, frame), p)
	item := store.Item{
		Title: rec.Title, Summary: rec.Summary, ContentText: rec.Text, ContentHTML: rec.HTML, URL: d.URL,
		Language: rec.Language, Country: rec.Country, City: rec.City, Topics: rec.Topics,
		Published: rec.Published, DateKnown: rec.DateKnown, DateSource: rec.DateSource, Fingerprint: rec.Fingerprint, Signature: rec.Signature,
	}
	if rec.DateSource == normalize.FirstSeen {
		// No date anywhere: kept as when crier first saw the release,
		// which the feeds show as its update time, never as a date.
		item.Published = in.Now().UTC()
	}
	for _, c := range rec.Contacts {
		item.Contacts = append(item.Contacts, store.Contact(c))
	}
	capContent(&item, in.MaxItemSize)
	doc := store.Document{SourceID: src.ID, Key: d.Key, URL: d.URL, Raw: d.Raw, Item: item}
	doc.Pack() // here, on whichever core is free, not after every release is made
	return doc
}

// capContent cuts an item's text to at most limit bytes (at a word), with
// a note saying so, and keeps its HTML only if that fits too: one huge
// release must not make every feed it appears in huge.
func capContent(it *store.Item, limit int64) {
	if limit <= 0 || (int64(len(it.ContentText)) <= limit && int64(len(it.ContentHTML)) <= limit) {
		return
	}
	note := fmt.Sprintf("[…] crier cut this release at %d KiB (feeds.max_item_size)", limit>>10)
	if it.URL != "" {
		note += "; the whole text is at " + it.URL
	}
	text := it.ContentText
	cutText := int64(len(text)) > limit
	if cutText {
		cut := int(limit) - len(note) - 2
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		if sp := strings.LastIndexAny(text[:max(cut, 0)], " \n"); sp > cut/2 {
			cut = sp
		}
		text = strings.TrimSpace(text[:max(cut, 0)]) + "\n\n" + note
	}
	it.ContentText = text
	if int64(len(it.ContentHTML)) > limit || cutText {
		// Cut HTML would be broken HTML: the cut text stands in for it.
		var b strings.Builder
		for _, para := range strings.Split(text, "\n\n") {
			b.WriteString("<p>" + html.EscapeString(para) + "</p>")
		}
		it.ContentHTML = b.String()
	}
}

// holderName names this process among the replicas: host and process id.
func holderName() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d", host, os.Getpid())
}
