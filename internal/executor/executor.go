// Package executor defines how a worker runs one attempt of a job: the
// Executor interface and the types it speaks. Implementations live in
// subpackages (process, and docker for isolated runs); executortest holds
// the conformance suite every implementation passes.
package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"time"
)

// ErrUnavailable means the executor cannot run here (no engine, no
// interpreter); its message says what is missing.
var ErrUnavailable = errors.New("executor unavailable")

// ErrImagePull means the job's image is missing and could not be pulled;
// the error's message carries the engine's reason and a hint.
var ErrImagePull = errors.New("image pull failed")

// ErrDependencyInstall means the job's requirements could not be
// installed; errors wrapping it are *DependencyError.
var ErrDependencyInstall = errors.New("dependency install failed")

// ErrDiskFull means the job's working directory did not fit its disk
// limit (Limits.DiskBytes) before it could start: Start's error wraps it,
// and the Stage error that hit the limit, when the inputs are too large.
var ErrDiskFull = errors.New("disk limit reached")

// DependencyError says why installing a job's requirements failed.
type DependencyError struct {
	// Output is the installer's last lines.
	Output string
	// Hint names the fix, e.g. that a package does not exist on the index.
	Hint string
}

func (e *DependencyError) Error() string {
	return "installing the job's requirements failed: " + e.Output
}

func (e *DependencyError) Unwrap() error { return ErrDependencyInstall }

// Limits are the enforced bounds of one run. Zero values mean "no limit"
// only where an executor cannot enforce a bound; the worker always fills them.
type Limits struct {
	MemoryBytes int64
	CPUs        float64
	Pids        int64
	Timeout     time.Duration
	// DiskBytes bounds what the job may write into its working directory
	// (inputs included), enforced by the kernel: a write past it fails
	// with ENOSPC. Zero: the executor's default.
	DiskBytes int64
}

// Spec is everything needed to start one attempt.
type Spec struct {
	JobID    string
	Attempt  int
	WorkerID string

	// Image and Command come from the runtime table. Command is the
	// interpreter argv; the script path and Args follow it.
	Image   string
	Command []string

	// FileName is the script's path: a base name ("train.py") when the
	// executor stages Script alone, else a slash-separated path relative
	// to the working directory ("src/train.py") that Stage writes.
	FileName string
	Script   []byte
	Args     []string
	Env      map[string]string
	Limits   Limits
	Network  bool
	// Requirements are the job's Python dependencies, validated and
	// normalized (one PEP 508 requirement each, sorted). When not empty the
	// executor runs the job in an environment where they are installed.
	Requirements []string

	// Stage, when set, writes the job's working directory (the user's
	// project, the script at FileName among it) into dir, on the host,
	// before the run starts; Script is then not staged on its own. The run
	// starts in that directory. An error means nothing runs.
	Stage func(dir string) error
	// Collect, when set, is called once the run has ended (stopped,
	// killed or timed out) with its working directory, before the
	// executor removes it: the worker takes the job's outputs from there.
	// The directory is the job's: nothing in it is trusted, nothing is
	// followed or executed. It is not called when Start fails, nor for a
	// run the worker let go of without its end (a shutdown mid-run).
	Collect func(dir string)
	// InputsKey, with Stage, names what Stage writes (the SHA-256 of the
	// job's inputs manifest): runs with one key get the same files, so an
	// executor may write them once into a shared read-only layer and give
	// each run a copy-on-write view of it (the Docker executor's overlay)
	// instead of calling Stage for every run. Stage must then write the
	// same files whichever run calls it.
	InputsKey string
	// CollectChanges, when set, is called instead of Collect for a run
	// whose working directory was such a view: with the overlay's upper
	// directory, which holds only what the job created or changed, a
	// deleted input marked there by a whiteout (a 0/0 character device)
	// and a folder made anew over an input one by an opaque marker (see
	// workdir.Limits.Upper). Without it Collect gets the whole view.
	CollectChanges func(upper string)

	// Stdin, when set, is what the script reads on its stdin, to its end;
	// nil is an empty stdin. (A run adopted after a worker restart gets
	// what is left of it as EOF.)
	Stdin io.Reader

	// Stdout and Stderr receive the script's output as it is produced. Each
	// is written from one goroutine at a time, but the two concurrently, so
	// one writer passed as both must synchronise itself.
	Stdout io.Writer
	Stderr io.Writer
	// System, if not nil, receives the platform's own lines for the user
	// (image pull progress, notices), never mixed into the script's output.
	System io.Writer

	// Times, when set, receives how long the steps of the start took,
	// filled as Start goes (also when it fails part way).
	Times *StartTimes
}

