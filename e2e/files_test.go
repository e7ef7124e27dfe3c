package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/testdb"
)

// rgridIn runs the CLI in dir with stdin (nil: /dev/null).
func rgridIn(t *testing.T, dir string, env []string, stdin []byte, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, rgridBin, args...)
	cmd.Dir, cmd.Env = dir, env
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("rgrid %v: %v", args, err)
	}
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

func writeFiles(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const analyzePy = `import json, os
from helpers import count, blob
n = count('data/in.csv')
os.makedirs('out', exist_ok=True)
with open('out/summary.json', 'w') as f:
    json.dump({'rows': n}, f)
with open('out/blob.bin', 'wb') as f:
    f.write(blob(5 << 20))
print('rows', n)
`

const helpersPy = `def count(path):
    with open(path) as f:
        return sum(1 for _ in f) - 1

def blob(n):
    # the same bytes on every machine: the test compares them
    return bytes((i * 7 + 3) % 251 for i in range(n))
`

func wantBlob() []byte {
	b := make([]byte, 5<<20)
	for i := range b {
		b[i] = byte((i*7 + 3) % 251)
	}
	return b
}

// project writes the project: a script that imports a module
// beside it, reads a data file and writes two outputs.
func project(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, map[string][]byte{
		"analyze.py":  []byte(analyzePy),
		"helpers.py":  []byte(helpersPy),
		"data/in.csv": []byte("a,b\n1,2\n3,4\n5,6\n"),
		".gitignore":  []byte("secret.txt\n"),
		"secret.txt":  []byte("not for the grid\n"),
	})
	return dir
}

