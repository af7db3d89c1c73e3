package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crier-hub/crier/internal/store"
)

// TestFetchAndPushAsProcesses runs crier fetch and crier push as the
// processes a user runs, which close their store for the exit
// (store.CloseForExit) and push under DeliverOnly: each leaves the WAL
// emptied into the database, every (item, partner) pair arrives once
// under one webhook-id, and the store another process opens next has
// every delivery sent and nothing owed.
func TestFetchAndPushAsProcesses(t *testing.T) {
	bin := crierBinary(t)
	dir := t.TempDir()
	const nItems = 25
	writeReleases(t, dir, nItems, 11)
	partners, subs := newPartners(t, 2, 0)
	db := filepath.Join(dir, "crier.db")
	cfg := fmt.Sprintf("[server]\nlisten = %q\n[storage]\ndsn = %q\n[webhooks]\nmax_body = \"3KiB\"\nallow_private_targets = true\n"+
		"[[sources]]\nid = \"s\"\nkind = \"dir\"\npath = \"releases\"\nlanguage = \"en\"\n%s", freePort(t), db, subs)
	conf := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	crier := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append(args, "--config", conf)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("crier %s: %v\n%s", args[0], err, out)
		}
		if fi, err := os.Stat(db + "-wal"); err == nil && fi.Size() != 0 {
			t.Errorf("after crier %s the WAL holds %d bytes, want it emptied into the database", args[0], fi.Size())
		}
		return string(out)
	}
	crier("fetch")
	out := crier("push")
	if want := fmt.Sprintf("%d attempts, %d delivered", 2*nItems, 2*nItems); !strings.Contains(out, want) {
		t.Fatalf("crier push printed:\n%s\nwant %q", out, want)
	}
	if _, pairs := tally(partners); pairs != 2*nItems {
		t.Errorf("%d of %d (item, partner) pairs delivered", pairs, 2*nItems)
	}
	checkPartners(t, partners, true)
	if out := crier("push"); !strings.Contains(out, "0 attempts, 0 delivered") {
		t.Errorf("a second crier push printed:\n%s\nwant nothing more sent", out)
	}
	st, err := store.Open(context.Background(), "sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	owed, err := st.OwedBySubscriber(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"p0", "p1"} {
		if owed[id].Deliveries != 0 {
			t.Errorf("%s is owed %d deliveries after the pushes, want 0", id, owed[id].Deliveries)
		}
	}
	for _, id := range []string{"p0", "p1"} {
		dels, err := st.Deliveries(context.Background(), id, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(dels) != nItems {
			t.Errorf("%s has %d deliveries, want %d", id, len(dels), nItems)
		}
		for _, d := range dels {
			if d.Status != store.Sent {
				t.Errorf("%s delivery %s reads %s, want sent", id, d.WebhookID, d.Status)
				break
			}
		}
	}
}
