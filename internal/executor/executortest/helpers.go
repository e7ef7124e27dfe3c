package executortest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rgrid/rgrid/internal/executor"
)

// waitBound is how long any single run in the suite may take before the
// suite calls it hung. Generous: it guards against hangs, it is not timing.
const waitBound = 60 * time.Second

// defaultLimits are the worker's defaults from DESIGN.md, with a shorter
// timeout so that a hung run fails the test rather than the CI job.
var defaultLimits = executor.Limits{
	MemoryBytes: 512 << 20,
	CPUs:        1,
	Pids:        256,
	Timeout:     waitBound / 2,
}

// outcome is what a finished run left behind.
type outcome struct {
	res            executor.Result
	stdout, stderr string
	elapsed        time.Duration // Start to Wait's return, as a caller sees it
}

// running is a started run whose output can be awaited while it runs.
type running struct {
	h              executor.Handle
	stdout, stderr *Buffer
	began          time.Time
}

var unsafeChars = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

// newSpec returns a spec for script with the suite's defaults; tweak
// applies a test's changes.
func newSpec(t *testing.T, rt Runtime, script string, tweak func(*executor.Spec)) executor.Spec {
	spec := executor.Spec{
		JobID:    "executortest-" + strings.ToLower(unsafeChars.ReplaceAllString(t.Name(), "-")),
		Attempt:  1,
		WorkerID: "executortest",
		Image:    rt.Image,
		Command:  rt.Command,
		FileName: "main.py",
		Script:   []byte(script),
		Limits:   defaultLimits,
	}
	if tweak != nil {
		tweak(&spec)
	}
	return spec
}

func start(t *testing.T, ex executor.Executor, spec executor.Spec) *running {
	t.Helper()
	r := &running{stdout: NewBuffer(), stderr: NewBuffer(), began: time.Now()}
	spec.Stdout, spec.Stderr = r.stdout, r.stderr
	h, err := ex.Start(t.Context(), spec)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	r.h = h
	t.Cleanup(func() {
		// A failed test must not leave its run behind.
		ctx, cancel := context.WithTimeout(context.Background(), waitBound)
		defer cancel()
		_ = h.Kill(ctx)
	})
	return r
}

func (r *running) wait(t *testing.T) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitBound)
	defer cancel()
	res, err := r.h.Wait(ctx)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return outcome{res: res, stdout: r.stdout.String(), stderr: r.stderr.String(), elapsed: time.Since(r.began)}
}

// run starts script and waits for it.
func run(t *testing.T, ex executor.Executor, rt Runtime, script string, tweak func(*executor.Spec)) outcome {
	t.Helper()
	return start(t, ex, newSpec(t, rt, script, tweak)).wait(t)
}

func (o outcome) String() string {
	return fmt.Sprintf("result %+v\nstdout:\n%s\nstderr:\n%s", o.res, o.stdout, o.stderr)
}

// wantExit fails the test unless the run exited by itself with code.
func (o outcome) wantExit(t *testing.T, code int) {
	t.Helper()
	if o.res.Outcome != executor.Exited || o.res.ExitCode != code {
		t.Fatalf("want exited with code %d, got %s", code, o)
	}
}

// Buffer collects output that a test reads while the run writes it. Other
// executor tests use it too.
type Buffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced on every write
}

// NewBuffer returns an empty Buffer.
func NewBuffer() *Buffer { return &Buffer{changed: make(chan struct{})} }

// Write implements io.Writer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.changed != nil {
		close(b.changed)
	}
	b.changed = make(chan struct{})
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// WaitFor blocks until the output contains s, failing the test after a
// bound.
func (b *Buffer) WaitFor(t *testing.T, s string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitBound)
	defer cancel()
	for {
		b.mu.Lock()
		if b.changed == nil {
			b.changed = make(chan struct{}) // the zero Buffer is usable too
		}
		found, changed := strings.Contains(b.buf.String(), s), b.changed
		b.mu.Unlock()
		if found {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("output never contained %q; got %q", s, b.String())
		}
	}
}

// firstInt parses the first line of out, where scripts print a pid.
func firstInt(t *testing.T, out string) int {
	t.Helper()
	line, _, _ := strings.Cut(out, "\n")
	n, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("want a pid on the first line of output, got %q", out)
	}
	return n
}

// awaitPidGone waits until pid no longer runs on this host. A zombie
// counts as gone: it runs nothing, and who reaps it (often PID 1 in a
// container) is not the executor's business.
func awaitPidGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return
		}
		// The state follows the parenthesised command name.
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 && len(stat) > i+2 && stat[i+2] == 'Z' {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d still running after the run ended: %s", pid, stat)
		}
		<-tick.C
	}
}
