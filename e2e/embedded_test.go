package e2e

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rgrid/rgrid/client"
)

// The README's first command: a fresh machine, no server, no config.
func TestEmbeddedRunsHello(t *testing.T) {
	t.Parallel()
	env := isolatedEnv(t)
	r := rgrid(t, env, "run", "../examples/hello.py")
	if r.code != 0 {
		t.Fatalf("exit code %d, stderr:\n%s", r.code, r.stderr)
	}
	if !strings.HasPrefix(r.stdout, "Hello from RGrid!") {
		t.Errorf("stdout = %q, want the greeting", r.stdout)
	}
	if !strings.Contains(r.stderr, "without isolation") {
		t.Errorf("stderr lacks the one-line notice about running without isolation:\n%s", r.stderr)
	}
	// The job is kept in the local database: status and list find it.
	l := rgrid(t, env, "list", "--json")
	var list client.JobList
	if err := json.Unmarshal([]byte(l.stdout), &list); err != nil || len(list.Jobs) != 1 {
		t.Fatalf("list: %v %q", err, l.stdout)
	}
	if j := list.Jobs[0]; j.State != client.StateSucceeded || j.FileName != "hello.py" || j.Runtime != "python3.11" {
		t.Errorf("job = %+v", j)
	}
}

func TestEmbeddedExitCodeAndSeparateStreams(t *testing.T) {
	t.Parallel()
	script := writeScript(t, "fail.py", `import sys
print("to stdout", flush=True)
print("to stderr", file=sys.stderr, flush=True)
print("args:", sys.argv[1:])
sys.exit(3)
`)
	r := rgrid(t, isolatedEnv(t), "run", script, "a b", "--flag")
	if r.code != 3 {
		t.Fatalf("exit code %d, want 3; stderr:\n%s", r.code, r.stderr)
	}
	if want := "to stdout\nargs: ['a b', '--flag']\n"; r.stdout != want {
		t.Errorf("stdout = %q, want %q", r.stdout, want)
	}
	if !strings.Contains(r.stderr, "to stderr\n") {
		t.Errorf("stderr = %q, want the script's stderr", r.stderr)
	}
}

func TestRunMissingFileSubmitsNothing(t *testing.T) {
	t.Parallel()
	env := isolatedEnv(t)
	r := rgrid(t, env, "run", "nonexistent.py")
	if r.code != 2 {
		t.Fatalf("exit code %d for a missing file, want 2", r.code)
	}
	if !strings.HasPrefix(r.stderr, "Error: file not found: nonexistent.py\nHint: check the path") {
		t.Errorf("stderr = %q", r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("stdout = %q, want nothing", r.stdout)
	}
	// Nothing was submitted; not even the local database was created.
	if _, err := os.Stat(filepath.Join(envValue(env, "RGRID_DATA_DIR"), "rgrid.db")); err == nil {
		l := rgrid(t, env, "list", "--json")
		if strings.Contains(l.stdout, "job_") {
			t.Errorf("a job was stored: %s", l.stdout)
		}
	}
}

func TestRunUnknownRuntimeListsAvailable(t *testing.T) {
	t.Parallel()
	script := writeScript(t, "x.py", "print(1)\n")
	r := rgrid(t, isolatedEnv(t), "run", "--runtime", "cobol", script)
	if r.code != 2 {
		t.Fatalf("exit code %d for an unknown runtime, want 2", r.code)
	}
	for _, want := range []string{`Error: unknown runtime "cobol"`, "python3.11", "node20", "bash"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}

func TestDetachWithoutDevServerExplains(t *testing.T) {
	t.Parallel()
	script := writeScript(t, "x.py", "print(1)\n")
	r := rgrid(t, isolatedEnv(t), "run", "--detach", script)
	if r.code != 2 || !strings.Contains(r.stderr, "rgrid dev") {
		t.Fatalf("code %d, stderr %q: want a refusal naming rgrid dev", r.code, r.stderr)
	}
}

// rgrid dev keeps a server running: --detach, status and logs work across
// commands.
func TestDevServerAcrossCommands(t *testing.T) {
	t.Parallel()
	env := isolatedEnv(t)
	startDev(t, env)
	script := writeScript(t, "two.py", `import sys
print("out line")
print("err line", file=sys.stderr)
`)
	r := rgrid(t, env, "run", "--detach", script)
	if r.code != 0 {
		t.Fatalf("detach: %d %s", r.code, r.stderr)
	}
	id := strings.TrimSpace(r.stdout)
	if !strings.HasPrefix(id, "job_") {
		t.Fatalf("detach printed %q, want a job id", r.stdout)
	}
	f := rgrid(t, env, "logs", "-f", id)
	if f.stdout != "out line\n" || !strings.HasSuffix(f.stderr, "err line\n") {
		t.Errorf("logs -f: stdout %q stderr %q", f.stdout, f.stderr)
	}
	if o := rgrid(t, env, "logs", "--stderr-only", id); o.stdout != "" || o.stderr != "err line\n" {
		t.Errorf("logs --stderr-only: stdout %q stderr %q", o.stdout, o.stderr)
	}
	s := rgrid(t, env, "status", id)
	if !strings.Contains(s.stdout, "succeeded (exit code 0)") || !strings.Contains(s.stdout, "Attempts:") {
		t.Errorf("status:\n%s", s.stdout)
	}
}

func envValue(env []string, key string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v
		}
	}
	return ""
}

