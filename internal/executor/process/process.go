// Package process is the executor for hosts without Docker: it runs the
// runtime's interpreter directly on this machine, as the worker's user, with
// a time limit and rlimits (address space, CPU seconds, open files, no core
// dumps) but NO isolation. A job can read and write whatever the worker's
// user can, reach the network and leave daemons behind (a process that
// calls setsid escapes the group kill). Limits.CPUs, Limits.Pids and
// Spec.Network=false are not enforced: they need cgroups and namespaces.
// Use the docker executor wherever isolation matters; see Notice.
//
// Its working directory is the job's: the files Spec.Stage writes (or the
// script alone), HOME and TMPDIR, handed to Spec.Collect once the run has
// ended. When the worker runs as root it is a size-limited filesystem of
// its own (package diskquota), as with the docker executor.
//
// It runs on Linux only (process groups kept from pid reuse with waitid,
// the interpreter killed with the worker through Pdeathsig); elsewhere New
// returns an error wrapping executor.ErrUnavailable that says to use Docker.
package process

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/rgrid/rgrid/internal/executor"
	"github.com/rgrid/rgrid/internal/executor/diskquota"
)

// Notice is the plain statement of what this executor does not protect
// against. Show it wherever the process executor is chosen.
const Notice = "the process executor runs jobs on this machine as the worker's user, " +
	"with rlimits but no isolation; install Docker for isolated runs"

// Defaults for Options left zero.
const (
	DefaultKillGrace  = 2 * time.Second
	DefaultDiskBytes  = 2 << 30
	defaultOpenFiles  = 1024
	cpuBackstopMargin = 5 * time.Second
)

// Options configure an Executor. The zero value is usable.
type Options struct {
	// WorkDir is where per-run directories are made; default os.TempDir().
	WorkDir string
	// Logger receives operational messages; default discards them.
	Logger *slog.Logger
	// KillGrace is how long Wait keeps reading output after the run's
	// process group is gone, in case something outside the group still
	// holds the pipes open; default DefaultKillGrace.
	KillGrace time.Duration
	// DiskBytes is the size of a run's working directory when its
	// Limits.DiskBytes is zero; default DefaultDiskBytes.
	DiskBytes int64
	// DiskQuota says whether working directories get a kernel-enforced
	// size, which needs root: diskquota.Auto (the default: if this machine
	// can, else jobs' disks are unbounded, which New logs as a warning),
	// Required (New fails if it cannot) or Off.
	DiskQuota diskquota.Mode
	// Mkfs is the mkfs.ext4 the images are made with; default looked up on
	// PATH, then in /usr/sbin and /sbin.
	Mkfs string
}

// Executor runs jobs as host processes. It is safe for concurrent use.
type Executor struct {
	workDir   string
	log       *slog.Logger
	killGrace time.Duration
	diskBytes int64
	quota     *diskquota.Quota // nil: working directories without a size limit
}

var _ executor.Executor = (*Executor)(nil)

// New returns a process executor and logs Notice, so that an operator sees
// in the worker's log that jobs are not isolated. Off Linux it returns an
// error wrapping executor.ErrUnavailable; with DiskQuota Required on a
// machine that cannot limit working directories, one wrapping
// diskquota.ErrUnavailable. It removes the run directories (and their
// mounts) that an earlier worker process, killed, left behind.
func New(opts Options) (*Executor, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	e := &Executor{workDir: opts.WorkDir, log: opts.Logger, killGrace: opts.KillGrace, diskBytes: opts.DiskBytes}
	if e.workDir == "" {
		e.workDir = os.TempDir()
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.killGrace <= 0 {
		e.killGrace = DefaultKillGrace
	}
	if e.diskBytes <= 0 {
		e.diskBytes = DefaultDiskBytes
	}
	quota, err := setupQuota(opts, e.workDir, e.log)
	if err != nil {
		return nil, fmt.Errorf("process executor: %w", err)
	}
	e.quota = quota
	e.sweep()
	e.log.Warn(Notice)
	return e, nil
}

// Name implements executor.Executor.
func (e *Executor) Name() string { return "process" }

// Available says whether the process executor runs on this system; its
// error wraps executor.ErrUnavailable and says to use Docker instead.
func Available() error { return available() }
