package publish

import (
	"os/exec"
	"strings"
	"testing"
)

func lookPath(bin string) (string, error) { return exec.LookPath(bin) }

// run runs a validator and fails the test with its output if it fails.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}
