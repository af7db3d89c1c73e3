// Package deliver pushes new items to partners' webhooks through a durable
// outbox: a subscriber's schedule creates deliveries in the database, and
// senders claim due deliveries from there, never from memory. Deliveries
// are signed as Standard Webhooks says, retried with backoff for about
// three days, one at a time per subscriber and in order.
package deliver

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crier-hub/crier/feeds"
	"github.com/crier-hub/crier/internal/config"
	"github.com/crier-hub/crier/internal/convert"
	"github.com/crier-hub/crier/internal/metrics"
	"github.com/crier-hub/crier/internal/retryafter"
	"github.com/crier-hub/crier/internal/store"
	"github.com/crier-hub/crier/internal/websub"
	"github.com/crier-hub/crier/webhooks"
)

// Retries are the waits after each failed attempt: the first retry within
// seconds, the last about three days after the first attempt.
var Retries = []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour,
	10 * time.Hour, 14 * time.Hour, 20 * time.Hour, 24 * time.Hour}

// Deliverer creates and sends deliveries.
type Deliverer struct {
	Store   Store
	Conv    *convert.Converter
	client  *poster
	Subs    map[string]config.Subscriber
	MaxBody int64
	Timeout time.Duration
	Workers int
	Log     *slog.Logger
	Now     func() time.Time
	// Jitter spreads a retry wait; it returns a factor near 1.
	Jitter func() float64
	// HubURL is this crier's WebSub hub, advertised to WebSub subscribers.
	HubURL string
	// UserAgent names crier and its version in every request.
	UserAgent string
	// Metrics counts attempts by outcome; nil counts nothing.
	Metrics *metrics.Metrics

	wake chan struct{}

	signers sync.Map // a subscriber's secret setting → its *webhooks.Signer

	mu        sync.Mutex
	encoded   map[encodedKey]encodedItem
	parts     map[string]sharedPart
	partBytes int
}

// New returns a Deliverer for cfg's subscribers.
func New(cfg *config.Config, st Store, log *slog.Logger) *Deliverer {
	subs := map[string]config.Subscriber{}
	for _, s := range cfg.Subscribers {
		subs[s.ID] = s
	}
	return &Deliverer{
		Store: st, Conv: convert.New(cfg), Subs: subs,
		client:  newPoster(cfg.Webhooks.Timeout, cfg.Webhooks.Concurrency, cfg.Webhooks.AllowPrivateTargets),
		MaxBody: cfg.Webhooks.MaxBody, Timeout: cfg.Webhooks.Timeout, Workers: cfg.Webhooks.Concurrency,
		Log: log.With("component", "webhooks"), Now: time.Now,
		Jitter:    func() float64 { return 0.9 + 0.2*rand.Float64() },
		HubURL:    cfg.Server.BaseURL + "/websub",
		UserAgent: "crier/" + cmp.Or(cfg.Version, "dev"),
		wake:      make(chan struct{}, 1), encoded: map[encodedKey]encodedItem{}, parts: map[string]sharedPart{},
	}
}

// Sync registers the configured subscribers with the outbox.
func (d *Deliverer) Sync(ctx context.Context) error {
	var subs []store.NewSubscriber
	for _, s := range d.Subs {
		subs = append(subs, store.NewSubscriber{ID: s.ID, Backfill: s.Backfill})
	}
	return d.Store.AddSubscribers(ctx, subs)
}

// Fire creates the deliveries a subscriber is owed now.
func (d *Deliverer) Fire(ctx context.Context, id string) (int, error) {
	n, err := d.FireAll(ctx, []string{id})
	return n[id], err
}

