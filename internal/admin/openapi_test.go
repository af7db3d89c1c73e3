package admin

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Every route the API registers is in the OpenAPI document, with its
// method, and the document names no route the API lacks.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	token := "a-long-enough-admin-token"
	srv, _ := setup(t, token)
	code, body := call(t, "GET", srv.URL+"/api/v1/openapi.json", "")
	if code != 200 {
		t.Fatalf("openapi.json: %d", code)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil || doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi.json: %v, version %q", err, doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			if method != "parameters" {
				documented[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	a := &API{}
	a.Register(http.NewServeMux())
	registered := map[string]bool{}
	for _, r := range a.routes {
		registered[strings.Replace(r, "{webhook_id}", "{webhook_id}", 1)] = true
		if !documented[r] {
			t.Errorf("route %s is not in openapi.json", r)
		}
	}
	for r := range documented {
		if !registered[r] {
			t.Errorf("openapi.json describes %s, which the API does not serve", r)
		}
	}
	validateOpenAPI(t, []byte(body))
}

// validateOpenAPI checks the document with an independent validator, the
// npm package @seriousme/openapi-schema-validator, when CRIER_NODE_MODULES
// has it (bash .ci/run installs it).
func validateOpenAPI(t *testing.T, doc []byte) {
	mods := os.Getenv("CRIER_NODE_MODULES")
	if mods == "" {
		t.Log("CRIER_NODE_MODULES is not set: openapi.json was not checked by an independent validator (bash .ci/run does it)")
		return
	}
	pkg := filepath.Join(mods, "@seriousme", "openapi-schema-validator", "index.js")
	if _, err := os.Stat(pkg); err != nil {
		t.Fatalf("CRIER_NODE_MODULES=%s lacks @seriousme/openapi-schema-validator: %v", mods, err)
	}
	file := filepath.Join(t.TempDir(), "openapi.json")
	os.WriteFile(file, doc, 0o644)
	script := `const { Validator } = await import(process.argv[1]);
const v = new Validator();
const res = await v.validate(JSON.parse((await import("fs")).readFileSync(process.argv[2], "utf8")));
console.log(JSON.stringify(res));
process.exit(res.valid ? 0 : 1);`
	out, err := exec.Command("node", "--input-type=module", "-e", script, "file://"+pkg, file).CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"valid":true`) {
		t.Errorf("@seriousme/openapi-schema-validator: %v\n%s", err, out)
	}
}
