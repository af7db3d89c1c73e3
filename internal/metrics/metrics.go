// Package metrics is crier's Prometheus instrumentation: Go and process
// metrics, and crier's own (fetches and their duration per source, items,
// deliveries by outcome, the outbox's depth and its oldest owed delivery,
// feed requests by status and cache hits). One Metrics lives as long as
// the process; config reloads keep it.
package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds crier's collectors.
type Metrics struct {
	Registry      *prometheus.Registry
	fetches       *prometheus.CounterVec
	fetchDuration *prometheus.HistogramVec
	deliveries    *prometheus.CounterVec
	requests      *prometheus.CounterVec
	cacheHits     prometheus.Counter
}

// New registers crier's collectors; st answers the gauges at each scrape.
func New(st Store) *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crier_source_fetches_total",
			Help: "Runs of each source, by outcome: ok, failed, not_modified."}, []string{"source", "outcome"}),
		fetchDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "crier_source_fetch_duration_seconds",
			Help: "How long each source's runs take.", Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}}, []string{"source"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crier_delivery_attempts_total",
			Help: "Attempts at webhook and WebSub deliveries, by outcome: delivered, retry, failing, gone."}, []string{"outcome"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crier_feed_requests_total",
			Help: "Feed requests, by HTTP status."}, []string{"status"}),
		cacheHits: prometheus.NewCounter(prometheus.CounterOpts{Name: "crier_feed_cache_hits_total",
			Help: "Feed requests answered from the rendered-feed cache."}),
	}
	m.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.fetches, m.fetchDuration, m.deliveries, m.requests, m.cacheHits, &storeCollector{st})
	return m
}

// Fetch records a source's run.
func (m *Metrics) Fetch(source, outcome string, took time.Duration) {
	if m == nil {
		return
	}
	m.fetches.WithLabelValues(source, outcome).Inc()
	m.fetchDuration.WithLabelValues(source).Observe(took.Seconds())
}

// Delivery records an attempt's outcome.
func (m *Metrics) Delivery(outcome string) {
	if m != nil {
		m.deliveries.WithLabelValues(outcome).Inc()
	}
}

// Request records a feed request's status.
func (m *Metrics) Request(status int) {
	if m != nil {
		m.requests.WithLabelValues(statusText(status)).Inc()
	}
}

// CacheHit records a feed answered from the cache.
func (m *Metrics) CacheHit() {
	if m != nil {
		m.cacheHits.Inc()
	}
}

func statusText(code int) string {
	const digits = "0123456789"
	if code < 100 || code > 999 {
		return "other"
	}
	return string([]byte{digits[code/100], digits[code/10%10], digits[code%10]})
}

// storeCollector reads the gauges from the store at each scrape.
type storeCollector struct{ st Store }

var (
	itemsDesc    = prometheus.NewDesc("crier_items", "Items stored (retracted ones excluded).", nil, nil)
	owedDesc     = prometheus.NewDesc("crier_outbox_owed", "Deliveries owed: due or being sent.", nil, nil)
	oldestDesc   = prometheus.NewDesc("crier_outbox_oldest_owed_seconds", "Age of the oldest delivery still owed.", nil, nil)
	logDesc      = prometheus.NewDesc("crier_outbox_unsettled", "Successes recorded in the outbox's log, not yet settled onto their deliveries' rows.", nil, nil)
	failingDesc  = prometheus.NewDesc("crier_source_consecutive_failures", "Consecutive failed runs of a source.", []string{"source"}, nil)
	addedDesc    = prometheus.NewDesc("crier_source_items_added_total", "Items a source has added.", []string{"source"}, nil)
	subFailDesc  = prometheus.NewDesc("crier_subscriber_failing", "1 when a subscriber's deliveries fail after every scheduled retry.", []string{"subscriber"}, nil)
	subOwedDesc  = prometheus.NewDesc("crier_subscriber_owed", "Deliveries owed to a subscriber.", []string{"subscriber"}, nil)
	scrapeErrors = prometheus.NewDesc("crier_store_scrape_error", "1 when the store did not answer this scrape.", nil, nil)
	walDesc      = prometheus.NewDesc("crier_store_wal_bytes", "Size of SQLite's write-ahead log file (not on PostgreSQL).", nil, nil)
	searchDesc   = prometheus.NewDesc("crier_search_waiting", "Items stored and not yet in the search index, a rebuild's included (SQLite; not on PostgreSQL).", nil, nil)
)

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{itemsDesc, owedDesc, oldestDesc, logDesc, failingDesc, addedDesc, subFailDesc, subOwedDesc, scrapeErrors, walDesc, searchDesc} {
		ch <- d
	}
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	failed := 0.0
	if n, err := c.st.ItemCount(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(itemsDesc, prometheus.GaugeValue, float64(n))
	} else {
		failed = 1
	}
	if n, oldest, err := c.st.OutboxDepth(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(owedDesc, prometheus.GaugeValue, float64(n))
		age := 0.0
		if !oldest.IsZero() {
			age = time.Since(oldest).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, age)
	} else {
		failed = 1
	}
	if n, err := c.st.Unsettled(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(logDesc, prometheus.GaugeValue, float64(n))
	} else {
		failed = 1
	}
	if states, err := c.st.SourceStates(ctx); err == nil {
		for id, s := range states {
			ch <- prometheus.MustNewConstMetric(failingDesc, prometheus.GaugeValue, float64(s.Failures), id)
			ch <- prometheus.MustNewConstMetric(addedDesc, prometheus.CounterValue, float64(s.ItemsAdded), id)
		}
	} else {
		failed = 1
	}
	subs, err1 := c.st.Subscribers(ctx)
	owed, err2 := c.st.OwedBySubscriber(ctx)
	if err1 == nil && err2 == nil {
		for id, s := range subs {
			f := 0.0
			if s.Failing {
				f = 1
			}
			ch <- prometheus.MustNewConstMetric(subFailDesc, prometheus.GaugeValue, f, id)
			ch <- prometheus.MustNewConstMetric(subOwedDesc, prometheus.GaugeValue, float64(owed[id].Deliveries), id)
		}
	} else {
		failed = 1
	}
	if n, ok := c.st.WALSize(); ok {
		ch <- prometheus.MustNewConstMetric(walDesc, prometheus.GaugeValue, float64(n))
	}
	if n, ok, err := c.st.SearchBacklog(ctx); err != nil {
		failed = 1
	} else if ok {
		ch <- prometheus.MustNewConstMetric(searchDesc, prometheus.GaugeValue, float64(n))
	}
	ch <- prometheus.MustNewConstMetric(scrapeErrors, prometheus.GaugeValue, failed)
}