// FireAll creates the deliveries the subscribers are owed now, reading
// once what those with the same filter and the same cursors are owed, and
// returns how many each got.
func (d *Deliverer) FireAll(ctx context.Context, ids []string) (map[string]int, error) {
	var order []string
	byFilter := map[string][]string{}
	for _, id := range ids {
		sub, ok := d.Subs[id]
		if !ok {
			return nil, fmt.Errorf("no subscriber %q", id)
		}
		f := sub.Filter
		key := fmt.Sprint(f.Countries, f.Topics, f.Languages, f.Sources)
		if _, ok := byFilter[key]; !ok {
			order = append(order, key)
		}
		byFilter[key] = append(byFilter[key], id)
	}
	created := map[string]int{}
	for _, key := range order {
		group := byFilter[key]
		f := d.Subs[group[0]].Filter
		q := store.Query{Countries: f.Countries, Topics: f.Topics, Languages: f.Languages, Sources: f.Sources}
		n, err := d.Store.FireMany(ctx, group, q, func(id string) store.Builder {
			return func(event string, items []store.Item, seq int64) ([]store.Batch, error) {
				return d.batches(id, event, items, seq)
			}
		}, func(string, int) { d.Wake() })
		for id, k := range n {
			created[id] += k
		}
		if err != nil {
			return created, err
		}
	}
	return created, nil
}

// Wake tells the senders that deliveries may be due.
func (d *Deliverer) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// envelope is the start of a payload (webhooks.Payload) of one event to
// one subscriber, up to its sequence number; with appends the number and
// items already encoded, so that an item is encoded once however many
// partners are owed it, and never read again.
type envelope []byte

func newEnvelope(event, sub string, at time.Time) (envelope, error) {
	var b []byte
	for i, part := range []any{event, at, sub} {
		v, err := json.Marshal(part)
		if err != nil {
			return nil, err
		}
		b = append(b, [...]string{`{"type":`, `,"timestamp":`, `,"data":{"subscriber":`}[i]...)
		b = append(b, v...)
	}
	return append(b, `,"sequence":`...), nil
}

// with makes the payload of seq carrying items, each valid JSON.
func (e envelope) with(seq int64, items []json.RawMessage) []byte {
	return e.batch(seq, sharedPart{content: join(items)}).Whole()
}

// batch is the payload of seq carrying items as the store keeps it: the
// items, the same for every partner, apart from the envelope.
func (e envelope) batch(seq int64, items sharedPart) store.Batch {
	own := strconv.AppendInt(append(make([]byte, 0, len(e)+32), e...), seq, 10)
	own = append(own, `,"items":[`...)
	split := len(own)
	return store.Batch{Body: append(own, "]}}"...), Shared: items.content, SharedHash: items.hash, Split: split}
}

// join is items as the elements of a JSON array, without its brackets.
func join(items []json.RawMessage) []byte {
	n := 0
	for _, it := range items {
		n += len(it) + 1
	}
	out := make([]byte, 0, n)
	for i, it := range items {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, it...)
	}
	return out
}

// sharedPart is the items of a payload, joined once for every partner
// owed the same ones, and the store's name for them.
type sharedPart struct {
	content []byte
	hash    string
}

// part is items joined, from the parts kept when key (each item's
// number, version and budget) was joined before.
func (d *Deliverer) part(key []byte, items []json.RawMessage) sharedPart {
	if key == nil {
		return sharedPart{content: join(items)}
	}
	d.mu.Lock()
	p, ok := d.parts[string(key)]
	d.mu.Unlock()
	if ok {
		return p
	}
	p.content = join(items)
	p.hash = store.SharedHash(p.content)
	d.mu.Lock()
	if d.partBytes += len(p.content); d.partBytes > maxPartBytes {
		clear(d.parts)
		d.partBytes = len(p.content)
	}
	d.parts[string(key)] = p
	d.mu.Unlock()
	return p
}

// maxPartBytes bounds the bytes of the parts kept.
const maxPartBytes = 16 << 20

// retractedItem is what an items.deleted payload says of an item.
type retractedItem struct {
	ID    string `json:"id"`
	Crier struct {
		Retracted time.Time `json:"retracted"`
	} `json:"_crier"`
}

