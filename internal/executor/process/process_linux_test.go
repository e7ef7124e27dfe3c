package process_test

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rgrid/rgrid/internal/executor"
	"github.com/rgrid/rgrid/internal/executor/executortest"
	"github.com/rgrid/rgrid/internal/executor/process"
)

// python is the interpreter the tests run. The real binary is preferred:
// on developer machines "python3" is often a pyenv shim costing ~100 ms a
// start, which the suite pays dozens of times.
func python() string {
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	return "python3"
}

func newExecutor(t *testing.T) *process.Executor {
	return newExecutorWith(t, process.Options{
		WorkDir: t.TempDir(),
		Logger:  slog.New(slog.NewTextHandler(testWriter{t}, nil)),
	})
}

func newExecutorWith(t *testing.T, opts process.Options) *process.Executor {
	t.Helper()
	ex, err := process.New(opts)
	if err != nil {
		t.Fatalf("New on Linux: %v", err)
	}
	return ex
}

func TestConformance(t *testing.T) {
	t.Parallel()
	executortest.Run(t,
		func(t *testing.T, cfg executortest.Config) executor.Executor {
			return newExecutorWith(t, process.Options{
				WorkDir:   cfg.WorkDir,
				Logger:    slog.New(slog.NewTextHandler(testWriter{t}, nil)),
				DiskQuota: cfg.DiskQuota,
			})
		},
		executortest.Runtime{Command: []string{python()}},
		executortest.Options{HostPIDs: true},
	)
}

func spec(script string) executor.Spec {
	return executor.Spec{
		JobID:    "job",
		Command:  []string{python()},
		FileName: "main.py",
		Script:   []byte(script),
		Limits:   executor.Limits{MemoryBytes: 512 << 20, Timeout: time.Minute},
	}
}

func TestBadFileNameRefused(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", ".", "..", "../x.py", "a/b.py", "/etc/passwd", `a\b.py`, "a\x00.py"} {
		s := spec("print(1)")
		s.FileName = name
		h, err := newExecutor(t).Start(t.Context(), s)
		if err == nil {
			_ = h.Kill(t.Context())
			t.Errorf("Start with file name %q: want error", name)
		}
	}
}

func TestMissingInterpreterUnavailable(t *testing.T) {
	t.Parallel()
	s := spec("print(1)")
	s.Command = []string{"rgrid-no-such-python"}
	_, err := newExecutor(t).Start(t.Context(), s)
	if !errors.Is(err, executor.ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
	for _, want := range []string{`"rgrid-no-such-python"`, "install", "Docker"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestVersionedPythonFallsBack(t *testing.T) {
	t.Parallel()
	s := spec("print('ran')")
	s.Command = []string{"python3.999"}
	var out bytes.Buffer
	s.Stdout = &out
	h, err := newExecutor(t).Start(t.Context(), s)
	if err != nil {
		t.Skipf("no python3 on PATH: %v", err)
	}
	res, err := h.Wait(t.Context())
	if err != nil || res.Outcome != executor.Exited || res.ExitCode != 0 || out.String() != "ran\n" {
		t.Fatalf("got %+v, %v, output %q", res, err, out.String())
	}
}

// Not parallel: t.Setenv changes the whole test process's environment.
func TestWorkerEnvironmentNotVisible(t *testing.T) {
	t.Setenv("RGRID_SECRET", "x")
	s := spec(`
import os
print(sorted(os.environ))
print(os.environ.get("RGRID_SECRET", "absent"))
print(os.environ["HOME"] == os.getcwd())
`)
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
	lines := strings.Split(out.String(), "\n")
	if lines[1] != "absent" || lines[2] != "True" {
		t.Errorf("worker environment leaked or HOME not the run directory: %q", out.String())
	}
}

func TestRunDirectoryRemoved(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	h, err := newExecutorWith(t, process.Options{WorkDir: root}).Start(t.Context(), spec("open('left.txt', 'w').write('x')"))
	if err != nil {
		t.Fatal(err)
	}
	if res, err := h.Wait(t.Context()); err != nil || res.ExitCode != 0 {
		t.Fatalf("got %+v, %v", res, err)
	}
	entries, err := os.ReadDir(root)
	if err != nil || len(entries) != 0 {
		t.Errorf("run directory left behind: %v %v", entries, err)
	}
}

// testWriter sends the executor's log to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func TestRequirementsAreRefused(t *testing.T) {
	t.Parallel()
	ex := newExecutorWith(t, process.Options{})
	_, err := ex.Start(t.Context(), executor.Spec{
		FileName: "x.py", Command: []string{"python3"}, Script: []byte("print(1)"),
		Requirements: []string{"numpy==1.26.4"},
		Stdout:       io.Discard, Stderr: io.Discard,
	})
	var de *executor.DependencyError
	if !errors.As(err, &de) || !errors.Is(err, executor.ErrDependencyInstall) || !strings.Contains(de.Hint, "Docker") {
		t.Fatalf("err = %v", err)
	}
}
