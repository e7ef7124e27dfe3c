package process

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/rgrid/rgrid/internal/executor"
	"github.com/rgrid/rgrid/internal/executor/diskquota"
)

func available() error { return nil }

// Start implements executor.Executor. The run gets a fresh private
// directory whose work/ is its working directory, HOME and TMPDIR: the
// files spec.Stage writes, or the script alone. Once the run has ended it
// goes to spec.Collect and is removed.
func (e *Executor) Start(ctx context.Context, spec executor.Spec) (executor.Handle, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := spec.CheckFileName(); err != nil {
		return nil, err
	}
	if len(spec.Command) == 0 {
		return nil, errors.New("process executor: empty interpreter command")
	}
	if len(spec.Requirements) > 0 {
		// Installing packages into the host's Python would change the
		// machine for every later job; environments are built in Docker.
		return nil, &executor.DependencyError{
			Output: "(nothing was installed)",
			Hint: "this worker runs jobs on the host (process executor), which installs no packages; " +
				"run the job on a worker with Docker, or pass --no-deps if the packages are already on the host",
		}
	}
	interp, err := e.lookInterpreter(spec.Command[0])
	if err != nil {
		return nil, err
	}
	sh, err := exec.LookPath("/bin/sh")
	if err != nil {
		return nil, fmt.Errorf("%w: /bin/sh is needed to apply rlimits: %v", executor.ErrUnavailable, err)
	}
	if err := validEnv(spec.Env); err != nil {
		return nil, err
	}

	times := spec.Times
	if times == nil {
		times = new(executor.StartTimes)
	}
	t0 := time.Now()
	dir, unlock, err := e.stage(ctx, spec)
	times.Stage = time.Since(t0)
	if err != nil {
		return nil, err
	}
	work := filepath.Join(dir, runWork)
	script := spec.FileName // relative to the working directory, where Stage put it
	if spec.Stage == nil {
		script = filepath.Join(work, spec.FileName)
	}

	// The shell sets the limits on itself and then execs the interpreter in
	// its place, so the limits hold from the interpreter's first instruction
	// and its pid is the one we wait for. prlimit after Start would race the
	// script. The && chain makes a refused limit fail the run loudly rather
	// than run without it.
	argv := []string{sh, "-c", limitScript(spec.Limits), "sh", interp}
	argv = append(argv, spec.Command[1:]...)
	argv = append(argv, script)
	argv = append(argv, spec.Args...)

	cmd := &exec.Cmd{
		Path: sh,
		Args: argv,
		Env:  buildEnv(work, spec.Env),
		Dir:  work,
		// A group of its own lets the time limit and Kill reach every
		// process the script spawns, not only the interpreter. Pdeathsig:
		// if the worker dies (kill -9), the interpreter is killed with it
		// rather than running on unsupervised, past its time limit, while
		// the server gives the job to another worker. (The signal follows
		// the thread that started the child; rgrid never ends threads, as
		// it never leaves one locked.)
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL},
	}

	// The lock is held for the whole run: the directory is in use until
	// finish has removed it, and a sweep must leave it alone.
	finish := func(res *executor.Result, ok bool) {
		defer unlock()
		if ok {
			res.DiskFull = diskquota.Full(work)
		}
		if spec.Collect != nil {
			spec.Collect(work)
		}
		e.cleanRunDir(dir)
	}
	t0 = time.Now()
	h, err := start(cmd, spec, e.log, e.killGrace, finish)
	// The process may have written before start returned: the worker
	// counts a byte before Running as the start's (a first byte of 0).
	times.Running = time.Now()
	times.Container = times.Running.Sub(t0)
	if err != nil {
		e.cleanRunDir(dir)
		unlock()
		return nil, fmt.Errorf("start %s: %w", spec.Command[0], err)
	}
	e.log.Debug("process run started", "job", spec.JobID, "attempt", spec.Attempt, "pid", h.pid, "dir", dir)
	return h, nil
}

// versionedPython matches names like python3.11 that the runtime table uses
// for images but that a host often lacks under that exact name.
var versionedPython = regexp.MustCompile(`^python3\.[0-9]+$`)

func (e *Executor) lookInterpreter(name string) (string, error) {
	path, err := exec.LookPath(name)
	if err == nil {
		return path, nil
	}
	if versionedPython.MatchString(name) {
		if p, err2 := exec.LookPath("python3"); err2 == nil {
			e.log.Warn("interpreter not found; using python3 instead", "wanted", name, "using", p)
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: interpreter %q not found on this worker's PATH (%v); "+
		"install it on the worker or install Docker to run jobs in containers",
		executor.ErrUnavailable, name, err)
}

func validEnv(env map[string]string) error {
	for k, v := range env {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.Contains(v, "\x00") {
			return fmt.Errorf("invalid environment variable %q", k)
		}
	}
	return nil
}

// buildEnv starts from nothing rather than the worker's environment, which
// may hold credentials. PATH is kept so interpreters find their tools; the
// job's own variables come last and win.
func buildEnv(work string, jobEnv map[string]string) []string {
	base := map[string]string{
		"PATH":             os.Getenv("PATH"),
		"LANG":             "C.UTF-8",
		"HOME":             work,
		"TMPDIR":           work,
		"PYTHONUNBUFFERED": "1", // output reaches the user as it is printed
	}
	maps.Copy(base, jobEnv)
	env := make([]string, 0, len(base))
	for _, k := range slices.Sorted(maps.Keys(base)) { // stable order, reproducible runs
		env = append(env, k+"="+base[k])
	}
	return env
}

// limitScript is the shell program that applies rlimits and execs "$@".
// It contains only numbers we format, never job input.
//
// Not set: RLIMIT_NPROC counts every process of the user, not of the run,
// so Limits.Pids cannot be expressed here; Limits.CPUs needs cgroups.
func limitScript(l executor.Limits) string {
	var b strings.Builder
	if l.MemoryBytes > 0 {
		// Address space, not resident memory: the nearest rlimit. Allocation
		// past it fails in the process (MemoryError), there is no OOM kill.
		fmt.Fprintf(&b, "ulimit -v %d && ", max(l.MemoryBytes/1024, 1))
	}
	if l.Timeout > 0 {
		// A backstop only, for when the worker dies before its timer fires:
		// CPU seconds over all cores can legitimately reach wall time times
		// the core count, so set it above that and it never fires first.
		cpu := l.Timeout*time.Duration(runtime.NumCPU()) + cpuBackstopMargin
		fmt.Fprintf(&b, "ulimit -t %d && ", int64((cpu+time.Second-1)/time.Second))
	}
	fmt.Fprintf(&b, "ulimit -n %d && ulimit -c 0 && exec \"$@\"", defaultOpenFiles)
	return b.String()
}