// itemJSON is an item as a JSON Feed item, encoded once per version of
// the item and kept for the other partners owed it. With a budget, the
// item is fitted into about that many bytes (shrink).
func (d *Deliverer) itemJSON(it store.Item, budget int) ([]byte, error) {
	key := encodedKey{it.Seq, budget}
	d.mu.Lock()
	c, ok := d.encoded[key]
	d.mu.Unlock()
	if ok && c.updated.Equal(it.Updated) {
		return c.json, nil
	}
	fi := d.Conv.Item(it)
	ji := feeds.JSONItemOf(&fi)
	if budget > 0 {
		shrink(ji, budget)
	}
	b, err := json.Marshal(ji)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	if len(d.encoded) >= maxEncoded {
		clear(d.encoded)
	}
	d.encoded[key] = encodedItem{it.Updated, b}
	d.mu.Unlock()
	return b, nil
}

type encodedKey struct {
	seq    int64
	budget int // 0: whole
}

type encodedItem struct {
	updated time.Time
	json    []byte
}

// maxEncoded bounds the encoded items kept (a few MiB).
const maxEncoded = 2048

// batches splits items into payloads that each stay within MaxBody. An
// item too large on its own travels alone, without its HTML, its text cut
// to fit.
func (d *Deliverer) batches(sub, event string, items []store.Item, seq int64) ([]store.Batch, error) {
	env, err := newEnvelope(event, sub, d.Now().UTC().Truncate(time.Second))
	if err != nil {
		return nil, err
	}
	// The envelope's size, with the longest sequence number it can carry.
	empty := env.with(math.MaxInt64, nil)
	var out []store.Batch
	var cur []json.RawMessage
	var ids []int64
	// key names cur's items as encoded, for the parts kept; retractions
	// are small and not kept.
	var key []byte
	size := len(empty)
	flush := func() {
		if len(cur) == 0 {
			return
		}
		b := env.batch(seq, d.part(key, cur))
		b.Items = ids
		out = append(out, b)
		cur, ids, key, size, seq = nil, nil, nil, len(empty), seq+1
	}
	for _, it := range items {
		b, err := d.itemJSON(it, 0)
		if event == store.Retracted {
			var r retractedItem
			r.ID, r.Crier.Retracted = convert.ItemID(it.UID), it.Retracted.UTC()
			b, err = json.Marshal(r)
		}
		if err != nil {
			return nil, err
		}
		budget := 0
		if size+len(b)+1 > int(d.MaxBody) {
			flush()
			if len(empty)+len(b) > int(d.MaxBody) && event != store.Retracted {
				budget = int(d.MaxBody) - len(empty)
				if b, err = d.itemJSON(it, budget); err != nil {
					return nil, err
				}
			}
		}
		if event != store.Retracted {
			key = binary.AppendVarint(binary.AppendVarint(binary.AppendVarint(key, it.Seq), it.Updated.UnixNano()), int64(budget))
		}
		cur, ids = append(cur, b), append(ids, it.Seq)
		size += len(b) + 1
	}
	flush()
	return out, nil
}

// shrink fits a single item into about budget bytes.
func shrink(ji *feeds.JSONItem, budget int) {
	ji.ContentHTML = ""
	b, _ := json.Marshal(ji)
	if over := len(b) - budget; over > 0 {
		r := []rune(ji.ContentText)
		cut := max(0, len(r)-over-16)
		ji.ContentText = string(r[:cut]) + "…"
		if ji.ContentText == "…" {
			ji.ContentText = ji.Summary
		}
	}
}

func (d *Deliverer) ids() []string {
	ids := make([]string, 0, len(d.Subs))
	for id := range d.Subs {
		ids = append(ids, id)
	}
	return ids
}

// unheld is ids without those a lane holds: only they can have a run to
// claim, and each one listed costs the claim a look at its queue.
func unheld(ids []string, lanes map[string]*lane) []string {
	out := ids[:0]
	for _, id := range ids {
		if lanes[id] == nil {
			out = append(out, id)
		}
	}
	return out
}

// lease is how long a claim holds: the request's time and a margin. A
// sender renews the claims it holds once they are leaseMargin/2 old, so
// that each request starts with at least its timeout left on its claim.
func (d *Deliverer) lease() time.Duration { return d.Timeout + leaseMargin }

const leaseMargin = 5 * time.Second

// SendDue sends deliveries until none is due now, and returns how many
// attempts were made and how many succeeded.
func (d *Deliverer) SendDue(ctx context.Context) (attempts, delivered int, err error) {
	return d.SendWhile(ctx, func() error { return nil })
}