// StartTimes is how long each step of a start took; a step the executor
// does not have, or did not reach, stays zero.
type StartTimes struct {
	// Image: the run's image (and its requirements' environment) made
	// ready, pulled or built if missing.
	Image time.Duration
	// Stage: the script and the job's inputs written into its working
	// directory.
	Stage time.Duration
	// Container: the container (or process) created and started, until
	// the job's process runs.
	Container time.Duration
	// Running is when the job's process was started, the start of the
	// wait for its first byte (an executor whose output may come before
	// it knows the process runs leaves that to the worker to count as 0).
	Running time.Time
}

// CheckFileName says whether FileName is one an executor may run: a base
// name when the executor stages Script alone, else a clean relative slash
// path that stays inside the working directory, not starting with "-"
// (the interpreter gets it as a relative path, and would take that for
// an option).
func (s Spec) CheckFileName() error {
	name := s.FileName
	bad := name == "" || name == "." || strings.ContainsAny(name, "\\\x00") ||
		path.IsAbs(name) || path.Clean(name) != name || name == ".." || strings.HasPrefix(name, "../")
	if s.Stage == nil {
		bad = bad || strings.Contains(name, "/")
	} else {
		bad = bad || strings.HasPrefix(name, "-")
	}
	if !bad {
		return nil
	}
	if s.Stage == nil {
		return fmt.Errorf("invalid script file name %q: want a base name such as main.py", name)
	}
	return fmt.Errorf("invalid script path %q: want a clean relative path inside the working directory, such as src/main.py", name)
}

// Outcome classifies how a run ended.
type Outcome string

// Outcomes of a run.
const (
	Exited    Outcome = "exited"     // the process ended by itself; see ExitCode
	TimedOut  Outcome = "timed_out"  // killed at the time limit
	OOMKilled Outcome = "oom_killed" // killed for exceeding the memory limit
	Killed    Outcome = "killed"     // stopped by Handle.Kill
)

// Result is how a run ended.
type Result struct {
	Outcome Outcome
	// ExitCode is the process's exit status; for a run killed by a signal,
	// 128 plus the signal number.
	ExitCode int
	// Message is a human sentence for outcomes other than a plain exit,
	// e.g. "killed after 300 s (the job's time limit)".
	Message  string
	Duration time.Duration
	// DiskFull: the working directory had no space left when the run
	// ended (it reached Limits.DiskBytes).
	DiskFull bool
}

// Handle is a started run.
type Handle interface {
	// Wait blocks until the run ends and all of its output has been written
	// to Spec.Stdout and Spec.Stderr. Cancelling ctx stops the waiting, not
	// the run.
	Wait(ctx context.Context) (Result, error)
	// Kill stops the run and returns once it has stopped (or ctx ends);
	// Wait then returns Outcome Killed. Killing a run that has already ended
	// does nothing. Wait may be called more than once.
	Kill(ctx context.Context) error
}

// Executor starts runs.
type Executor interface {
	// Name is "process" or "docker".
	Name() string
	// Start stages the script and starts it. An error means nothing runs.
	Start(ctx context.Context, spec Spec) (Handle, error)
}

// Found is a run that outlived the worker process that started it.
type Found struct {
	JobID   string
	Attempt int
	// Running is false when the run has already ended but was not yet
	// cleaned up; Adopt then yields its result at once.
	Running bool
}

// Recoverer is implemented by executors whose runs survive a restart of
// the worker (containers do; host processes do not). A restarted worker
// lists what its earlier process left, asks the server which attempts are
// still current, adopts those and removes the rest.
type Recoverer interface {
	// Find lists the runs this worker's earlier process left behind.
	Find(ctx context.Context) ([]Found, error)
	// Adopt takes over a found run. Output is delivered to spec.Stdout and
	// spec.Stderr from the given byte offsets on (what the server already
	// has), so nothing is lost or repeated. spec.Limits.Timeout still counts
	// from the run's original start.
	Adopt(ctx context.Context, f Found, spec Spec, stdoutOffset, stderrOffset int64) (Handle, error)
	// RemoveOrphans removes runs of this worker for which keep is false.
	RemoveOrphans(ctx context.Context, keep func(jobID string, attempt int) bool) (removed int, err error)
}

// Reconciler is a Recoverer that can also sweep while runs start: the
// worker calls it periodically, so that containers orphaned while it runs
// (a removal that failed, a lease the server took back) do not wait for
// its next start.
type Reconciler interface {
	// RemoveOrphansBefore is RemoveOrphans sparing every run created at
	// or after before: one being started may not be known to keep yet.
	RemoveOrphansBefore(ctx context.Context, keep func(jobID string, attempt int) bool, before time.Time) (removed int, err error)
}

// KilledMessage is the Result.Message of a run stopped by Handle.Kill.
const KilledMessage = "killed on request"

// TimeoutMessage is the Result.Message of a run killed at its time limit,
// e.g. "killed after 300 s (the job's time limit)".
func TimeoutMessage(limit time.Duration) string {
	return "killed after " + Seconds(limit) + " s (the job's time limit)"
}

// Seconds formats d for people: "300", "1.5", never "5m0s".
func Seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Round(time.Millisecond).Seconds(), 'f', -1, 64)
}
