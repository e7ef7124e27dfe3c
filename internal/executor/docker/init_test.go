package docker_test

// Our init (package jobinit) as the containers' entrypoint: what it
// passes to the job exactly, what it does as PID 1, and the engine's init
// path where no static build is at hand.

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/rgrid/rgrid/internal/executor"
	"github.com/rgrid/rgrid/internal/executor/docker"
	"github.com/rgrid/rgrid/internal/testimages"
)

// pySpec is a Python job running script, staged alone.
func (b *testBundle) pySpec(t *testing.T, script string, tweak func(*executor.Spec)) executor.Spec {
	return b.helperSpec(t, script, func(s *executor.Spec) {
		s.Image, s.Command, s.FileName = testimages.Python(t), []string{"python3.11", "-u"}, "main.py"
		if tweak != nil {
			tweak(s)
		}
	})
}

func TestInitForwardsSignalAndReapsOrphans(t *testing.T) {
	b := setup(t)
	r := b.start(t, b.pySpec(t, `
import os, signal, sys, time
def term(sig, frame):
    print("got", sig, flush=True)
    sys.exit(3)
signal.signal(signal.SIGTERM, term)
# An orphan: the child's child outlives it and exits; PID 1 must reap it.
pid = os.fork()
if pid == 0:
    if os.fork() == 0:
        time.sleep(0.2)
        os._exit(0)
    os._exit(0)
os.waitpid(pid, 0)
def zombies():
    n = 0
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open("/proc/%s/stat" % p) as f:
                    n += f.read().rsplit(")", 1)[1].split()[0] == "Z"
            except OSError:
                pass
    return n
for _ in range(200):
    time.sleep(0.05)
    if zombies() == 0 and len([p for p in os.listdir("/proc") if p.isdigit()]) == 2:
        break
print("zombies", zombies(), "pid1", open("/proc/1/cmdline").read().split("\0")[0], flush=True)
print("ready", flush=True)
time.sleep(60)
`, nil))
	r.stdout.WaitFor(t, "ready\n")
	if !strings.Contains(r.stdout.String(), "zombies 0 pid1 /rgrid/bin/rgrid-init\n") {
		t.Errorf("want no zombie and our init as PID 1, got %q", r.stdout.String())
	}
	if _, err := dockerClient(t).ContainerKill(t.Context(), docker.ContainerID(r.h), client.ContainerKillOptions{Signal: "TERM"}); err != nil {
		t.Fatal(err)
	}
	got := r.wait(t)
	got.wantExit(t, 3)
	if !strings.HasSuffix(got.stdout, "got 15\n") {
		t.Errorf("stdout %q: the job did not get SIGTERM", got.stdout)
	}
	assertNoLeftovers(t, b)
}

func TestInitSignalExitCode(t *testing.T) {
	b := setup(t)
	// Killed by a signal of its own: 128+signal, as a shell reports it.
	b.start(t, b.pySpec(t, "import os, signal\nos.kill(os.getpid(), signal.SIGUSR1)\n", nil)).wait(t).wantExit(t, 128+10)
}