// SendWhile sends deliveries as they fall due while work runs (creating
// them, say), and then until none is due now. It returns how many
// attempts were made and how many succeeded, and work's error first.
func (d *Deliverer) SendWhile(ctx context.Context, work func() error) (attempts, delivered int, err error) {
	finished := make(chan struct{})
	var werr error
	go func() {
		werr = work()
		close(finished)
		d.Wake() // after the close: the sender wakes to find it
	}()
	attempts, delivered, err = d.dispatch(ctx, finished)
	<-finished
	return attempts, delivered, cmp.Or(werr, err)
}

// Run sends deliveries as they fall due until ctx ends. Requests in flight
// when ctx ends are finished (within their timeout) and recorded.
func (d *Deliverer) Run(ctx context.Context) {
	d.dispatch(ctx, nil)
}

// sent is the result of one attempt, on its way back to the dispatcher.
type sent = store.Finished

// maxRun bounds the deliveries a sender claims of one subscriber at once
// (the store bounds their bytes too).
const maxRun = 64

// commitEvery spaces the commits of successes that need nothing more
// (their subscriber holds more claimed deliveries) unless gatherMost
// of them wait.
const (
	commitEvery = 5 * time.Millisecond
	gatherMost  = 256
)

// lane is a subscriber's run of claimed deliveries, sent one at a time:
// the next as soon as the one before succeeded, while that success is
// being recorded.
type lane struct {
	queue    []store.Delivery // claimed, not yet sent, in order
	inFlight int64            // the delivery in flight; 0 for none
	renewed  time.Time        // when its claims were taken or last renewed
	refill   bool             // its run is used up and its last delivery delivered
}

