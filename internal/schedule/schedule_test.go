package schedule

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crier-hub/crier/internal/testenv"
)

func quiet() *slog.Logger { return testenv.Log() }

func TestRunStillGoingIsSkipped(t *testing.T) {
	s := New(quiet())
	release := make(chan struct{})
	var runs atomic.Int32
	if err := s.Add("slow", "@every 1h", time.Now(), func(ctx context.Context) {
		runs.Add(1)
		<-release
	}); err != nil {
		t.Fatal(err)
	}
	job := s.jobs[0].job
	done := make(chan struct{})
	go func() { job.Run(); close(done) }()
	for runs.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	job.Run() // returns at once: the first run still holds the slot
	if got := runs.Load(); got != 1 {
		t.Errorf("runs: %d, want 1 (the second skipped, not stacked)", got)
	}
	close(release)
	<-done
	job.Run()
	if got := runs.Load(); got != 2 {
		t.Errorf("after the first ended: %d runs, want 2", got)
	}
}

func TestPanicIsRecovered(t *testing.T) {
	s := New(quiet())
	var runs atomic.Int32
	s.Add("bad", "@every 1h", time.Time{}, func(ctx context.Context) {
		runs.Add(1)
		panic("boom")
	})
	job := s.jobs[0].job
	job.Run()
	job.Run() // a panic must not leave the job marked as running
	if got := runs.Load(); got != 2 {
		t.Errorf("runs after two panics: %d, want 2", got)
	}
}

func TestStartUpRunsOnlyMissedJobs(t *testing.T) {
	s := New(quiet())
	var missed, onTime atomic.Int32
	s.Add("missed", "@every 1h", time.Now().Add(-2*time.Hour), func(ctx context.Context) { missed.Add(1) })
	s.Add("on-time", "@every 1h", time.Now().Add(-time.Minute), func(ctx context.Context) { onTime.Add(1) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	for missed.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	if onTime.Load() != 0 {
		t.Error("a job that missed nothing ran at start-up")
	}
	if err := s.Add("bad", "every day", time.Time{}, func(context.Context) {}); err == nil {
		t.Error("a bad schedule was accepted")
	}
}
