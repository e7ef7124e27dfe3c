package e2e

// Logs end to end, on a server on PostgreSQL and a Docker worker: a
// million lines kept exactly and apart by stream, a follower that is cut
// off twice and still sees every line once, a job that prints without end
// against the log limit, and the failure summaries and hints of scripts
// that fail in the ways users meet most.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rgrid/rgrid/client"
)

// millionPy prints 1,000,000 numbered lines to stdout and 1,000 to stderr
// (one after each thousandth stdout line), in 200 bursts a few
// milliseconds apart, so that the job runs for some seconds.
const millionPy = `import sys, time
out, err = sys.stdout, sys.stderr
for b in range(200):
    out.write("".join("out %d\n" % i for i in range(b * 5000, (b + 1) * 5000)))
    out.flush()
    err.write("".join("err %d\n" % i for i in range(b * 5, (b + 1) * 5)))
    err.flush()
    time.sleep(0.02)
`

func millionWant() (stdout, stderr string) {
	var o, e strings.Builder
	for i := range 1_000_000 {
		fmt.Fprintf(&o, "out %d\n", i)
	}
	for i := range 1000 {
		fmt.Fprintf(&e, "err %d\n", i)
	}
	return o.String(), e.String()
}

// syncBuffer is a bytes.Buffer safe to read while a process writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Len()
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLogsMillionLinesAndCutFollower(t *testing.T) {
	t.Parallel()
	g := dockerGrid(t, 1)
	wantOut, wantErr := millionWant()
	script := writeScript(t, "million.py", millionPy)
	r := g.rgrid(t, "run", "--detach", "--log-limit", "64m", script)
	if r.code != 0 {
		t.Fatalf("submit: %d %q", r.code, r.stderr)
	}
	id := strings.TrimSpace(r.stdout)

	// The follower talks to the server through a proxy that the test cuts
	// twice while the job prints.
	p := newProxy(t, strings.TrimPrefix(g.url, "http://"))
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, rgridBin, "logs", "-f", id)
	cmd.Env = append(g.env, "RGRID_SERVER="+p.url())
	var out, errb syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for cut, at := range []int{len(wantOut) / 10, len(wantOut) / 3} {
		waitFor(t, time.Minute, fmt.Sprintf("the follower to have %d bytes", at), func() bool { return out.Len() >= at })
		if j := g.job(t, id); j.State.Terminal() {
			t.Fatalf("the job ended (%s) before cut %d: the test proves nothing", j.State, cut+1)
		}
		p.set(proxyRefused)
		time.Sleep(300 * time.Millisecond)
		p.set(proxyUp)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("rgrid logs -f: %v\n%s", err, errb.String())
	}
	if n := p.connections(); n < 3 {
		t.Errorf("the follower connected %d times, want at least 3 (one per cut more)", n)
	}
	if got := out.String(); got != wantOut {
		t.Errorf("followed stdout: %s", diffLines(got, wantOut))
	}
	var followedErr strings.Builder
	for _, l := range strings.SplitAfter(errb.String(), "\n") {
		switch {
		case strings.HasPrefix(l, "err "):
			followedErr.WriteString(l)
		case l != "" && !strings.HasPrefix(l, "rgrid:"):
			t.Errorf("unexpected stderr line from the follower: %q", l)
		}
	}
	if got := followedErr.String(); got != wantErr {
		t.Errorf("followed stderr: %s", diffLines(got, wantErr))
	}

	// After the end, each stream alone, exactly.
	j := g.job(t, id)
	if j.State != client.StateSucceeded || j.LogsTruncated {
		t.Fatalf("job %s, truncated %v", j.State, j.LogsTruncated)
	}
	if r := g.rgrid(t, "logs", "--stdout-only", id); r.code != 0 || r.stdout != wantOut || r.stderr != "" {
		t.Errorf("logs --stdout-only: exit %d, %s, stderr %q", r.code, diffLines(r.stdout, wantOut), r.stderr)
	}
	if r := g.rgrid(t, "logs", "--stderr-only", id); r.code != 0 || r.stderr != wantErr || r.stdout != "" {
		t.Errorf("logs --stderr-only: exit %d, %s, stdout %d bytes", r.code, diffLines(r.stderr, wantErr), len(r.stdout))
	}
}

// diffLines says where got first differs from want, line by line.
func diffLines(got, want string) string {
	if got == want {
		return "equal"
	}
	g, w := strings.SplitAfter(got, "\n"), strings.SplitAfter(want, "\n")
	for i := range min(len(g), len(w)) {
		if g[i] != w[i] {
			return fmt.Sprintf("%d lines, want %d; line %d is %q, want %q", len(g)-1, len(w)-1, i+1, g[i], w[i])
		}
	}
	return fmt.Sprintf("%d lines, want %d (one is a prefix of the other)", len(g)-1, len(w)-1)
}