func checkOutputs(t *testing.T, dir string, r result) {
	t.Helper()
	if r.code != 0 || !strings.Contains(r.stdout, "rows 3") {
		t.Fatalf("run: exit %d\nstdout %q\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	summary, err := os.ReadFile(filepath.Join(dir, "out", "summary.json"))
	if err != nil || strings.TrimSpace(string(summary)) != `{"rows": 3}` {
		t.Errorf("out/summary.json: %q %v", summary, err)
	}
	blob, err := os.ReadFile(filepath.Join(dir, "out", "blob.bin"))
	if err != nil || !bytes.Equal(blob, wantBlob()) {
		t.Errorf("out/blob.bin: %d bytes, %v; want the script's 5 MiB", len(blob), err)
	}
	if !strings.Contains(r.stderr, "2 files, 5.0 MiB written: out/blob.bin, out/summary.json") {
		t.Errorf("no summary line of the outputs in:\n%s", r.stderr)
	}
}

// The embedded default: cd proj && rgrid run analyze.py leaves the outputs
// beside it, with the right bytes; what .gitignore excludes is not sent.
func TestFilesEmbeddedProject(t *testing.T) {
	t.Parallel()
	env := isolatedEnv(t, "RGRID_CONFIG="+pythonConfig(t))
	dir := project(t)
	dry := rgridIn(t, dir, env, nil, "run", "--dry-run", "analyze.py")
	if dry.code != 0 || !strings.Contains(dry.stdout, "data/in.csv") || !strings.Contains(dry.stdout, ".gitignore line 1: `secret.txt`") {
		t.Fatalf("dry run: %d\n%s%s", dry.code, dry.stdout, dry.stderr)
	}
	checkOutputs(t, dir, rgridIn(t, dir, env, nil, "run", "analyze.py"))

	// An output sent back as an input and left as it was is the job's to
	// replace, as a local run would; one changed locally after it was
	// sent (here: while the outputs stayed on the server) is not: the
	// download goes beside it.
	if err := os.WriteFile(filepath.Join(dir, "data", "in.csv"), []byte("a,b\n1,2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := rgridIn(t, dir, env, nil, "run", "--no-outputs", "analyze.py")
	if r.code != 0 || strings.Contains(r.stderr, "written") {
		t.Fatalf("second run, --no-outputs: %d %s", r.code, r.stderr)
	}
	if err := os.WriteFile(filepath.Join(dir, "out", "summary.json"), []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l0 := rgrid(t, env, "list", "--json")
	var list0 client.JobList
	if err := json.Unmarshal([]byte(l0.stdout), &list0); err != nil || len(list0.Jobs) == 0 {
		t.Fatalf("list: %v", err)
	}
	if r = rgridIn(t, dir, env, nil, "outputs", list0.Jobs[0].ID, "-o", "."); r.code != 0 {
		t.Fatalf("rgrid outputs -o .: %d %s", r.code, r.stderr)
	}
	mine, _ := os.ReadFile(filepath.Join(dir, "out", "summary.json"))
	if string(mine) != "mine\n" {
		t.Errorf("a changed local file was overwritten: %q", mine)
	}
	l := rgrid(t, env, "list", "--json")
	var list client.JobList
	if err := json.Unmarshal([]byte(l.stdout), &list); err != nil || len(list.Jobs) == 0 {
		t.Fatalf("list: %v", err)
	}
	beside, err := os.ReadFile(filepath.Join(dir, "out", "summary.json.rgrid-"+list.Jobs[0].ID))
	if err != nil || strings.TrimSpace(string(beside)) != `{"rows": 1}` {
		t.Errorf("the new output beside it: %q %v\n%s", beside, err, r.stderr)
	}

	// Piped stdin reaches the script; the embedded grid's stdin is /dev/null otherwise.
	writeFiles(t, dir, map[string][]byte{"count.py": []byte("import sys\nprint(sum(1 for _ in sys.stdin))\n")})
	if r := rgridIn(t, dir, env, []byte("a\nb\n"), "run", "count.py"); r.code != 0 || r.stdout != "2\n" {
		t.Errorf("printf 'a\\nb\\n' | rgrid run count.py: %d %q %s", r.code, r.stdout, r.stderr)
	}
}

// A project over the cap is refused before anything is sent, with its
// biggest parts named.
func TestFilesOverTheCapRefused(t *testing.T) {
	t.Parallel()
	env := isolatedEnv(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string][]byte{"run.py": []byte("print(1)\n")})
	big := filepath.Join(dir, "datasets", "huge.bin")
	if err := os.MkdirAll(filepath.Dir(big), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(300 << 20); err != nil { // sparse: nothing is written
		t.Fatal(err)
	}
	f.Close()
	r := rgridIn(t, dir, env, nil, "run", "run.py")
	if r.code != 2 || !strings.Contains(r.stderr, "datasets/huge.bin") || !strings.Contains(r.stderr, ".rgridignore") {
		t.Fatalf("over the cap: exit %d\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "sending") {
		t.Errorf("something was sent before the refusal:\n%s", r.stderr)
	}
	if r := rgridIn(t, dir, env, nil, "run", "--no-workdir", "run.py"); r.code != 0 || r.stdout != "1\n" {
		t.Errorf("--no-workdir: %d %q %s", r.code, r.stdout, r.stderr)
	}
}

// s3URL is the S3 server of the suite (scripts/s3.sh), under a prefix of
// the test's own; it fails the test when there is none under CI=true.
func s3URL(t *testing.T) string {
	t.Helper()
	raw := os.Getenv("RGRID_TEST_S3_URL")
	if raw == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("an S3 server is required in CI: RGRID_TEST_S3_URL is not set; run scripts/test.sh")
		}
		t.Skip("RGRID_TEST_S3_URL is not set; run scripts/test.sh")
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("RGRID_TEST_S3_URL: %v", err)
	}
	u.Path = "/" + strings.Trim(u.Path, "/") + "/" + strings.ReplaceAll(t.Name(), "/", "-") + "-" + rand.Text()[:8] + "/"
	u.Path = strings.ReplaceAll(u.Path, "//", "/")
	return u.String()
}

// A server with S3 and a Docker worker: the same project comes back the
// same; the blobs went to S3 directly (presigned), and an unchanged
// 200 MiB project sends nothing the second time.
func TestFilesS3ServerAndDockerWorker(t *testing.T) {
	t.Parallel()
	env := isolatedEnv(t, "RGRID_CONFIG="+pythonConfig(t))
	_, url := startServer(t, env, testdb.PostgresURL(t), "--blobs", s3URL(t))
	startWorker(t, env, url, "files-"+strings.ReplaceAll(t.Name(), "/", "-"), 2, "--executor", "docker")
	env = append(env, "RGRID_SERVER="+url)
	dir := project(t)
	checkOutputs(t, dir, rgridIn(t, dir, env, nil, "run", "analyze.py"))

	big := make([]byte, 200<<20)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string][]byte{"data/big.bin": big})
	before := serverStats(t, url)
	first := time.Now()
	r := rgridIn(t, dir, env, nil, "run", "--max-upload", "300m", "analyze.py")
	took := time.Since(first)
	if r.code != 0 {
		t.Fatalf("with 200 MiB: %d %s", r.code, r.stderr)
	}
	mid := serverStats(t, url)
	if mid.Blobs.PresignedPuts-before.Blobs.PresignedPuts < 1 || mid.Blobs.UploadBytes != before.Blobs.UploadBytes {
		t.Errorf("the 200 MiB did not go to S3 directly: before %+v after %+v", before.Blobs, mid.Blobs)
	}
	second := time.Now()
	r = rgridIn(t, dir, env, nil, "run", "--max-upload", "300m", "analyze.py")
	again := time.Since(second)
	if r.code != 0 {
		t.Fatalf("unchanged: %d %s", r.code, r.stderr)
	}
	after := serverStats(t, url)
	if after.Blobs.PresignedPuts != mid.Blobs.PresignedPuts || after.Blobs.UploadBytes != mid.Blobs.UploadBytes || strings.Contains(r.stderr, "sending") {
		t.Errorf("an unchanged project sent blobs: %+v then %+v\n%s", mid.Blobs, after.Blobs, r.stderr)
	}
	t.Logf("first run with 200 MiB: %s; unchanged: %s", took.Round(time.Millisecond), again.Round(time.Millisecond))
}

type stats struct {
	Blobs struct {
		Uploads       int64 `json:"uploads"`
		UploadBytes   int64 `json:"upload_bytes"`
		PresignedPuts int64 `json:"presigned_puts"`
	} `json:"blobs"`
}

func serverStats(t *testing.T, url string) stats {
	t.Helper()
	resp, err := http.Get(url + "/v1/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// What a job leaves that is not a file is handled without trusting it: a
// link to /etc/passwd comes back as a link (or not at all), never as the
// file's content; a FIFO does not hang collection; a job that fills its
// working directory ends disk_full naming --disk, and the worker's next
// job succeeds.
func TestFilesHostileOutputsAndDiskFull(t *testing.T) {
	t.Parallel()
	env := isolatedEnv(t, "RGRID_CONFIG="+pythonConfig(t))
	_, url := startServer(t, env, testdb.PostgresURL(t))
	startWorker(t, env, url, "hostile-"+strings.ReplaceAll(t.Name(), "/", "-"), 1, "--executor", "docker", "--disk-quota", "required")
	env = append(env, "RGRID_SERVER="+url)
	dir := t.TempDir()
	writeFiles(t, dir, map[string][]byte{"evil.py": []byte(`import os
os.symlink('/etc/passwd', 'passwd')
os.mkfifo('pipe')
open('fine.txt', 'w').write('ok\n')
`)})
	r := rgridIn(t, dir, env, nil, "run", "evil.py")
	if r.code != 0 {
		t.Fatalf("evil.py: %d %s", r.code, r.stderr)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "fine.txt")); err != nil || string(b) != "ok\n" {
		t.Errorf("fine.txt: %q %v", b, err)
	}
	if fi, err := os.Lstat(filepath.Join(dir, "passwd")); err == nil && fi.Mode().IsRegular() {
		t.Errorf("a link to /etc/passwd came back as a file")
	}
	if _, err := os.Lstat(filepath.Join(dir, "pipe")); err == nil {
		t.Errorf("the FIFO came back")
	}

	writeFiles(t, dir, map[string][]byte{"fill.py": []byte(`chunk = b'x' * (1 << 20)
n = 0
try:
    with open('big.bin', 'wb') as f:
        for i in range(3 << 10):  # 3 GiB
            f.write(chunk)
            n += len(chunk)
finally:
    print('wrote', n, flush=True)
`)})
	r = rgridIn(t, dir, env, nil, "run", "--disk", "2g", "fill.py")
	if r.code == 0 || !strings.Contains(r.stderr, "filled its working directory") || !strings.Contains(r.stderr, "--disk") {
		t.Fatalf("a 3 GiB write into a 2 GiB directory: exit %d\n%s", r.code, r.stderr)
	}
	l := rgrid(t, env, "list", "--json")
	var list client.JobList
	if err := json.Unmarshal([]byte(l.stdout), &list); err != nil || len(list.Jobs) == 0 {
		t.Fatalf("list: %v", err)
	}
	if j := list.Jobs[0]; j.Reason != "disk_full" {
		t.Errorf("job %s ended %s (%s), want reason disk_full", j.ID, j.State, j.Reason)
	}
	writeFiles(t, dir, map[string][]byte{"after.py": []byte("print('still fine')\n")})
	if r := rgridIn(t, dir, env, nil, "run", "--no-outputs", "after.py"); r.code != 0 || r.stdout != "still fine\n" {
		t.Errorf("the next job on that worker: %d %q %s", r.code, r.stdout, r.stderr)
	}
	var wrote int64
	if _, err := fmt.Sscanf(r.stdout, "wrote %d", &wrote); err != nil || wrote >= 2100<<20 || wrote < 1<<30 {
		t.Errorf("the job wrote %d bytes (%q): ENOSPC must stop it before 2.1 GiB", wrote, r.stdout)
	}
	if !strings.Contains(r.stderr, "No space left on device") {
		t.Errorf("the job's own write did not fail with ENOSPC:\n%s", r.stderr)
	}
}
