package deliver

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crier-hub/crier/webhooks"
)

// verifyJS checks deliveries with the reference JavaScript implementation
// of Standard Webhooks (npm package standardwebhooks).
const verifyJS = `
const fs = require("fs");
const path = require("path");
const { Webhook } = require(path.join(process.env.CRIER_NODE_MODULES, "standardwebhooks"));
const cases = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
for (const c of cases) {
  let verdict;
  try { new Webhook(c.secret).verify(c.body, c.headers); verdict = "accepted"; }
  catch (e) { verdict = "rejected"; }
  console.log(c.name + " " + verdict);
}
`

// TestStandardWebhooksNPM has the npm package standardwebhooks verify real
// deliveries, and reject a flipped byte and a stale timestamp. bash .ci/run
// installs the package and sets CRIER_NODE_MODULES.
func TestStandardWebhooksNPM(t *testing.T) {
	mods := os.Getenv("CRIER_NODE_MODULES")
	if mods == "" {
		t.Skip("CRIER_NODE_MODULES is not set: run `npm install --prefix /tmp/sw standardwebhooks@1.1.1` and CRIER_NODE_MODULES=/tmp/sw/node_modules (bash .ci/run does both)")
	}
	if _, err := os.Stat(filepath.Join(mods, "standardwebhooks")); err != nil {
		t.Fatalf("CRIER_NODE_MODULES=%s: %v", mods, err)
	}
	rc := newReceiver(t)
	d, _ := setup(t, "", sub("p", rc.srv.URL, ""))
	d.MaxBody = 9000
	fireAll(t, d)
	d.SendDue(context.Background())
	if len(rc.bodies) < 2 {
		t.Fatalf("only %d deliveries captured", len(rc.bodies))
	}
	type jsCase struct {
		Name    string            `json:"name"`
		Secret  string            `json:"secret"`
		Body    string            `json:"body"`
		Headers map[string]string `json:"headers"`
	}
	hdr := func(h map[string][]string) map[string]string {
		out := map[string]string{}
		for _, k := range []string{"webhook-id", "webhook-timestamp", "webhook-signature"} {
			for hk, v := range h {
				if strings.EqualFold(hk, k) {
					out[k] = v[0]
				}
			}
		}
		return out
	}
	var cases []jsCase
	for i, body := range rc.bodies {
		cases = append(cases, jsCase{Name: "delivery-" + string(rune('a'+i)), Secret: secret, Body: string(body), Headers: hdr(rc.headers[i])})
	}
	flipped := []byte(string(rc.bodies[0]))
	flipped[len(flipped)/2] ^= 1
	cases = append(cases, jsCase{Name: "flipped-byte", Secret: secret, Body: string(flipped), Headers: hdr(rc.headers[0])})
	old := map[string][]string{}
	webhooks.SetHeaders(old, []string{secret}, "msg_stale", time.Now().Add(-10*time.Minute), rc.bodies[0])
	cases = append(cases, jsCase{Name: "stale-timestamp", Secret: secret, Body: string(rc.bodies[0]), Headers: hdr(old)})
	file := filepath.Join(t.TempDir(), "cases.json")
	b, _ := json.Marshal(cases)
	os.WriteFile(file, b, 0o644)
	script := filepath.Join(t.TempDir(), "verify.js")
	os.WriteFile(script, []byte(verifyJS), 0o644)
	cmd := exec.Command("node", script, file)
	cmd.Env = append(os.Environ(), "CRIER_NODE_MODULES="+mods)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	got := strings.TrimSpace(string(out))
	t.Logf("standardwebhooks says:\n%s", got)
	for _, c := range cases {
		want := "accepted"
		if c.Name == "flipped-byte" || c.Name == "stale-timestamp" {
			want = "rejected"
		}
		if !strings.Contains(got, c.Name+" "+want) {
			t.Errorf("%s: want %s", c.Name, want)
		}
	}
}
