// Package ingest runs one source through the pipeline: gather its
// documents, normalize each, store the items, and keep the source's health.
package ingest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/crier-hub/crier/internal/config"
	"github.com/crier-hub/crier/internal/gather"
	"github.com/crier-hub/crier/internal/normalize"
	"github.com/crier-hub/crier/internal/store"
)

// Ingester runs sources into the store.
type Ingester struct {
	Store      *store.Store
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

	mu      sync.Mutex
	offline map[string]bool // sources whose last run could not connect
}

// New returns an Ingester for cfg.
func New(cfg *config.Config, st *store.Store, log *slog.Logger) *Ingester {
	topics := make([]normalize.Topic, len(cfg.Topics))
	for i, t := range cfg.Topics {
		topics[i] = normalize.Topic{Slug: t.Slug, Keywords: t.Keywords}
	}
	ua := fmt.Sprintf("crier/%s (+%s)", Version, cfg.Server.BaseURL)
	return &Ingester{
		Store: st, Normalizer: normalize.New(topics), Fetch: cfg.Fetch, Sources: cfg.Sources,
		Fetcher: gather.NewFetcher(ua, cfg.Fetch.Timeout, cfg.Fetch.MaxBody),
		Log:     log.With("component", "ingest"), Now: time.Now,
		PageDelay: time.Second, MaxPages: 50, offline: map[string]bool{},
	}
}

// Version names crier in the User-Agent; cmd/crier sets it.
var Version = "dev"

// Report is the outcome of one run of a source.
type Report struct {
	Source      string
	Documents   int
	Added       int
	Updated     int
	Merged      int
	Unchanged   int
	NotModified bool    // the source answered 304
	Skipped     bool    // not due yet (backoff or Retry-After)
	Problems    []error // documents that were skipped; the run still succeeded
	Warnings    []string
	Err         error // what stopped the run, if anything
	Took        time.Duration
	NextRun     time.Time
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
	if r.Err == nil {
		r.Err = in.store(ctx, src, docs, &r)
	}
	r.Took = in.Now().Sub(start)
	run := store.Run{At: start, Added: r.Added, Err: r.Err, CountFailure: true}
	if r.Err == nil {
		run.ETag, run.LastModified = g.validators.ETag, g.validators.LastModified
		if g.notModified && run.ETag == "" && run.LastModified == "" {
			run.ETag, run.LastModified = st.ETag, st.LastModified
		}
		if g.fresh > 0 {
			run.NextRun = start.Add(min(g.fresh, maxBackoff))
		}
	} else {
		run.NextRun, run.CountFailure = in.afterFailure(src, st, r.Err, start)
	}
	in.setOffline(src.ID, r.Err)
	r.NextRun = run.NextRun
	if err := in.Store.RecordRun(context.WithoutCancel(ctx), src.ID, run); err != nil {
		r.Err = errors.Join(r.Err, err)
	}
	return r
}

// frameDocs is how many of a source's documents its frame is learnt from.
const frameDocs = 60

// learnFrame learns the source's frame from this run's documents and its
// most recent stored ones.
func (in *Ingester) learnFrame(ctx context.Context, src config.Source, docs []gather.Doc) (*normalize.Frame, error) {
	var inputs []normalize.Input
	seen := map[string]bool{}
	for _, d := range docs {
		if len(inputs) == frameDocs {
			break
		}
		seen[d.Key] = true
		inputs = append(inputs, normalize.Input{Raw: d.Raw, Format: format(d)})
	}
	if len(inputs) < frameDocs {
		stored, err := in.Store.RecentDocuments(ctx, src.ID, frameDocs)
		if err != nil {
			return nil, err
		}
		for _, d := range stored {
			if !seen[d.Key] && len(inputs) < frameDocs {
				inputs = append(inputs, normalize.Input{Raw: d.Raw})
			}
		}
	}
	return normalize.LearnFrame(inputs), nil
}

func format(d gather.Doc) normalize.Format {
	if d.HTML {
		return normalize.HTML
	}
	return normalize.Text
}

func (in *Ingester) store(ctx context.Context, src config.Source, docs []gather.Doc, r *Report) error {
	var frame *normalize.Frame
	for _, d := range docs {
		if err := ctx.Err(); err != nil {
			return err
		}
		r.Documents++
		// Skip the work of normalizing documents that have not changed.
		if h, ok, err := in.Store.DocumentHash(ctx, src.ID, d.Key); err != nil {
			return fmt.Errorf("source %s: %w", src.ID, err)
		} else if ok && h == store.ContentHash(d.Raw) {
			r.Unchanged++
			continue
		}
		if frame == nil { // learnt once per run, and only when something changed
			var err error
			if frame, err = in.learnFrame(ctx, src, docs); err != nil {
				return fmt.Errorf("source %s: %w", src.ID, err)
			}
		}
		date := d.Date
		if date.IsZero() {
			date = in.Now().UTC()
		}
		rec := in.Normalizer.Normalize(normalize.Input{
			Raw: d.Raw, Format: format(d), Title: d.Title, Date: date, DateStated: d.DateStated, URL: cmp.Or(d.URL, src.URL),
			Language: src.Language, Country: src.Country, Frame: frame,
		})
		item := store.Item{
			Title: rec.Title, Summary: rec.Summary, ContentText: rec.Text, ContentHTML: rec.HTML, URL: d.URL,
			Language: rec.Language, Country: rec.Country, City: rec.City, Topics: rec.Topics,
			Published: rec.Published, DateKnown: rec.DateKnown, Fingerprint: rec.Fingerprint, Signature: rec.Signature,
		}
		for _, c := range rec.Contacts {
			item.Contacts = append(item.Contacts, store.Contact(c))
		}
		uid, status, err := in.Store.SaveDocument(ctx, store.Document{SourceID: src.ID, Key: d.Key, URL: d.URL, Raw: d.Raw, Item: item})
		if err != nil {
			return fmt.Errorf("source %s: store %s: %w", src.ID, d.Key, err)
		}
		in.Log.Debug("document stored", "source", src.ID, "key", d.Key, "item", uid, "status", status)
		switch status {
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
	return nil
}
