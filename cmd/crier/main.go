// Command crier gathers press releases from many sources, normalizes them
// into one clean item per release, and republishes them as feeds.
//
// Usage: crier <serve|fetch|check|push|version> [--config PATH] [flags]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

const usage = `usage: crier <command> [--config PATH] [flags]

commands:
  serve     run the daemon: HTTP feeds and source schedules, until SIGINT/SIGTERM
  fetch     fetch every source (or --source ID) once, store, print a summary
  check     validate the config and exit
  push      run webhook deliveries now (or --subscriber ID)
  copy      copy the whole store into an empty one: --to DSN (a SQLite path or a postgres:// URL)
  secret    print a new random whsec_ secret for a subscriber
  health    ask the running crier serve (server.listen) whether it is up: exit 0 if so
  version   print the version (also --version)
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// SIGHUP reloads config.toml (crier serve), as operators expect.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	reload = hup
	// CRIER_CPUPROFILE=file profiles the command, for the benchmarks
	// under bench/ (go tool pprof crier file). os.Exit runs no deferred
	// call: the profile is stopped, which writes it out, before.
	if path := os.Getenv("CRIER_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			pprof.StartCPUProfile(f)
		}
	}
	// CRIER_BLOCKPROFILE=file records where goroutines waited (on a
	// lock, a channel, the database's one writer) and for how long.
	blockProfile := os.Getenv("CRIER_BLOCKPROFILE")
	if blockProfile != "" {
		runtime.SetBlockProfileRate(int(10 * time.Microsecond))
	}
	exiting = true
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	pprof.StopCPUProfile()
	if blockProfile != "" {
		if f, err := os.Create(blockProfile); err == nil {
			pprof.Lookup("block").WriteTo(f, 0)
			f.Close()
		}
	}
	// CRIER_MEMPROFILE=file writes what the command allocated, sampled
	// (go tool pprof -sample_index=alloc_space crier file).
	if path := os.Getenv("CRIER_MEMPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}
	}
	os.Exit(code)
}

// reload receives SIGHUP; nil in tests, which call run directly.
var reload <-chan os.Signal

// exiting says the process exits once run returns: false in tests, which
// call run directly.
var exiting bool

// errUsage marks bad usage: exit status 2.
var errUsage = errors.New("usage")

// run executes one command and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, args := args[0], args[1:]
	if cmd == "--version" || cmd == "-version" {
		cmd = "version"
	}
	fs := flag.NewFlagSet("crier "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			fs.SetOutput(stdout) // help asked for is data: stdout
		}
	}
	configPath := fs.String("config", "./config.toml", "path of the config file")
	verbose := fs.Bool("verbose", false, "log debug messages")
	var sourceID, subscriberID, copyTo *string
	switch cmd {
	case "copy":
		copyTo = fs.String("to", "", "the empty store to copy into: a SQLite path or a postgres:// URL")
	case "fetch":
		sourceID = fs.String("source", "", "fetch only the source with this id")
	case "push":
		subscriberID = fs.String("subscriber", "", "deliver only to the subscriber with this id")
	case "serve", "check", "version", "secret", "health":
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "crier: unknown command %q\n%s", cmd, usage)
		return 2
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "crier %s: unexpected argument %q\n", cmd, fs.Arg(0))
		return 2
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	a := &app{configPath: *configPath, stdout: stdout, stderr: stderr, log: log, version: version, reload: reload, exiting: exiting}

	var err error
	switch cmd {
	case "version":
		fmt.Fprintln(stdout, "crier", version)
		return 0
	case "check":
		err = a.check()
	case "serve":
		err = a.serve(ctx)
	case "fetch":
		err = a.fetch(ctx, *sourceID)
	case "push":
		err = a.push(ctx, *subscriberID)
	case "copy":
		err = a.copy(ctx, *copyTo)
	case "secret":
		err = a.secret()
	case "health":
		err = a.health(ctx)
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintln(stderr, err)
		return 2
	default:
		fmt.Fprintln(stderr, err)
		return 1
	}
}
