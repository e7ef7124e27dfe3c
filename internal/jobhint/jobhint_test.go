package jobhint

import (
	"strings"
	"testing"

	"github.com/rgrid/rgrid/client"
)

func TestFor(t *testing.T) {
	t.Parallel()
	failed := func(exc, msg string) client.Job {
		return client.Job{ID: "j", State: client.StateFailed, Failure: &client.Failure{Exception: exc, Message: msg, File: "a.py", Line: 1}}
	}
	for _, tc := range []struct {
		name string
		job  client.Job
		want string // a part of the hint; "" for none
	}{
		{"missing module", failed("ModuleNotFoundError", "No module named 'requests'"), "add requests to a requirements.txt beside the script"},
		{"submodule", failed("ModuleNotFoundError", "No module named 'google.protobuf'"), "add protobuf to a requirements.txt"},
		{"import name differs from the package", failed("ModuleNotFoundError", "No module named 'cv2'"), "add opencv-python to a requirements.txt beside the script (or to its inline \"# /// script\" dependencies); rgrid installs it before the run (the module cv2 comes from the package opencv-python)"},
		{"dotted module", failed("ModuleNotFoundError", "No module named 'yaml.constructor'"), "add pyyaml"},
		{"other exception", failed("ZeroDivisionError", "division by zero"), ""},
		{"oom", client.Job{State: client.StateOOMKilled, Limits: client.Limits{MemoryBytes: 256 << 20}}, "--memory 512m"},
		{"timeout", client.Job{State: client.StateTimedOut, Limits: client.Limits{TimeoutSeconds: 5}}, "--timeout 10s"},
		{"missing image", client.Job{State: client.StateError, Reason: "image_pull_failed"}, "check the runtime's image name (rgrid runtimes)"},
	} {
		got := For(tc.job)
		if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("%s: hint %q, want it to contain %q", tc.name, got, tc.want)
		}
	}
}
