package docker_test

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/rgrid/rgrid/internal/executor"
	"github.com/rgrid/rgrid/internal/testimages"
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
}

// Not parallel: t.Setenv changes the whole test process's environment. A
// container's environment is the image's, the job's own variables and the
// executor's fixed ones (and the engine's HOSTNAME): nothing of the
// worker's.
func TestPlatformCredentialsNotInJobEnvironment(t *testing.T) {
	for k, v := range platformCredentials {
		t.Setenv(k, v)
	}
	b := newBundle(t)
	img := testimages.Python(t)
	got := b.start(t, executor.Spec{
		JobID: testID(t), Attempt: 1, Image: img, Command: []string{"python3.11"}, FileName: "env.py",
		Script: []byte("import json, os\nprint(json.dumps(dict(os.environ)))\n"),
		Env:    map[string]string{"JOB_VAR": "job-value", "RGRID_ATTEMPT": "1"},
		Limits: executor.Limits{MemoryBytes: 512 << 20, CPUs: 1, Pids: 256, Timeout: waitBound / 2},
	}).wait(t)
	got.wantExit(t, 0)
	var env map[string]string
	if err := json.Unmarshal([]byte(got.stdout), &env); err != nil {
		t.Fatalf("job's environment %q: %v", got.stdout, err)
	}
	inspect, err := dockerClient(t).ImageInspect(t.Context(), img)
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{"HOME": true, "TMPDIR": true, "PATH": true, "LANG": true, "PYTHONUNBUFFERED": true,
		"JOB_VAR": true, "RGRID_ATTEMPT": true, "HOSTNAME": true}
	for _, kv := range inspect.Config.Env {
		k, _, _ := strings.Cut(kv, "=")
		allowed[k] = true
	}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		if !allowed[k] {
			t.Errorf("the job's environment has %s, which is neither the image's, the job's nor the executor's", k)
		}
	}
	for k, v := range platformCredentials {
		if _, seen := env[k]; seen || strings.Contains(got.stdout, v) {
			t.Errorf("the job sees the worker's %s", k)
		}
	}
	if env["JOB_VAR"] != "job-value" || env["HOME"] != "/rgrid/work" {
		t.Errorf("JOB_VAR = %q, HOME = %q", env["JOB_VAR"], env["HOME"])
	}
}
