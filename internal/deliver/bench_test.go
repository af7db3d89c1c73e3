package deliver

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkDeliveries sends every delivery the five samples make (one item
// each) through the outbox (claim, sign, POST, record) to a local receiver
// and, in the same run, POSTs the same bodies in a bare loop. It reports
// both rates and the ratio:
//
//	go test ./internal/deliver -run '^$' -bench Deliveries -benchtime 20x
func BenchmarkDeliveries(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	d, _ := setup(b, "", sub("p", srv.URL, ""))
	d.MaxBody = 9000
	d.Workers = 1
	ctx := context.Background()
	fireAll(b, d)
	d.SendDue(ctx) // every delivery sent once; each round replays them
	dels, _ := concrete(d.Store).Deliveries(ctx, "p", 100)
	var bodies [][]byte
	for _, del := range dels {
		bodies = append(bodies, del.Body)
	}
	client := &http.Client{}
	var outbox, bare time.Duration
	n := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, del := range dels {
			if err := concrete(d.Store).Replay(ctx, del.WebhookID); err != nil {
				b.Fatal(err)
			}
		}
		start := time.Now()
		_, delivered, err := d.SendDue(ctx)
		outbox += time.Since(start)
		if err != nil || delivered != len(dels) {
			b.Fatalf("delivered %d of %d: %v", delivered, len(dels), err)
		}
		start = time.Now()
		for _, body := range bodies {
			resp, err := client.Post(srv.URL, "application/json", bytes.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		bare += time.Since(start)
		n += len(dels)
	}
	b.ReportMetric(float64(n)/outbox.Seconds(), "outbox_deliveries/s")
	b.ReportMetric(float64(n)/bare.Seconds(), "bare_posts/s")
	b.ReportMetric(outbox.Seconds()/bare.Seconds(), "x_bare_time")
}
