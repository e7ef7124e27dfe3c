package process_test

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
)

// platformCredentials are what a worker's own environment may hold: its
// token, the database, S3 and the secret key file. None may reach a job.
var platformCredentials = map[string]string{
	"RGRID_TOKEN":           "worker-token-Q8zv1Lr0",
	"RGRID_DB":              "postgres://rgrid:dbpass-K2m9@db/rgrid",
	"RGRID_SECRET_KEY_FILE": "/etc/rgrid/secret-key-path-7Hq",
	"RGRID_BLOBS":           "s3://bucket/prefix?secret=blobs-Xy3",
	"AWS_ACCESS_KEY_ID":     "AKIAEXAMPLEKEY0042",
	"AWS_SECRET_ACCESS_KEY": "aws-secret-Vb7Nn1Pp0",
	"AWS_SESSION_TOKEN":     "aws-session-Tt5Rr2",
	"DOCKER_HOST":           "unix:///run/secret-docker-9.sock",
}

// Not parallel: t.Setenv changes the whole test process's environment. The
// job's environment is exactly its own variables and the executor's fixed
// ones: nothing of the worker's.
func TestPlatformCredentialsNotInJobEnvironment(t *testing.T) {
	for k, v := range platformCredentials {
		t.Setenv(k, v)
	}
	s := spec(`
import json, os
print(json.dumps(dict(os.environ)))
`)
	s.Env = map[string]string{"JOB_VAR": "job-value", "RGRID_ATTEMPT": "1"}
	var out, stderr bytes.Buffer
	s.Stdout, s.Stderr = &out, &stderr
	h, err := newExecutor(t).Start(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	res, err := h.Wait(t.Context())
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("got %+v, %v; stderr %s", res, err, stderr.String())
	}
	var env map[string]string
	if err := json.Unmarshal(out.Bytes(), &env); err != nil {
		t.Fatalf("job's environment %q: %v", out.String(), err)
	}
	// The shell that applies the rlimits may add its own bookkeeping.
	for _, k := range []string{"PWD", "SHLVL", "_"} {
		delete(env, k)
	}
	want := []string{"HOME", "JOB_VAR", "LANG", "PATH", "PYTHONUNBUFFERED", "RGRID_ATTEMPT", "TMPDIR"}
	if got := slices.Sorted(maps.Keys(env)); !slices.Equal(got, want) {
		t.Errorf("the job's environment has %v, want exactly %v", got, want)
	}
	for k, v := range platformCredentials {
		if strings.Contains(out.String(), v) {
			t.Errorf("the job sees the worker's %s", k)
		}
	}
	if env["JOB_VAR"] != "job-value" {
		t.Errorf("JOB_VAR = %q", env["JOB_VAR"])
	}
}
