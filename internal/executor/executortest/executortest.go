// Package executortest is the conformance suite for executor.Executor:
// the behaviour a worker relies on, checked the same way against every
// implementation (process, docker) by running real Python scripts.
package executortest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rgrid/rgrid/internal/executor"
	"github.com/rgrid/rgrid/internal/executor/diskquota"
)

// Runtime is the Python runtime the suite's scripts run on, as the runtime
// table would give it.
type Runtime struct {
	Image   string
	Command []string
}

// Options adapt the suite to what can be observed of an executor from the
// test process.
type Options struct {
	// HostPIDs means pids a script prints are pids on this host, so the
	// suite can check that the script's children are gone afterwards.
	// False for executors with their own pid namespace (docker).
	HostPIDs bool
	// ScriptOutsideWorkDir means the script is staged in a directory of
	// its own (docker: read-only /rgrid/input) rather than in the working
	// directory, which then starts empty.
	ScriptOutsideWorkDir bool
}

// promptly bounds how long Wait may take after a run is killed or ends.
// Loose on purpose: it catches hangs (e.g. a child holding the output open),
// not slowness.
const promptly = 15 * time.Second

// Config is what the suite asks of each executor it makes.
type Config struct {
	// WorkDir is the root of the executor's run directories, fresh for
	// each executor.
	WorkDir string
	// DiskQuota is the executor's disk quota mode: diskquota.Required
	// where this machine can limit working directories, else
	// diskquota.Off, and the suite's disk tests skip (fail under CI=true).
	DiskQuota diskquota.Mode
}

// bundle is one subtest's executor and what it was made with.
type bundle struct {
	ex  executor.Executor
	cfg Config
}