// dispatch is the outbox's one loop. It keeps one request in flight per
// subscriber (as many subscribers at once as have something due, up to
// Workers). Finished attempts are recorded together in one commit, which
// runs beside the requests and also claims each subscriber's next run
// when its run is used up, and the first runs of subscribers with
// something due (different subscribers, a run of each, in one
// statement), so that the loop itself never waits on the store while
// requests finish. The loop sleeps until woken: a new delivery, a
// finished request or commit, or the next due time. Once idleAfter is
// closed, it returns as soon as nothing is in flight or due now.
//
// A crash loses nothing: a delivery sent but not yet recorded keeps its
// claim, which lapses, and it goes again under the same webhook-id, then
// the ones after it, in order.
func (d *Deliverer) dispatch(ctx context.Context, idleAfter <-chan struct{}) (attempts, delivered int, err error) {
	limit := max(1, d.Workers)
	results := make(chan sent, limit)
	type committed struct {
		rec store.Recorded
		req store.Record
		err error
	}
	commits := make(chan committed, 1)
	committing := false
	lanes := map[string]*lane{}
	inFlight := 0
	var pending []sent // finished, not yet recorded
	scan := true       // whether a claim may find something
	// While requests are in flight, a retry of another partner may fall
	// due: look for it now and then.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	// Successes that need nothing more wait a little for others, so that
	// a commit carries many: each commit rewrites the pages it touches.
	var lastCommit time.Time
	gather := time.NewTimer(0)
	defer gather.Stop()
	lease := d.lease()
	// Requests go out from workers that live as long as the loop, one
	// more whenever all are busy: a goroutine per request would grow
	// its stack again for each.
	jobs := make(chan store.Delivery)
	defer close(jobs)
	workers := 0
	start := func(l *lane) {
		del := l.queue[0]
		l.queue, l.inFlight = l.queue[1:], del.ID
		if inFlight++; inFlight > workers {
			workers++
			go func() {
				for del := range jobs {
					results <- d.send(ctx, del)
				}
			}()
		}
		jobs <- del
	}
	untilIdle := false
	refillWaiting := false // a lane's run is used up since the last commit began
	unsettled := true      // another process may have left successes to settle
	for {
		stopping := ctx.Err() != nil
		if !untilIdle {
			select {
			case <-idleAfter:
				untilIdle, scan = true, true
			default:
			}
		}
		// Whether a commit may start now, found without walking the lanes
		// (nextCommit does): most finished requests only join pending.
		soon := stopping || refillWaiting || len(pending) >= gatherMost || (scan && len(lanes) < limit)
		wait := commitEvery - time.Since(lastCommit)
		if !committing && !soon && wait > 0 {
			if len(pending) > 0 {
				gather.Reset(wait)
			}
		} else if !committing {
			req, renewed := nextCommit(lanes, pending, stopping, lease)
			if !stopping && scan && len(lanes) < limit {
				// New runs are claimed in the commit too, beside the
				// requests: the loop never waits on the store.
				req.Claim, req.Subscribers = limit-len(lanes), unheld(d.ids(), lanes)
			}
			urgent := len(req.Release) > 0 || len(req.Refill) > 0 || len(req.Renew) > 0 || req.Claim > 0 || stopping || len(req.Done) >= gatherMost
			switch {
			case len(req.Done)+len(req.Release)+len(req.Refill)+len(req.Renew)+req.Claim == 0:
			case !urgent && wait > 0:
				gather.Reset(wait)
			default:
				committing, pending, lastCommit, refillWaiting = true, nil, time.Now(), false
				if req.Claim > 0 {
					scan = false
				}
				for id := range req.Release {
					lanes[id].queue = nil
				}
				for _, l := range renewed {
					l.renewed = lastCommit
				}
				go func() {
					// The commit outlives ctx: an answer received is never forgotten.
					rec, err := d.Store.Record(context.WithoutCancel(ctx), req)
					commits <- committed{rec, req, err}
				}()
			}
		}
		if stopping && inFlight == 0 && !committing && len(pending) == 0 {
			return attempts, delivered, err
		}
		if untilIdle && len(lanes) == 0 && !committing && len(pending) == 0 && !scan {
			return attempts, delivered, err
		}
		if len(lanes) == 0 && !committing && len(pending) == 0 && !stopping {
			if unsettled {
				// Idle: the successes recorded in the log go onto their
				// deliveries' rows now, while nothing waits on the writer.
				if _, serr := d.Store.Settle(ctx); serr != nil && ctx.Err() == nil {
					d.Log.Error("outbox", "error", serr)
				}
				unsettled = false
			}
			d.idle(ctx)
			scan = true
			continue
		}
		done := ctx.Done()
		if stopping {
			done = nil // only the requests and commits under way are waited for
		}
		select {
		case f := <-results:
			inFlight--
			pending = append(pending, f)
			id := f.Delivery.SubscriberID
			l := lanes[id]
			l.inFlight = 0
			switch {
			case ctx.Err() != nil:
				if len(l.queue) == 0 {
					delete(lanes, id)
				} // else the next commit gives its queue back
			case f.Outcome != store.Delivered:
				// Its other claims are given back when this is recorded.
				delete(lanes, id)
				scan = true
			case len(l.queue) > 0:
				start(l) // the next, while this success is being recorded
			default:
				l.refill, refillWaiting = true, true
			}
		case c := <-commits:
			committing = false
			for _, f := range c.req.Done {
				d.logOutcome(ctx, f)
				if f.Outcome == store.Delivered {
					delivered++
				}
			}
			attempts += len(c.req.Done)
			unsettled = unsettled || len(c.req.Done) > 0
			if c.err != nil {
				// Nothing was recorded: the claims lapse and the
				// deliveries go again, under their webhook-ids. Until
				// then, nothing more is sent.
				d.Log.Error("outbox", "error", c.err)
				err = cmp.Or(err, c.err)
				for id, l := range lanes {
					if l.queue = nil; l.inFlight == 0 {
						delete(lanes, id)
					}
				}
				// A claim that failed is tried again once the loop has
				// waited (idle, or the next tick), not at once.
				scan = c.req.Claim == 0
				continue
			}
			for _, id := range c.rec.Stopped {
				if l := lanes[id]; l != nil {
					l.queue = nil // paused meanwhile: its claims were given back
					if l.inFlight == 0 {
						delete(lanes, id)
					}
				}
			}
			refilled := map[string]bool{}
			for _, id := range c.req.Refill {
				refilled[id] = true
				l := lanes[id]
				if l == nil {
					continue
				}
				l.refill = false
				if run := c.rec.Runs[id]; len(run) > 0 {
					l.queue, l.renewed = run, time.Now()
					if ctx.Err() == nil {
						start(l)
					} // else the next commit gives it back
				} else if l.inFlight == 0 {
					delete(lanes, id) // its queue ran dry: a place for another
					scan = true
				}
			}
			if c.req.Claim > 0 {
				claimed := 0
				for id, run := range c.rec.Runs {
					if refilled[id] || lanes[id] != nil {
						continue // a lane holds it already (its claim would not have been free)
					}
					l := &lane{queue: run, renewed: time.Now()}
					lanes[id] = l
					claimed++
					if ctx.Err() == nil {
						start(l)
					} // else the next commit gives it back
				}
				if claimed > 0 && len(lanes) >= limit {
					scan = true // more may be due once a place is free
				}
			}
		case <-d.wake:
			scan = true
		case <-tick.C:
			scan = true
		case <-gather.C:
		case <-done:
		}
	}
}

