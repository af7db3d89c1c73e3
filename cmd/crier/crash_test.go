package main

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// TestCrashDuringFanOut kills crier with SIGKILL while it delivers many
// items to several receivers, starts it again, and checks that every
// (item, subscriber) pair arrives at least once, and that a pair arriving
// twice arrives under the same webhook-id.
func TestCrashDuringFanOut(t *testing.T) {
	bin := crierBinary(t)
	dir := t.TempDir()
	const nItems = 60
	writeReleases(t, dir, nItems, 7)
	partners, subs := newPartners(t, 3, 40*time.Millisecond) // partners that take their time
	addr := freePort(t)
	cfg := fmt.Sprintf("[server]\nlisten = %q\n[webhooks]\ntimeout = \"2s\"\nmax_body = \"3KiB\"\nallow_private_targets = true\n"+
		"[[sources]]\nid = \"s\"\nkind = \"dir\"\npath = \"releases\"\nlanguage = \"en\"\nschedule = \"@every 1h\"\n%s", addr, subs)
	// Each run's log is kept, and its last lines printed if the test
	// fails; both runs read one config and store, in dir.
	total := func() (int, int) { return tally(partners) }
	cmd := startServe(t, bin, dir, "crier", cfg)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if posts, _ := total(); posts >= 10 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Kill() // SIGKILL, mid fan-out
	cmd.Wait()
	postsAtKill, pairsAtKill := total()
	if pairsAtKill >= 3*nItems {
		t.Fatalf("every pair was delivered before the kill (%d): the test did not interrupt a fan-out", pairsAtKill)
	}
	cmd = startServe(t, bin, dir, "crier-restarted", cfg)
	// The restart has a deadline of its own: claims the killed process
	// held lapse after a lease (the timeout and 5 s) before they are sent
	// again, and a loaded machine (CI beside other work) may have spent
	// much of the first phase's minute getting to the kill.
	deadline = time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if _, pairs := total(); pairs == 3*nItems {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("serve after SIGTERM: %v, want a clean exit", err)
	}
	posts, pairs := total()
	t.Logf("killed after %d posts (%d pairs); in the end %d posts, %d of %d pairs", postsAtKill, pairsAtKill, posts, pairs, 3*nItems)
	if pairs != 3*nItems {
		t.Fatalf("%d of %d (item, subscriber) pairs delivered", pairs, 3*nItems)
	}
	checkPartners(t, partners, false)
}
