// Command ceiling measures what `crier push` would take if the outbox did
// no work per delivery: crier's own sender (deliver.Deliverer, its
// dispatcher, signing and fasthttp client) and its fire (reading the
// items and building every partner's bodies), over an outbox that keeps
// each partner's queue in memory and writes one small transaction per
// commit. Nothing it sends is recorded: it is a bound for redesigns of
// the outbox, not a way to deliver.
//
// Run it on a store kept by the push bench, against a receiver on the
// port its config names, and compare with `crier push` on a copy of the
// same store, in turns:
//
//	go run ./bench/push -items 400 -partners 100 -max-body 4KiB -keep -runs 1
//	go build -o /tmp/ceiling ./bench/ceiling
//	cp fetched.db crier.db; /usr/bin/time /tmp/ceiling config.toml
//
// It prints the attempts and deliveries, and how long firing and
// sending took. With -rows the fire also writes its delivery rows (which
// nothing reads then): the part of the difference that is theirs.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/crier-hub/crier/internal/config"
	"github.com/crier-hub/crier/internal/deliver"
	"github.com/crier-hub/crier/internal/store"
)

// memoryOutbox is the store with its outbox in memory: a fire moves the
// subscribers' cursors in the database but writes no delivery (unless
// -rows); claims take runs from each partner's queue; a commit is one
// transaction on the writer that writes nothing.
type memoryOutbox struct {
	*store.Store
	rows   bool // the fire writes its delivery rows too (-rows)
	mu     sync.Mutex
	queues map[string][]queued
	last   int64
}

// queued is a delivery waiting: its body is put together when it is
// claimed, as the store does, so that only claimed runs hold whole bodies.
type queued struct {
	id    int64
	batch store.Batch
}

func (m *memoryOutbox) FireMany(ctx context.Context, ids []string, q store.Query, build func(id string) store.Builder, fired func(id string, n int)) (map[string]int, error) {
	return m.Store.FireMany(ctx, ids, q, func(id string) store.Builder {
		b := build(id)
		return func(event string, items []store.Item, seq int64) ([]store.Batch, error) {
			batches, err := b(event, items, seq)
			m.mu.Lock()
			for _, x := range batches {
				m.last++
				m.queues[id] = append(m.queues[id], queued{m.last, x})
			}
			m.mu.Unlock()
			if len(batches) > 0 && fired != nil {
				fired(id, len(batches)) // the sender wakes, as after a fire's commit
			}
			if m.rows {
				return batches, err // written, and never read
			}
			return nil, err // no delivery rows
		}
	}, nil)
}

func (m *memoryOutbox) Record(ctx context.Context, r store.Record) (store.Recorded, error) {
	out := store.Recorded{Runs: map[string][]store.Delivery{}}
	if len(r.Done) > 0 {
		// A commit's one transaction on the writer: the store's Settle,
		// which finds nothing to settle here. An outbox of ranges would
		// write a few pages more (each partner's sent prefix).
		if _, err := m.Store.Settle(ctx); err != nil {
			return out, err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	take := func(id string) {
		q := m.queues[id]
		n := min(len(q), max(1, r.Run))
		if n == 0 {
			return
		}
		run := make([]store.Delivery, n)
		for i, x := range q[:n] {
			run[i] = store.Delivery{ID: x.id, WebhookID: fmt.Sprintf("msg_ceiling%d", x.id), SubscriberID: id,
				Items: x.batch.Items, Body: x.batch.Whole(), Status: store.Sending}
		}
		out.Runs[id], m.queues[id] = run, q[n:]
	}
	for _, id := range r.Refill {
		take(id)
	}
	for _, id := range r.Subscribers {
		if len(out.Runs) >= r.Claim+len(r.Refill) {
			break
		}
		if _, ok := out.Runs[id]; !ok {
			take(id)
		}
	}
	return out, nil
}

func (m *memoryOutbox) Settle(context.Context) (int, error) { return 0, nil }

func (m *memoryOutbox) NextDue(context.Context, []string) (time.Time, bool, error) {
	return time.Time{}, false, nil
}

func main() {
	rows := flag.Bool("rows", false, "the fire writes its delivery rows too, to see what they cost")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: ceiling [-rows] config.toml")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *rows); err != nil {
		fmt.Fprintln(os.Stderr, "ceiling:", err)
		os.Exit(1)
	}
}

func run(path string, rows bool) error {
	ctx := context.Background()
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg.Storage.Driver, cfg.Storage.DSN)
	if err != nil {
		return err
	}
	defer st.CloseForExit()
	if err := st.DeliverOnly(ctx); err != nil {
		return err
	}
	outbox := &memoryOutbox{Store: st, rows: rows, queues: map[string][]queued{}}
	d := deliver.New(cfg, outbox, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err := d.Sync(ctx); err != nil {
		return err
	}
	var ids []string
	for _, s := range cfg.Subscribers {
		ids = append(ids, s.ID)
	}
	start := time.Now()
	var fired time.Duration
	attempts, delivered, err := d.SendWhile(ctx, func() error {
		_, err := d.FireAll(ctx, ids)
		fired = time.Since(start)
		return err
	})
	fmt.Printf("%d attempts, %d delivered; fired in %v, sent in %v\n", attempts, delivered, fired.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	return err
}