func TestInitExactArgvEnvAndDir(t *testing.T) {
	b := setup(t)
	img := testimages.Python(t)
	got := b.start(t, b.pySpec(t, `
import json, os, sys
print(json.dumps({"argv": sys.argv, "env": dict(os.environ), "cwd": os.getcwd()}))
`, func(s *executor.Spec) {
		s.Args = []string{"a b", "", "-x", "ü"}
		s.Env = map[string]string{"JOB_VAR": "v w", "PYTHONUNBUFFERED": "0"}
	})).wait(t)
	got.wantExit(t, 0)
	var seen struct {
		Argv []string
		Env  map[string]string
		Cwd  string
	}
	if err := json.Unmarshal([]byte(got.stdout), &seen); err != nil {
		t.Fatalf("%q: %v", got.stdout, err)
	}
	if want := []string{"/rgrid/input/main.py", "a b", "", "-x", "ü"}; !slices.Equal(seen.Argv, want) {
		t.Errorf("argv %q, want %q", seen.Argv, want)
	}
	if seen.Cwd != "/rgrid/work" {
		t.Errorf("cwd %q, want /rgrid/work", seen.Cwd)
	}
	inspect, err := dockerClient(t).ImageInspect(t.Context(), img)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, kv := range inspect.Config.Env {
		k, v, _ := strings.Cut(kv, "=")
		want[k] = v
	}
	maps.Copy(want, map[string]string{"HOME": "/rgrid/work", "TMPDIR": "/tmp", "LANG": "C.UTF-8",
		"PYTHONUNBUFFERED": "0", "JOB_VAR": "v w"})
	host := seen.Env["HOSTNAME"]
	delete(seen.Env, "HOSTNAME")
	if !maps.Equal(seen.Env, want) || len(host) != 12 {
		t.Errorf("environment %v (HOSTNAME %q), want exactly %v and the container's host name", seen.Env, host, want)
	}
}

func TestInitStdinFIFO(t *testing.T) {
	b := setup(t)
	in := append(bytes.Repeat([]byte("line\n"), 50_000), "no newline \xff"...)
	got := b.start(t, b.pySpec(t, `
import hashlib, sys
data = sys.stdin.buffer.read()
print(len(data), hashlib.sha256(data).hexdigest(), sys.stdin.buffer.read() == b"")
`, func(s *executor.Spec) { s.Stdin = bytes.NewReader(in) })).wait(t)
	got.wantExit(t, 0)
	if want := strconv.Itoa(len(in)) + " "; !strings.HasPrefix(got.stdout, want) || !strings.HasSuffix(got.stdout, " True\n") {
		t.Errorf("stdout %q, want the whole stdin (%d bytes) then EOF", got.stdout, len(in))
	}
	// No stdin: /dev/null, at EOF at once.
	got = b.start(t, b.pySpec(t, "import sys\nprint(repr(sys.stdin.read()))\n", nil)).wait(t)
	if got.stdout != "''\n" {
		t.Errorf("without stdin: %q", got.stdout)
	}
}

func TestInitExactBytesStreamsApart(t *testing.T) {
	b := setup(t)
	got := b.start(t, b.pySpec(t, `
import sys
for i in range(1000):
    sys.stdout.buffer.write(b"\xff\xfe\x00o%d\r\n" % i)
    sys.stderr.buffer.write(b"\x80e%d\n" % i)
sys.stdout.buffer.write(b"end \xc3")
sys.stderr.buffer.write(b"last")
`, nil)).wait(t)
	got.wantExit(t, 0)
	var wantOut, wantErr bytes.Buffer
	for i := range 1000 {
		wantOut.WriteString("\xff\xfe\x00o" + strconv.Itoa(i) + "\r\n")
		wantErr.WriteString("\x80e" + strconv.Itoa(i) + "\n")
	}
	wantOut.WriteString("end \xc3")
	wantErr.WriteString("last")
	if got.stdout != wantOut.String() || got.stderr != wantErr.String() {
		t.Errorf("stdout %d bytes, stderr %d bytes; want exactly %d and %d (first 80: %q / %q)",
			len(got.stdout), len(got.stderr), wantOut.Len(), wantErr.Len(), got.stdout[:min(80, len(got.stdout))], got.stderr[:min(80, len(got.stderr))])
	}
}

// syncWriter is a Writer safe for the executor's goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}

