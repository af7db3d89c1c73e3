package ingest

import (
	"errors"
	"net"
	"time"

	"github.com/crier-hub/crier/internal/config"
	"github.com/crier-hub/crier/internal/gather"
	"github.com/crier-hub/crier/internal/store"
)

// Backoff of a failing source: one minute after the first failure, doubling,
// never more than a day. It never gives up: a source that recovers is back
// on its schedule after its next success.
const (
	minBackoff = time.Minute
	maxBackoff = 24 * time.Hour
)

// Backoff returns the wait after the n-th consecutive failure.
func Backoff(n int) time.Duration {
	d := minBackoff
	for i := 1; i < n && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// afterFailure decides when a failed source runs again, and whether the
// failure counts against it. When every remote source fails to connect,
// the fault is crier's own network: the failure is recorded but no source
// is pushed into backoff.
func (in *Ingester) afterFailure(src config.Source, st store.SourceState, err error, at time.Time) (time.Time, bool) {
	if unreachable(err) && in.networkDown(src.ID) {
		in.Log.Warn("every source fails to connect: crier's own network looks down; no source is put into backoff",
			"source", src.ID, "error", err)
		return time.Time{}, false
	}
	wait := Backoff(st.Failures + 1)
	var he *gather.HTTPError
	if errors.As(err, &he) && he.RetryAfter > wait {
		wait = min(he.RetryAfter, maxBackoff)
	}
	return at.Add(wait), true
}

// unreachable reports whether err is a failure to reach a server at all
// (DNS, refused or unroutable connection), rather than a bad answer.
func unreachable(err error) bool {
	var op *net.OpError
	var dns *net.DNSError
	return errors.As(err, &op) && op.Op == "dial" || errors.As(err, &dns)
}

func (in *Ingester) setOffline(id string, err error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.offline[id] = err != nil && unreachable(err)
}

// networkDown reports whether every other remote source could not connect
// on its last run either (and there are others to judge by).
func (in *Ingester) networkDown(except string) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	others := 0
	for _, s := range in.Sources {
		if s.ID == except || s.Kind == "dir" {
			continue
		}
		others++
		if !in.offline[s.ID] {
			return false
		}
	}
	return others > 0
}