// A Python failure is summarised: the exception, the file and line that
// raised it, and for a missing module the fix.
func TestRunSummarisesTraceback(t *testing.T) {
	t.Parallel()
	script := writeScript(t, "nomod.py", "import rgrid_no_such_module\n")
	r := rgrid(t, isolatedEnv(t), "run", script)
	if r.code != 1 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	for _, want := range []string{
		"Error: nomod.py failed: ModuleNotFoundError: No module named 'rgrid_no_such_module' at nomod.py line 1",
		"Hint: add rgrid_no_such_module to a requirements.txt beside the script",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}

// TestEmbeddedHangupCancels: closing the terminal (SIGHUP) of an embedded
// rgrid run cancels its job and stops its process, as Ctrl-C does, instead
// of killing rgrid alone and leaving the job's process with nobody to stop
// it.
func TestEmbeddedHangupCancels(t *testing.T) {
	t.Parallel()
	env := isolatedEnv(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	script := writeScript(t, "hang.sh", "echo $$ > "+pidFile+"\necho started\nexec sleep 60\n")
	cmd := exec.Command(rgridBin, "run", script)
	cmd.Env = env
	var out, errb syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the job's first line", func() bool { return strings.Contains(out.String(), "started") })
	pid := readPID(t, pidFile)
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Errorf("after SIGHUP: %v, want exit 130; stderr:\n%s", err, errb.String())
	}
	waitFor(t, 10*time.Second, "the job's process gone", func() bool { return syscall.Kill(pid, 0) != nil })
	l := rgrid(t, env, "list", "--json")
	var list client.JobList
	if err := json.Unmarshal([]byte(l.stdout), &list); err != nil || len(list.Jobs) != 1 {
		t.Fatalf("list: %v %q", err, l.stdout)
	}
	if j := list.Jobs[0]; j.State != client.StateCanceled {
		t.Errorf("job %s is %s, want canceled", j.ID, j.State)
	}
}

// TestEmbeddedKilledJobIsNotRerun: an embedded rgrid run killed with -9
// leaves its job to the next embedded command's reaper, which ends it lost
// (its command is gone) instead of queueing it again, where that command's
// worker would run it before, or instead of, the user's own job.
func TestEmbeddedKilledJobIsNotRerun(t *testing.T) {
	t.Parallel()
	env := isolatedEnv(t)
	marks := t.TempDir()
	slow := writeScript(t, "slow.sh", "echo $$ > "+filepath.Join(marks, "pid")+"\necho run >> "+
		filepath.Join(marks, "runs")+"\necho started\nexec sleep 300\n")
	cmd := exec.Command(rgridBin, "run", slow)
	cmd.Env = env
	var out syncBuffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the job's first line", func() bool { return strings.Contains(out.String(), "started") })
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	// The script's process dies with the command that ran it.
	pid := readPID(t, filepath.Join(marks, "pid"))
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	waitFor(t, 10*time.Second, "the killed command's job process gone", func() bool { return syscall.Kill(pid, 0) != nil })
	// The next embedded command outlives its reaper's grace (one dead-after,
	// 15 s) and the dead worker's dead-after: the killed command's job ends
	// meanwhile.
	r := rgrid(t, env, "run", writeScript(t, "wait.sh", "sleep 40\necho waited\n"))
	if r.code != 0 || r.stdout != "waited\n" {
		t.Fatalf("second run: code %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
	}
	l := rgrid(t, env, "list", "--json")
	var list client.JobList
	if err := json.Unmarshal([]byte(l.stdout), &list); err != nil || len(list.Jobs) != 2 {
		t.Fatalf("list: %v %q", err, l.stdout)
	}
	if j := list.Jobs[1]; j.FileName != "slow.sh" || j.State != client.StateLost {
		t.Errorf("the killed command's job is %s %s, want slow.sh lost", j.FileName, j.State)
	}
	if b, _ := os.ReadFile(filepath.Join(marks, "runs")); string(b) != "run\n" {
		t.Errorf("the killed command's script ran %d times, want once", strings.Count(string(b), "run"))
	}
}

// TestEmbeddedWorkersDoNotPileUp: each embedded rgrid run registers a
// worker of its own; it leaves no registration behind when it ends, so the
// data directory's list of workers does not grow with every run.
func TestEmbeddedWorkersDoNotPileUp(t *testing.T) {
	t.Parallel()
	env := isolatedEnv(t)
	script := writeScript(t, "x.sh", "echo x\n")
	for range 3 {
		if r := rgrid(t, env, "run", script); r.code != 0 {
			t.Fatalf("run: %d %s", r.code, r.stderr)
		}
	}
	r := rgrid(t, env, "workers", "--json")
	var ws []client.Worker
	if err := json.Unmarshal([]byte(r.stdout), &ws); err != nil {
		t.Fatalf("workers --json: %v %q", err, r.stdout)
	}
	if len(ws) != 0 {
		t.Errorf("workers after three embedded runs: %+v, want none", ws)
	}
}

// readPID reads the process id a test script wrote to path.
func readPID(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}
