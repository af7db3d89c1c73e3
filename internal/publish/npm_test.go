package publish

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// parseJS reads our JSON Feeds with feedsmith, an independent npm feed
// parser, and prints what it found.
const parseJS = `
const fs = require("fs");
const path = require("path");
const { parseJsonFeed } = require(path.join(process.env.CRIER_NODE_MODULES, "feedsmith"));
for (const file of process.argv.slice(2)) {
  const feed = parseJsonFeed(fs.readFileSync(file, "utf8"));
  const items = feed.items || [];
  const ok = items.every(it => it.id && (it.content_html || it.content_text));
  const ids = new Set(items.map(it => it.id));
  console.log(path.basename(file) + " title=" + JSON.stringify(feed.title) + " items=" + items.length + " unique=" + ids.size + " complete=" + ok);
}
`

// TestJSONFeedsInAnotherParser checks every JSON Feed route with the npm
// package feedsmith. bash .ci/run installs it and sets CRIER_NODE_MODULES.
func TestJSONFeedsInAnotherParser(t *testing.T) {
	mods := os.Getenv("CRIER_NODE_MODULES")
	if mods == "" {
		t.Skip("CRIER_NODE_MODULES is not set: run `npm install --prefix /tmp/n feedsmith@3.0.1` and CRIER_NODE_MODULES=/tmp/n/node_modules (bash .ci/run does both)")
	}
	if _, err := os.Stat(filepath.Join(mods, "feedsmith")); err != nil {
		t.Fatalf("CRIER_NODE_MODULES=%s: %v", mods, err)
	}
	srv, _, _ := newTestServer(t)
	dir := t.TempDir()
	routes := map[string]int{"all": 5, "source/iom-be-samples": 5, "topic/refugees": 2, "language/fr": 5, "country/be": 3}
	var files []string
	for route := range routes {
		_, body := get(t, srv.URL+"/feeds/"+route+".json")
		f := filepath.Join(dir, strings.ReplaceAll(route, "/", "_")+".json")
		os.WriteFile(f, body, 0o644)
		files = append(files, f)
	}
	script := filepath.Join(dir, "parse.js")
	os.WriteFile(script, []byte(parseJS), 0o644)
	cmd := exec.Command("node", append([]string{script}, files...)...)
	cmd.Env = append(os.Environ(), "CRIER_NODE_MODULES="+mods)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	t.Logf("feedsmith:\n%s", out)
	for route, n := range routes {
		want := strings.ReplaceAll(route, "/", "_") + ".json title="
		line := ""
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, want) {
				line = l
			}
		}
		if !strings.Contains(line, " items="+strconv.Itoa(n)+" unique="+strconv.Itoa(n)+" complete=true") || strings.Contains(line, `title=""`) {
			t.Errorf("%s: %q", route, line)
		}
	}
}
