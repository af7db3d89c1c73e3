package ingest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/crier-hub/crier/internal/testenv"

	"github.com/crier-hub/crier/internal/config"
	"github.com/crier-hub/crier/internal/store"
)

func copySamples(t *testing.T, dst string) {
	t.Helper()
	files, err := filepath.Glob("../../testdata/releases/*.txt")
	if err != nil || len(files) != 5 {
		t.Fatalf("want the 5 sample releases in testdata/releases, got %d (%v)", len(files), err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func setup(t *testing.T) (*Ingester, config.Source, string) {
	t.Helper()
	dir := t.TempDir()
	rel := filepath.Join(dir, "releases")
	os.Mkdir(rel, 0o755)
	copySamples(t, rel)
	doc := "[[sources]]\nid = \"samples\"\nkind = \"dir\"\npath = \"releases\"\nlanguage = \"fr\"\ncountry = \"BE\"\n" +
		"[[topics]]\nslug = \"refugees\"\n[topics.keywords]\nfr = [\"réfugié\"]\n"
	cfg, st := testenv.New(t, dir, doc)
	return New(cfg, st, testenv.Log()), cfg.Sources[0], rel
}

func TestDirRefetch(t *testing.T) {
	ctx := context.Background()
	in, src, rel := setup(t)
	r := in.Run(ctx, src)
	if r.Err != nil || r.Added != 5 {
		t.Fatalf("first run: added %d, err %v; want 5 added", r.Added, r.Err)
	}
	r = in.Run(ctx, src)
	if r.Err != nil || r.Added != 0 || r.Updated != 0 || r.Unchanged != 5 {
		t.Fatalf("unchanged folder: %+v; want 5 unchanged, nothing added", r)
	}
	items, _ := concrete(in.Store).Items(ctx, store.Query{})
	if len(items) != 5 {
		t.Fatalf("items: got %d, want 5", len(items))
	}

	// Edit one release: its item is updated in place.
	target := filepath.Join(rel, "002_5a2f6f364a3714b2.txt")
	before := itemFor(t, in, items, "L’OIM et la Belgique signent")
	b, _ := os.ReadFile(target)
	os.WriteFile(target, append(b, []byte("\n\nUn paragraphe ajouté après coup pour corriger le communiqué.\n")...), 0o644)
	concrete(in.Store).Now = func() time.Time { return time.Now().Add(time.Hour) }
	r = in.Run(ctx, src)
	if r.Updated != 1 || r.Added != 0 || r.Unchanged != 4 {
		t.Fatalf("after an edit: %+v; want 1 updated, 4 unchanged", r)
	}
	items, _ = concrete(in.Store).Items(ctx, store.Query{})
	after := itemFor(t, in, items, "L’OIM et la Belgique signent")
	if after.UID != before.UID {
		t.Errorf("an edit changed the item's id: %s -> %s", before.UID, after.UID)
	}
	if !after.Updated.After(before.Updated) {
		t.Errorf("updated did not move: %v -> %v", before.Updated, after.Updated)
	}
	if len(items) != 5 {
		t.Errorf("items after edit: got %d, want 5", len(items))
	}
}

func itemFor(t *testing.T, in *Ingester, items []store.Item, prefix string) store.Item {
	t.Helper()
	for _, it := range items {
		if len(it.Title) >= len(prefix) && it.Title[:len(prefix)] == prefix {
			return it
		}
	}
	t.Fatalf("no item titled %q…", prefix)
	return store.Item{}
}

func TestDirUnreadableFileSkipped(t *testing.T) {
	ctx := context.Background()
	in, src, rel := setup(t)
	// A dangling symlink cannot be opened, whoever runs the test.
	if err := os.Symlink(filepath.Join(rel, "missing-target"), filepath.Join(rel, "broken.txt")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(rel, "notes.pdf"), []byte("%PDF"), 0o644) // not a release type
	r := in.Run(ctx, src)
	if r.Err != nil {
		t.Fatalf("one bad file failed the run: %v", r.Err)
	}
	if r.Added != 5 {
		t.Errorf("added %d, want the 5 good files", r.Added)
	}
	if len(r.Problems) != 1 || !contains(r.Problems[0].Error(), "broken.txt") {
		t.Errorf("problems: got %v, want one naming broken.txt", r.Problems)
	}
}

func TestDirMissingFolder(t *testing.T) {
	in, src, _ := setup(t)
	src.Path = filepath.Join(t.TempDir(), "nowhere")
	r := in.Run(context.Background(), src)
	if r.Err == nil {
		t.Fatal("a missing folder did not fail the run")
	}
	states, err := concrete(in.Store).SourceStates(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st := states[src.ID]; st.Failures != 1 || st.LastError == "" {
		t.Errorf("health not recorded: %+v", st)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// One huge release is cut to feeds.max_item_size, with a note, so that no
// feed it appears in grows with it.
func TestHugeReleaseIsCut(t *testing.T) {
	ctx := context.Background()
	in, src, rel := setup(t)
	var b strings.Builder
	b.WriteString("A very long release\n\nGENEVA, 3 May 2021 – ")
	for b.Len() < 3<<20 {
		b.WriteString("migrants réfugiés border health families support programme. ")
	}
	if err := os.WriteFile(filepath.Join(rel, "huge.txt"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := in.Run(ctx, src); r.Err != nil || r.Added != 6 {
		t.Fatalf("run: %+v", r)
	}
	items, _ := concrete(in.Store).Items(ctx, store.Query{})
	found := false
	for _, it := range items {
		if it.Title != "A very long release" {
			if strings.Contains(it.ContentText, "feeds.max_item_size") {
				t.Errorf("a short release was cut: %s", it.Title)
			}
			continue
		}
		found = true
		if int64(len(it.ContentText)) > in.MaxItemSize || int64(len(it.ContentHTML)) > in.MaxItemSize+in.MaxItemSize/10 {
			t.Errorf("text %d bytes, HTML %d bytes; limit %d", len(it.ContentText), len(it.ContentHTML), in.MaxItemSize)
		}
		if !strings.HasSuffix(it.ContentText, "(feeds.max_item_size)") || !utf8.ValidString(it.ContentText) {
			t.Errorf("the cut text does not end with its note: …%q", it.ContentText[len(it.ContentText)-80:])
		}
	}
	if !found || in.MaxItemSize != 256<<10 {
		t.Fatalf("huge release found %v, limit %d", found, in.MaxItemSize)
	}
}

// A process that dies mid-run leaves its lease: another process is told
// when it lapses, and runs the source then, though its tick has passed;
// a run its holder finished and recorded is not run again.
func TestRunOfADeadProcessIsTakenOver(t *testing.T) {
	ctx := context.Background()
	in, src, _ := setup(t)
	st := concrete(in.Store)
	clock := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	st.Now = func() time.Time { return clock }
	in.Now = st.Now
	gap := 30 * time.Minute // an hourly schedule's
	// The dead process claimed this tick's run and stored nothing.
	if ok, err := st.ClaimRun(ctx, src.ID, "dead", 2*time.Minute, gap); !ok || err != nil {
		t.Fatalf("the first claim: %v %v", ok, err)
	}
	in.Holder = "alive"
	r := in.RunScheduled(ctx, src, gap)
	if !r.ElsewhereRun || r.Added != 0 {
		t.Fatalf("while the lease holds: %+v, want run elsewhere", r)
	}
	if want := clock.Add(2 * time.Minute); !r.LeaseUntil.Equal(want) {
		t.Fatalf("the report says the lease lapses at %v, want %v", r.LeaseUntil, want)
	}
	clock = r.LeaseUntil.Add(time.Second) // when the caller tries again
	r = in.RunScheduled(ctx, src, gap)
	if r.ElsewhereRun || r.Err != nil || r.Added != 5 {
		t.Fatalf("after the dead process's lease lapsed: %+v, want the 5 releases stored", r)
	}
	// A third process that was told of that run's lease tries when it
	// lapses: the run was recorded, so it is not run again.
	clock = clock.Add(time.Minute)
	in.Holder = "third"
	if r = in.RunScheduled(ctx, src, gap); !r.ElsewhereRun || !r.LeaseUntil.IsZero() {
		t.Errorf("after a recorded run: %+v, want refused with no lease to wait for", r)
	}
}