func TestInitSpoolBounded(t *testing.T) {
	t.Parallel()
	b := &testBundle{helper: testimages.Helper(t), workDir: t.TempDir(), worker: testID(t) + "-" + runToken}
	ex, err := docker.New(t.Context(), docker.Options{
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil)), WorkerID: b.worker, WorkDir: b.workDir,
		InitPath: testInit(t), LogMaxSize: 64 << 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ex.Close() })
	b.ex = ex
	began := time.Now()
	got := b.start(t, b.pySpec(t, `
import sys
sys.stdout.write("x" * (4 << 20))
sys.stdout.flush()
print("done", file=sys.stderr)
`, nil)).wait(t)
	got.wantExit(t, 0)
	// The job was never held back: it wrote all 4 MiB and finished.
	if got.stdout != strings.Repeat("x", 64<<10) || got.stderr != "done\n" {
		t.Errorf("stdout %d bytes, stderr %q; want the bound (65536) and done, after %v", len(got.stdout), got.stderr, time.Since(began))
	}
	assertNoLeftovers(t, b)
}

func TestCompatEngineInit(t *testing.T) {
	t.Parallel()
	b := &testBundle{helper: testimages.Helper(t), workDir: t.TempDir(), worker: testID(t) + "-" + runToken}
	logged := &syncWriter{w: new(bytes.Buffer)}
	ex, err := docker.New(t.Context(), docker.Options{
		Logger:   slog.New(slog.NewTextHandler(logged, nil)),
		WorkerID: b.worker, WorkDir: b.workDir,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ex.Close() })
	b.ex = ex
	if s := logged.String(); strings.Count(s, "engine's init") != 1 || !strings.Contains(s, "CGO_ENABLED=0") || !strings.Contains(s, "--init") {
		t.Errorf("want one line saying why and the fix, logged %q", s)
	}
	got := b.start(t, b.pySpec(t, "import sys\nprint(sys.stdin.read().upper(), open('/proc/1/cmdline').read().split('\\0')[0])\n",
		func(s *executor.Spec) { s.Stdin = strings.NewReader("abc") })).wait(t)
	got.wantExit(t, 0)
	if got.stdout != "ABC /sbin/docker-init\n" {
		t.Errorf("stdout %q, want the engine's init and the stdin", got.stdout)
	}
	b.runHelper(t, "echo-lines 2", nil).wantExit(t, 0)
	assertNoLeftovers(t, b)
}

func TestInitPathRefused(t *testing.T) {
	t.Parallel()
	_, err := docker.New(t.Context(), docker.Options{WorkDir: t.TempDir(), InitPath: "/bin/sh"})
	if err == nil || !strings.Contains(err.Error(), "--init /bin/sh") || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
		t.Errorf("New with a dynamically linked init: %v, want an error naming it and the fix", err)
	}
}

// TestInitEndsLeftoversBeforeTheResult: a job that exits 0 and leaves a
// process behind writing into its working directory ends without the
// engine's record of the exit (the init's report), and only once that
// process is dead: what Collect sees no longer changes.
func TestInitEndsLeftoversBeforeTheResult(t *testing.T) {
	b := setup(t)
	spec := b.stagedSpec(t, `
import os, sys, time
if os.fork() == 0:
    os.setsid()
    fd = os.open("/dev/null", os.O_WRONLY)
    os.dup2(fd, 1); os.dup2(fd, 2)
    open("started", "w").close()
    while True:
        with open("tick", "a") as f:
            f.write("x")
        time.sleep(0.002)
while not os.path.exists("started"):
    time.sleep(0.001)
time.sleep(0.05)
print("done")
`)
	var before, after int64 = -1, -1
	spec.Collect = func(dir string) {
		size := func() int64 {
			st, err := os.Stat(filepath.Join(dir, "tick"))
			if err != nil {
				t.Errorf("tick: %v", err)
				return -1
			}
			return st.Size()
		}
		before = size()
		// Long enough for the leftover to write many times, were it alive.
		time.Sleep(100 * time.Millisecond)
		after = size()
	}
	got := b.start(t, spec).wait(t)
	got.wantExit(t, 0)
	if got.stdout != "done\n" {
		t.Errorf("stdout %q, want done", got.stdout)
	}
	if before <= 0 || after != before {
		t.Errorf("the leftover's file grew from %d to %d bytes during Collect: it was still running", before, after)
	}
}