// nextCommit is what the dispatcher's next commit carries: the attempts
// finished, the lanes whose runs are used up (refilled), held (checked for
// a pause), old enough to renew, or, when stopping, given back. It returns
// the lanes to mark renewed once the commit starts.
func nextCommit(lanes map[string]*lane, done []sent, stopping bool, lease time.Duration) (store.Record, []*lane) {
	req := store.Record{Done: done, Lease: lease, Run: maxRun, Holding: map[string]int64{}, Release: map[string]int64{}}
	if stopping {
		req.Lease = 0 // claim nothing more
	}
	var renewed []*lane
	for id, l := range lanes {
		switch {
		case stopping && len(l.queue) > 0:
			req.Release[id] = l.inFlight // give back what will not be sent now
		case stopping:
		case l.refill:
			req.Refill = append(req.Refill, id)
		case len(l.queue) > 0:
			req.Holding[id] = l.inFlight
			if time.Since(l.renewed) > leaseMargin/2 {
				req.Renew = append(req.Renew, id)
				renewed = append(renewed, l)
			}
		}
	}
	return req, renewed
}

// idle waits, with nothing in flight, for a wake-up, the next due time, or
// a slow poll (another process's deliveries, lapsed claims).
func (d *Deliverer) idle(ctx context.Context) {
	wait := 5 * time.Second
	if next, ok, err := d.Store.NextDue(ctx, d.ids()); err == nil && ok {
		wait = min(wait, max(time.Millisecond, next.Sub(d.Now())))
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-d.wake:
	case <-t.C:
	}
}

// send attempts one claimed delivery. The attempt runs to its end even
// when crier is stopping: it is then recorded, or its claim lapses and it
// is sent again under the same webhook-id.
func (d *Deliverer) send(ctx context.Context, del store.Delivery) sent {
	a, outcome, next := d.attempt(context.WithoutCancel(ctx), del)
	return sent{Delivery: del, Attempt: a, Outcome: outcome, Next: next}
}

// logOutcome logs a recorded attempt, and ends a WebSub subscription that
// answered 410.
func (d *Deliverer) logOutcome(ctx context.Context, f sent) {
	del, a := f.Delivery, f.Attempt
	d.Metrics.Delivery([...]string{store.Delivered: "delivered", store.Retry: "retry", store.RetryFailing: "failing", store.Gone: "gone"}[f.Outcome])
	if f.Outcome == store.Delivered && !d.Log.Enabled(ctx, slog.LevelDebug) {
		return // the common case, logged only when debugging
	}
	attrs := []any{"subscriber", del.SubscriberID, "webhook_id", del.WebhookID, "status", a.Status, "latency", a.Latency.Round(time.Millisecond)}
	switch f.Outcome {
	case store.Delivered:
		d.Log.Debug("delivered", append(attrs, "items", len(del.Items))...)
	case store.Retry:
		d.Log.Warn("delivery failed; will retry", append(attrs, "error", a.Error, "next_attempt", f.Next)...)
	case store.RetryFailing:
		d.Log.Error("delivery still failing after every scheduled retry; subscriber marked failing, retried daily", append(attrs, "error", a.Error, "next_attempt", f.Next)...)
	case store.Gone:
		if strings.HasPrefix(del.SubscriberID, store.WebSubPrefix) {
			d.Log.Info("websub subscriber answered 410 Gone: subscription ended", attrs...)
			if err := d.Store.UnsubscribeWebSub(context.WithoutCancel(ctx), del.SubscriberID); err != nil {
				d.Log.Error("outbox", "error", err)
			}
		} else {
			d.Log.Warn("subscriber answered 410 Gone: paused", attrs...)
		}
	}
}

