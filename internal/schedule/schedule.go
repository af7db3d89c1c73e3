// Package schedule runs jobs on cron schedules (github.com/robfig/cron/v3):
// each job once at start, then on its schedule; a run still going is
// skipped rather than stacked, and a panic is recovered and logged.
package schedule

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/crier-hub/crier/internal/config"
)

// Scheduler holds named jobs and their schedules.
type Scheduler struct {
	log  *slog.Logger
	cron *cron.Cron
	jobs []named

	mu  sync.Mutex
	ctx context.Context
}

type named struct {
	name   string
	job    cron.Job
	missed bool // a run fell due while crier was down
}

// New returns an empty Scheduler.
func New(log *slog.Logger) *Scheduler {
	l := log.With("component", "schedule")
	return &Scheduler{log: l, cron: cron.New(cron.WithLogger(cronLogger{l})), ctx: context.Background()}
}

// Add schedules fn under name. The context fn gets ends when Run's does.
// last is when the job last ran (zero: never); if a run fell due since,
// while crier was down, Run starts with it.
func (s *Scheduler) Add(name, spec string, last time.Time, fn func(ctx context.Context)) error {
	sched, err := config.ParseSchedule(spec)
	if err != nil {
		return fmt.Errorf("schedule %q: %w", spec, err)
	}
	// Recover must come last in the chain: in cron v3.0.1 a panic inside
	// SkipIfStillRunning's wrapper would otherwise never release its slot.
	chain := cron.NewChain(cron.SkipIfStillRunning(cronLogger{s.log}), cron.Recover(cronLogger{s.log}))
	job := chain.Then(cron.FuncJob(func() {
		s.mu.Lock()
		ctx := s.ctx
		s.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		fn(ctx)
	}))
	s.cron.Schedule(sched, job)
	missed := last.IsZero() || !sched.Next(last).After(time.Now())
	s.jobs = append(s.jobs, named{name, job, missed})
	return nil
}

// Run runs the jobs due at start, starts the schedules, and returns when ctx ends
// and the jobs running then have returned.
func (s *Scheduler) Run(ctx context.Context) {
	s.mu.Lock()
	s.ctx = ctx
	s.mu.Unlock()
	s.cron.Start()
	var wg sync.WaitGroup
	for _, j := range s.jobs {
		if !j.missed {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			j.job.Run()
		}()
	}
	<-ctx.Done()
	<-s.cron.Stop().Done()
	wg.Wait()
}

// cronLogger adapts slog to cron's logger.
type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.l.Debug(msg, kv...) }
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error(msg, append(kv, "error", err)...)
}