// TestLogsCapOnEndlessOutput: "yes" for 30 s fills the 10 MiB log limit in
// a moment; storing stops there and says so, the job goes on to its normal
// end, and the worker's memory stays small all along.
func TestLogsCapOnEndlessOutput(t *testing.T) {
	t.Parallel()
	g, w := dockerGridWorker(t, 1)
	script := writeScript(t, "endless.py", `import subprocess, sys
subprocess.run(["timeout", "30", "yes"])
print("the end", flush=True)
`)
	r := g.rgrid(t, "run", "--timeout", "120s", script)
	if r.code != 0 {
		t.Fatalf("exit %d, want 0 (the job goes on past the limit); stderr %q", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "only the first 10 MiB of the output was kept") {
		t.Errorf("rgrid run does not say the output was cut:\n%s", r.stderr)
	}
	id := jobIDByFile(t, g, "endless.py")
	s := g.rgrid(t, "status", id)
	if !strings.Contains(s.stdout, "truncated: only the first 10 MiB was kept") || !strings.Contains(s.stdout, "succeeded") {
		t.Errorf("status does not say the output was truncated:\n%s", s.stdout)
	}
	out := g.rgrid(t, "logs", "--stdout-only", id).stdout
	if len(out) > 10<<20 || len(out) < 10<<20-64<<10 || strings.Trim(out, "y\n") != "" || strings.Contains(out, "the end") {
		t.Errorf("stored stdout is %d bytes (want just under 10 MiB of y lines, without the end)", len(out))
	}
	all := g.rgrid(t, "logs", id).stderr
	if !strings.Contains(all, "rgrid: output truncated after 10 MiB (the job's log limit); the job goes on") {
		t.Errorf("the log does not say where it was cut:\n%s", all)
	}
	peak := vmHWM(t, w.cmd.Process.Pid)
	t.Logf("worker peak resident memory: %d MiB", peak>>20)
	if peak >= 100<<20 {
		t.Errorf("worker peak resident memory %d MiB, want under 100 MiB", peak>>20)
	}
}

// vmHWM is a process's peak resident memory, from /proc.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// TestFailureSummariesAndHints: real scripts that fail the common ways,
// each summarised in rgrid run and rgrid status with the hint that fixes
// it. (Out of memory, timeout and a missing image are checked with the
// Docker limits in TestDockerLimitsAndOutcomes.)
func TestFailureSummariesAndHints(t *testing.T) {
	t.Parallel()
	g := dockerGrid(t, 2)
	for _, tc := range []struct {
		file, script string
		code         int
		summary      string
		hint         string
	}{
		{"analysis.py", "import sys\n\ndef ratio(a, b):\n    return a / b\n\ndef main():\n    print('start', flush=True)\n    values = [3, 0]\n    return ratio(*values)\n\n\n\nmain()\n",
			1, "analysis.py failed: ZeroDivisionError: division by zero at analysis.py line 4", ""},
		{"needs.py", "import json\nimport requests\n", 1,
			"needs.py failed: ModuleNotFoundError: No module named 'requests' at needs.py line 2",
			"add requests to a requirements.txt beside the script"},
		{"exits.py", "import sys\nprint('bye')\nsys.exit(3)\n", 3, "", ""},
	} {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			r := g.rgrid(t, "run", writeScript(t, tc.file, tc.script))
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %q", r.code, tc.code, r.stderr)
			}
			var errLines string
			for l := range strings.Lines(r.stderr) {
				if strings.HasPrefix(l, "Error: ") {
					errLines += l
				}
			}
			if tc.summary == "" {
				if errLines != "" {
					t.Errorf("a plain exit printed %q", errLines)
				}
				return
			}
			if errLines != "Error: "+tc.summary+"\n" {
				t.Errorf("rgrid run printed %q, want %q", errLines, "Error: "+tc.summary)
			}
			if tc.hint != "" && !strings.Contains(r.stderr, "Hint: "+tc.hint) {
				t.Errorf("rgrid run's hint lacks %q:\n%s", tc.hint, r.stderr)
			}
			s := g.rgrid(t, "status", jobIDByFile(t, g, tc.file))
			_, summary, _ := strings.Cut(tc.summary, "failed: ")
			for _, want := range []string{"failed (exit code 1)", summary, tc.hint} {
				if !strings.Contains(s.stdout, want) {
					t.Errorf("status lacks %q:\n%s", want, s.stdout)
				}
			}
		})
	}
}

func (g *grid) job(t *testing.T, id string) client.Job {
	t.Helper()
	return getJob(t, g.c, id)
}

// TestInterruptDetachesOrCancels: Ctrl-C on rgrid run detaches from a job
// on a server (which goes on, and rgrid says how to follow or cancel it);
// with --cancel-on-interrupt it cancels the job.
func TestInterruptDetachesOrCancels(t *testing.T) {
	t.Parallel()
	g := newGrid(t, 1, 2)
	script := writeScript(t, "slow.sh", "echo started\nsleep 30\necho done\n")
	interrupt := func(t *testing.T, args ...string) (result, string) {
		t.Helper()
		r := interruptRun(t, "", append(g.env, "RGRID_SERVER="+g.url), func(out string) bool { return strings.Contains(out, "started") }, args...)
		jobs, lerr := g.c.Jobs(t.Context(), client.ListOptions{Limit: 1})
		if lerr != nil || len(jobs.Jobs) != 1 {
			t.Fatalf("list: %v", lerr)
		}
		return r, jobs.Jobs[0].ID
	}

	r, id := interrupt(t, script)
	if r.code != 130 {
		t.Errorf("exit %d after Ctrl-C, want 130", r.code)
	}
	for _, want := range []string{"detached; job " + id + " keeps running", "rgrid logs -f " + id, "rgrid cancel " + id} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if j := g.job(t, id); j.State != client.StateRunning {
		t.Errorf("the detached job is %s, want running", j.State)
	}
	if c := g.rgrid(t, "cancel", id); c.code != 0 {
		t.Errorf("cancel: %d %s", c.code, c.stderr)
	}

	r, id = interrupt(t, "--cancel-on-interrupt", script)
	if r.code != 130 || !strings.Contains(r.stderr, "canceled job "+id) {
		t.Errorf("exit %d, stderr %q; want 130 and the job canceled", r.code, r.stderr)
	}
	waitFor(t, 30*time.Second, "the job canceled", func() bool { return g.job(t, id).State == client.StateCanceled })
}
