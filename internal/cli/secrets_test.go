package cli

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rgrid/rgrid/client"
)

// Not parallel: t.Setenv.
func TestReadSecretEnv(t *testing.T) {
	t.Setenv("RGRID_TEST_SECRET_A", "value-A-9f3k")
	t.Setenv("RGRID_TEST_SECRET_EMPTY", "")
	got, err := readSecretEnv([]string{"RGRID_TEST_SECRET_A", "RGRID_TEST_SECRET_EMPTY"}, nil)
	if err != nil || len(got) != 2 || got["RGRID_TEST_SECRET_A"] != "value-A-9f3k" || got["RGRID_TEST_SECRET_EMPTY"] != "" {
		t.Fatalf("got %v, %v", got, err)
	}
	if got, err := readSecretEnv(nil, nil); got != nil || err != nil {
		t.Errorf("no names: %v %v", got, err)
	}
	for _, tc := range []struct {
		names      []string
		plain      map[string]string
		msg, hint  string
		mustNotSay string
	}{
		{names: []string{"RGRID_TEST_SECRET_UNSET"}, msg: "--secret-env RGRID_TEST_SECRET_UNSET: RGRID_TEST_SECRET_UNSET is not set",
			hint: "export RGRID_TEST_SECRET_UNSET"},
		{names: []string{"TOKEN=hunter2-xyz"}, msg: "not NAME=VALUE", hint: "export TOKEN", mustNotSay: "hunter2-xyz"},
		{names: []string{"RGRID_TEST_SECRET_A"}, plain: map[string]string{"RGRID_TEST_SECRET_A": "x"}, msg: "with --env and with --secret-env",
			mustNotSay: "value-A-9f3k"},
		{names: []string{""}, msg: "needs a variable's name"},
	} {
		_, err := readSecretEnv(tc.names, tc.plain)
		var e *Error
		if !errors.As(err, &e) || e.Code != exitUsage {
			t.Errorf("%v: %v, want a usage error", tc.names, err)
			continue
		}
		if !strings.Contains(e.Message, tc.msg) || !strings.Contains(e.Hint, tc.hint) {
			t.Errorf("%v: message %q hint %q, want %q and %q", tc.names, e.Message, e.Hint, tc.msg, tc.hint)
		}
		if tc.mustNotSay != "" && (strings.Contains(e.Message, tc.mustNotSay) || strings.Contains(e.Hint, tc.mustNotSay)) {
			t.Errorf("%v: the error shows the value", tc.names)
		}
	}
}

func TestStatusMasksSecrets(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	printStatus(&out, client.Job{ID: "job_1", State: client.StateQueued, FileName: "x.py", Runtime: "python3.11",
		SecretEnv: []string{"API_KEY", "DB_PASSWORD"}, CreatedAt: time.Now()})
	if !strings.Contains(out.String(), "API_KEY=****, DB_PASSWORD=****") {
		t.Errorf("status does not list the secrets masked:\n%s", out.String())
	}
	out.Reset()
	printStatus(&out, client.Job{ID: "job_1", State: client.StateQueued, FileName: "x.py", CreatedAt: time.Now()})
	if strings.Contains(out.String(), "Secrets") {
		t.Errorf("status of a job without secrets names them:\n%s", out.String())
	}
}