// Run runs the suite. newExec is called once per subtest.
func Run(t *testing.T, newExec func(t *testing.T, cfg Config) executor.Executor, rt Runtime, opts Options) {
	quota, quotaErr := quotaMode(t)
	setupBundle := func(t *testing.T) bundle {
		t.Helper()
		t.Parallel()
		cfg := Config{WorkDir: t.TempDir(), DiskQuota: quota}
		return bundle{ex: newExec(t, cfg), cfg: cfg}
	}
	setup := func(t *testing.T) executor.Executor {
		t.Helper()
		return setupBundle(t).ex
	}
	// setupDisk is setupBundle for a test of the disk quota.
	setupDisk := func(t *testing.T) bundle {
		t.Helper()
		if quotaErr != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("disk quotas are required in CI: %v", quotaErr)
			}
			t.Skipf("this machine cannot limit working directories: %v", quotaErr)
		}
		return setupBundle(t)
	}
	runWorkDir(t, setupBundle, rt)
	runDisk(t, setupDisk, rt)
	runStartTimes(t, setup, rt)

	t.Run("StdoutAndStderrSeparateAndComplete", func(t *testing.T) {
		ex := setup(t)
		got := run(t, ex, rt, `
import sys
for i in range(1000):
    print("out", i)
    print("err", i, file=sys.stderr)
`, nil)
		got.wantExit(t, 0)
		var wantOut, wantErr strings.Builder
		for i := range 1000 {
			fmt.Fprintf(&wantOut, "out %d\n", i)
			fmt.Fprintf(&wantErr, "err %d\n", i)
		}
		if got.stdout != wantOut.String() {
			t.Errorf("stdout: got %d bytes, want %d; got starts %.200q", len(got.stdout), wantOut.Len(), got.stdout)
		}
		if got.stderr != wantErr.String() {
			t.Errorf("stderr: got %d bytes, want %d; got starts %.200q", len(got.stderr), wantErr.Len(), got.stderr)
		}
	})

	t.Run("OutputWithoutTrailingNewline", func(t *testing.T) {
		ex := setup(t)
		got := run(t, ex, rt, `
import sys
sys.stdout.write("no newline")
sys.stderr.write("none here either")
`, nil)
		got.wantExit(t, 0)
		if got.stdout != "no newline" || got.stderr != "none here either" {
			t.Errorf("got %s", got)
		}
	})

	t.Run("ExitCode", func(t *testing.T) {
		ex := setup(t)
		run(t, ex, rt, "import sys\nsys.exit(3)\n", nil).wantExit(t, 3)
	})

	t.Run("Args", func(t *testing.T) {
		ex := setup(t)
		// Spaces, quotes and $ must arrive untouched: no shell in between.
		args := []string{"plain", "with space", `"quoted"`, "$HOME", "--flag=x", "ünï"}
		got := run(t, ex, rt, `
import sys
for a in sys.argv[1:]:
    print(a)
`, func(s *executor.Spec) { s.Args = args })
		got.wantExit(t, 0)
		if want := strings.Join(args, "\n") + "\n"; got.stdout != want {
			t.Errorf("got %q, want %q", got.stdout, want)
		}
	})

	t.Run("Env", func(t *testing.T) {
		ex := setup(t)
		got := run(t, ex, rt, `
import os
print(os.environ.get("RGRID_TEST_VALUE"))
`, func(s *executor.Spec) { s.Env = map[string]string{"RGRID_TEST_VALUE": "a b=c"} })
		got.wantExit(t, 0)
		if got.stdout != "a b=c\n" {
			t.Errorf("got %s", got)
		}
	})

	t.Run("WorkingDirectoryHoldsScript", func(t *testing.T) {
		ex := setup(t)
		got := run(t, ex, rt, `
import os, sys
print(os.path.basename(sys.argv[0]), os.path.isfile(sys.argv[0]))
print("\n".join(sorted(os.listdir("."))))
open("written-by-job", "w").write("x")  # the working directory is writable
`, func(s *executor.Spec) { s.FileName = "job_script.py" })
		got.wantExit(t, 0)
		first, rest, _ := strings.Cut(got.stdout, "\n")
		if first != "job_script.py True" {
			t.Errorf("script not run under its own name; got %s", got)
		}
		if !opts.ScriptOutsideWorkDir && !slices.Contains(strings.Split(rest, "\n"), "job_script.py") {
			t.Errorf("script not in working directory; got %s", got)
		}
	})

	t.Run("ScriptBytesPassThrough", func(t *testing.T) {
		ex := setup(t)
		// Python itself refuses non-UTF-8 source without a coding line; with
		// one, the bytes must reach it exactly, and raw output must come back
		// exactly.
		script := []byte("# -*- coding: latin-1 -*-\n# caf\xe9 \xff\xfe\n" + `
import hashlib, sys
with open(__file__, "rb") as f:
    sys.stdout.buffer.write(hashlib.sha256(f.read()).hexdigest().encode() + b"\n")
sys.stdout.buffer.write(b"\xff\xfe\x00end")
`)
		got := run(t, ex, rt, "", func(s *executor.Spec) { s.Script = script })
		got.wantExit(t, 0)
		want := fmt.Sprintf("%x\n\xff\xfe\x00end", sha256.Sum256(script))
		if got.stdout != want {
			t.Errorf("got %q, want %q; stderr %s", got.stdout, want, got.stderr)
		}
	})

	t.Run("Timeout", func(t *testing.T) {
		ex := setup(t)
		got := run(t, ex, rt, "import time\ntime.sleep(30)\n", func(s *executor.Spec) {
			s.Limits.Timeout = time.Second
		})
		if got.res.Outcome != executor.TimedOut {
			t.Fatalf("want timed out, got %s", got)
		}
		if want := "killed after 1 s (the job's time limit)"; got.res.Message != want {
			t.Errorf("message %q, want %q", got.res.Message, want)
		}
		if got.res.Duration < time.Second || got.elapsed > promptly {
			t.Errorf("duration %v, Wait after %v; want >= 1 s and < %v", got.res.Duration, got.elapsed, promptly)
		}
	})

	t.Run("TimeoutKillsChildren", func(t *testing.T) {
		ex := setup(t)
		got := run(t, ex, rt, `
import subprocess, time
child = subprocess.Popen(["sleep", "300"])
print(child.pid, flush=True)
time.sleep(30)
`, func(s *executor.Spec) { s.Limits.Timeout = time.Second })
		if got.res.Outcome != executor.TimedOut {
			t.Fatalf("want timed out, got %s", got)
		}
		// The child holds the output open: a prompt Wait means it is gone.
		if got.elapsed > promptly {
			t.Errorf("Wait returned after %v", got.elapsed)
		}
		if opts.HostPIDs {
			awaitPidGone(t, firstInt(t, got.stdout))
		}
	})

	t.Run("BackgroundChildDoesNotHoldWait", func(t *testing.T) {
		ex := setup(t)
		got := run(t, ex, rt, `
import subprocess
child = subprocess.Popen(["sleep", "300"])
print(child.pid, flush=True)
`, nil)
		got.wantExit(t, 0)
		if got.elapsed > promptly {
			t.Errorf("Wait returned after %v", got.elapsed)
		}
		if opts.HostPIDs {
			awaitPidGone(t, firstInt(t, got.stdout))
		}
	})

	t.Run("Kill", func(t *testing.T) {
		ex := setup(t)
		r := start(t, ex, newSpec(t, rt, "import time\nprint('ready', flush=True)\ntime.sleep(30)\n", nil))
		r.stdout.WaitFor(t, "ready")
		if err := r.h.Kill(t.Context()); err != nil {
			t.Fatalf("Kill: %v", err)
		}
		got := r.wait(t)
		if got.res.Outcome != executor.Killed {
			t.Fatalf("want killed, got %s", got)
		}
		if got.elapsed > promptly {
			t.Errorf("Wait returned after %v", got.elapsed)
		}
		if err := r.h.Kill(t.Context()); err != nil {
			t.Errorf("second Kill: %v", err)
		}
	})

	t.Run("KillAfterEndDoesNothing", func(t *testing.T) {
		ex := setup(t)
		r := start(t, ex, newSpec(t, rt, "import sys\nsys.exit(5)\n", nil))
		r.wait(t).wantExit(t, 5)
		ctx, cancel := context.WithTimeout(t.Context(), promptly)
		defer cancel()
		if err := r.h.Kill(ctx); err != nil {
			t.Fatalf("Kill after end: %v", err)
		}
	})

	t.Run("MemoryLimit", func(t *testing.T) {
		ex := setup(t)
		const limit = 256 << 20
		got := run(t, ex, rt, fmt.Sprintf(`
data = b"x" * %d  # written, so it is resident, not just reserved
print("allocated", len(data))
`, 4*limit), func(s *executor.Spec) { s.Limits.MemoryBytes = limit })
		exitedNonZero := got.res.Outcome == executor.Exited && got.res.ExitCode != 0
		if !exitedNonZero && got.res.Outcome != executor.OOMKilled {
			t.Errorf("want a non-zero exit or OOM kill, got %s", got)
		}
		if strings.Contains(got.stdout, "allocated") {
			t.Errorf("allocation succeeded: %s", got)
		}
	})
}
