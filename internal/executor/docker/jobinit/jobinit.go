// Package jobinit is the init process of RGrid's job containers: the
// rgrid binary itself, bind-mounted read-only into the container and run
// as its entrypoint under the name rgrid-init (see Dispatch). It waits,
// at no cost, in a blocking read of a FIFO in the control directory the
// worker mounts at CtlDir, for the job's Spec; then it starts the job's
// command once, with exactly the spec's argv, environment and working
// directory (nothing of its own environment), its stdin a FIFO the worker
// writes or /dev/null. As PID 1 it reaps every process, forwards
// SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 to the job, and
// exits as the job did: its exit status, or 128+signal. If the worker
// holds ExitFIFO open when the init starts, the init first kills and
// reaps every process left in the container and reports the status there,
// so that the worker need not wait for the engine to notice the exit.
//
// Output does not go through the engine: the init reads the job's stdout
// and stderr pipes and appends their exact bytes to two spool files in the
// control directory, which the worker tails (and a restarted worker
// re-reads from where the server's copy ends). Each spool keeps at most
// Spec.Limit bytes; past it the pipe is still drained, so the job never
// blocks, and the rest is dropped. The worker makes the spool files
// read-only to everyone once the init holds them open, and the init makes
// itself non-dumpable, so that the job (same user) can neither write the
// spools past their bound nor reach the init's descriptors.
package jobinit

import (
	"os"
	"path/filepath"
	"time"
)

// Name is the name the init is started by (argv[0]'s base name).
const Name = "rgrid-init"

// Where things are inside a job container, and the control directory's
// files.
const (
	BinPath    = "/rgrid/bin/" + Name // the init, mounted read-only
	CtlDir     = "/rgrid/ctl"         // the control directory, mounted writable
	SpecFIFO   = "spec"               // the worker writes the Spec here, once
	StdinFIFO  = "stdin"              // the job's stdin, when Spec.Stdin
	StdoutFile = "stdout"             // the job's stdout, appended
	StderrFile = "stderr"             // the job's stderr, appended
	AckFIFO    = "ack"                // the init's answer to a spec with WorkDev
	ExitFIFO   = "exit"               // the init's report of the job's end, when the worker reads it
)

// The init's answers on AckFIFO: AckOK, or AckRefused and the reason.
const (
	AckOK      = "ok\n"
	AckRefused = "refused: "
)

// Spec is what the worker tells the init to run.
type Spec struct {
	Argv []string `json:"argv"`
	Env  []string `json:"env"` // KEY=value, the whole environment
	Dir  string   `json:"dir"`
	// Stdin: the job's stdin is StdinFIFO (EOF when the worker closes it),
	// else /dev/null.
	Stdin bool `json:"stdin"`
	// Limit bounds each spool file, in bytes; 0 is no bound.
	Limit int64 `json:"limit"`
	// WorkDev, when not 0, is the device of the file system the worker
	// mounted on Dir after the container started (a warm container's):
	// the init checks that Dir is on it, which it is only if the mount
	// reached the container, and answers on AckFIFO before it starts the
	// job, or refuses and exits without starting it.
	WorkDev uint64 `json:"work_dev,omitempty"`
}

// drainGrace is how long the init keeps reading the job's pipes after the
// job has exited, for what is still buffered; a process the job left
// behind holding them open does not keep the container up longer.
const drainGrace = 200 * time.Millisecond

// dispatches is set by Dispatch: this binary can serve as the init.
var dispatches bool

// Dispatch runs the init and exits if this process was started as
// rgrid-init; otherwise it returns, having recorded that this binary can
// be an init (Available). A command's main calls it first.
func Dispatch() {
	dispatches = true
	if filepath.Base(os.Args[0]) != Name {
		return
	}
	os.Exit(Main(CtlDir))
}

// Available says whether this process's executable is one whose main
// calls Dispatch, so that it can be mounted as a job container's init.
func Available() bool { return dispatches }
