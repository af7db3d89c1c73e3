// Package retryafter reads the Retry-After header (RFC 9110): how long a
// server asks to be left alone. Both the source reader and the webhook
// sender honour it.
package retryafter

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Parse reads a Retry-After value, seconds or an HTTP date, as a wait
// from now; zero when it says nothing usable.
func Parse(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(h); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