// responseCap is how much of a response is read; responseKept is stored.
const (
	responseCap  = 64 << 10
	responseKept = 1 << 10
)

// request is where the POST of a delivery goes and its headers: a signed
// webhook, or a WebSub content distribution (the feed's new entries,
// X-Hub-Signature).
func (d *Deliverer) request(ctx context.Context, del store.Delivery) (string, http.Header, error) {
	if strings.HasPrefix(del.SubscriberID, store.WebSubPrefix) {
		return websub.Request(ctx, d.Store, del, d.HubURL)
	}
	sub := d.Subs[del.SubscriberID]
	signer, err := d.signer(sub.Secret)
	if err != nil {
		return "", nil, fmt.Errorf("signing: %w", err)
	}
	h := http.Header{"Content-Type": {"application/json"}}
	signer.SetHeaders(h, del.WebhookID, d.Now(), del.Body)
	return sub.URL, h, nil
}

// signer is the Signer of a subscriber's secret setting (one secret or
// several, space-separated), made once.
func (d *Deliverer) signer(secret string) (*webhooks.Signer, error) {
	if s, ok := d.signers.Load(secret); ok {
		return s.(*webhooks.Signer), nil
	}
	s, err := webhooks.NewSigner(strings.Fields(secret))
	if err != nil {
		return nil, err
	}
	d.signers.Store(secret, s)
	return s, nil
}

// attempt POSTs a delivery once and judges the answer.
func (d *Deliverer) attempt(ctx context.Context, del store.Delivery) (store.Attempt, store.Outcome, time.Time) {
	start := d.Now()
	a := store.Attempt{At: start}
	fail := func(msg string, retryAfter time.Duration) (store.Attempt, store.Outcome, time.Time) {
		a.Error = msg
		outcome := store.Retry
		if del.Attempts >= len(Retries) {
			outcome = store.RetryFailing // still owed: never skipped, never given up
		}
		wait := time.Duration(float64(Retries[min(del.Attempts, len(Retries)-1)]) * d.Jitter())
		wait = max(wait, min(retryAfter, 24*time.Hour))
		return a, outcome, d.Now().Add(wait)
	}
	url, header, err := d.request(ctx, del)
	if err != nil {
		return fail(err.Error(), 0)
	}
	header.Set("User-Agent", d.UserAgent)
	ans, err := d.client.post(url, header, del.Body)
	a.Latency = d.Now().Sub(start)
	if err != nil {
		return fail(err.Error(), 0)
	}
	a.Status = ans.status
	a.Response = bytes.Clone(ans.body[:min(len(ans.body), responseKept)])
	switch {
	case ans.status >= 200 && ans.status <= 299:
		return a, store.Delivered, time.Time{}
	case ans.status == http.StatusGone:
		a.Error = "410 Gone: the subscriber is paused"
		return a, store.Gone, time.Time{}
	}
	if ans.cut {
		return fail(fmt.Sprintf("HTTP %d, body not read within %v", ans.status, d.Timeout), 0)
	}
	var ra time.Duration
	if ans.status == http.StatusTooManyRequests || ans.status == http.StatusServiceUnavailable {
		ra = retryafter.Parse(ans.retryAfter, d.Now())
	}
	return fail(fmt.Sprintf("HTTP %d %s", ans.status, http.StatusText(ans.status)), ra)
}
