package store

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestShapes(t *testing.T) {
	for n := 0; n <= 300; n++ {
		sum, last, shapes := 0, 1<<30, map[int]bool{}
		for rest := n; rest > 0; rest -= last {
			r := pow2Run(rest, 64)
			if r > 64 || r&(r-1) != 0 || r > last || r > rest {
				t.Fatalf("pow2Run(%d of %d): %d", rest, n, r)
			}
			sum, last, shapes[r] = sum+r, r, true
		}
		if sum != n || len(shapes) > 7 {
			t.Fatalf("%d rows went in runs adding up to %d, of %d shapes", n, sum, len(shapes))
		}
		vals := make([]int, n)
		for i := range vals {
			vals[i] = i
		}
		p := padded(vals)
		if n > 0 && (len(p)&(len(p)-1) != 0 || len(p) < n || len(p) >= 2*n+1 || fmt.Sprint(p[:n]) != fmt.Sprint(vals) || p[len(p)-1] != n-1) {
			t.Fatalf("padded(%d values) = %v", n, p)
		}
		// Rows of two values padded alike: the last row repeated.
		var args []any
		for i := range n {
			args = append(args, i, -i)
		}
		if rows, k := paddedRows(args, 2); n > 0 && (k != len(p) || len(rows) != 2*k || fmt.Sprint(rows[:2*n]) != fmt.Sprint(args) ||
			rows[2*k-2] != n-1 || rows[2*k-1] != -(n-1)) {
			t.Fatalf("paddedRows(%d rows) = %v, %d", n, rows, k)
		}
	}
	if got := valueRows(2, 3); got != "(?, ?, ?), (?, ?, ?)" {
		t.Errorf("valueRows(2, 3) = %q", got)
	}
}

// Webhook-ids made later sort later (they go at the end of their index),
// and are never the same.
func TestWebhookIDsSortByTime(t *testing.T) {
	seen := map[string]bool{}
	prev := newWebhookID()
	for i := 0; i < 2000; i++ {
		if i%500 == 0 {
			time.Sleep(2 * time.Millisecond)
			id := newWebhookID()
			if id <= prev || len(id) != 28 {
				t.Fatalf("%q made after %q", id, prev)
			}
			prev = id
		}
		id := newWebhookID()
		if seen[id] {
			t.Fatalf("%q made twice", id)
		}
		seen[id] = true
	}
}

// A claim names the subscribers it may claim for, a list whose length
// changes from one claim to the next: the statement's shapes stay few
// (a list padded to a power of two), so that a push prepares a handful
// of them rather than one per length.
func TestClaimShapesStayFew(t *testing.T) {
	ctx := t.Context()
	s, _ := openTemp(t)
	var subs []string
	for i := range 40 {
		subs = append(subs, fmt.Sprintf("p%d", i))
	}
	for _, id := range subs {
		if err := s.AddSubscriber(ctx, id, "all"); err != nil {
			t.Fatal(err)
		}
	}
	shapes := map[string]bool{}
	var mu sync.Mutex
	setTraceSQL(func(q string) {
		if strings.Contains(q, "s.paused = 0") {
			mu.Lock()
			shapes[q] = true
			mu.Unlock()
		}
	})
	defer setTraceSQL(nil)
	for n := 1; n <= len(subs); n++ {
		if _, err := s.ClaimRuns(ctx, subs[:n], 4, 4, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	setTraceSQL(nil)
	if len(shapes) == 0 || len(shapes) > 7 {
		t.Errorf("claims for 1 to %d subscribers took %d shapes of statement, want 1 to 7", len(subs), len(shapes))
	}
}
