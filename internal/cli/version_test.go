package cli

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"

	"github.com/rgrid/rgrid/internal/version"
)

func TestVersionCommand(t *testing.T) {
	t.Parallel()
	code, out, errOut := runCLI(t, "version")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if want := "rgrid " + version.String(); lines[0] != want {
		t.Errorf("first line %q, want %q", lines[0], want)
	}
	goLine := "go:        " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
	for _, prefix := range []string{"commit:    ", "built:     ", goLine} {
		found := false
		for _, l := range lines[1:] {
			found = found || strings.HasPrefix(l, prefix)
		}
		if !found {
			t.Errorf("no line starting %q in:\n%s", prefix, out)
		}
	}

	code, out, _ = runCLI(t, "version", "--json")
	var got version.Info
	if err := json.Unmarshal([]byte(out), &got); code != 0 || err != nil {
		t.Fatalf("--json: exit %d, %v: %q", code, err, out)
	}
	if got != version.Get() {
		t.Errorf("--json gave %+v, want %+v", got, version.Get())
	}
}
