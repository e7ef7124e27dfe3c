// Package docker is the executor that runs each job in its own hardened
// container on a local Docker engine: no capabilities, no new privileges,
// a read-only root with a small tmpfs /tmp, a non-root user, an init
// process, no network unless the job asks for it, and cgroup limits on
// memory (no swap), CPU and processes. The job's files (Spec.Stage) are
// staged into a host directory that becomes its writable working
// directory, before the container starts, and collected from it
// (Spec.Collect) after the container has stopped; a job without them gets
// its script alone in a read-only directory. Nothing is copied into or
// executed in a running container. The working directory is a
// size-limited filesystem of its own (package diskquota) where the machine
// allows it: a job cannot fill the worker's disk. Where overlay mounts
// work, a job's files are staged once per inputs manifest
// (Spec.InputsKey) into a cached read-only layer and each run's working
// directory is an overlay on it, its writes on the size-limited
// filesystem (layers.go, layered.go); elsewhere they are copied per run.
//
// A job with requirements runs from an image in which pip installed them,
// built once per (runtime image, requirement set) in a build container and
// cached, least recently used evicted (env.go).
//
// The container's entrypoint is our own init (package jobinit; the rgrid
// binary, mounted read-only) where the worker has a static Linux build of
// it: it starts the job's command when the worker has written its spec
// into the run's control directory, and appends the job's output to two
// bounded spool files there, which the worker tails (spool.go). Elsewhere
// the engine's init runs the command and the output comes over the attach
// stream, with the engine's own bounded log of the container behind it.
// Either way a worker restarted after a crash loses none of it: Find
// lists the containers it left, Adopt takes one over and delivers its
// output from where the server's copy ends (from the spool, or the
// engine's log), and RemoveOrphans removes the rest.
//
// The engine must be local: the run directories are bind mounts, so a
// DOCKER_HOST on another machine does not work.
package docker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/rgrid/rgrid/internal/executor"
	"github.com/rgrid/rgrid/internal/executor/diskquota"
)

// Defaults for Options left zero.
const (
	DefaultTmpfsSize   = 64 << 20
	DefaultUser        = "65534:65534" // nobody:nogroup on Debian
	DefaultNofile      = 1024
	DefaultPullTimeout = 10 * time.Minute

	// DefaultLogMaxSize bounds a container's log file on the engine's disk.
	// It must exceed the worker's per-job output cap (10 MiB by default):
	// the file is where output written while no worker was attached waits,
	// and with one file a full log is cut, losing what nobody has read.
	// The bound counts the driver's framing too (some tens of bytes per
	// line), so 32 MiB holds the cap's worth of all but very short lines.
	DefaultLogMaxSize = 32 << 20

	// pingTimeout bounds the engine check: a daemon that is up answers in
	// milliseconds, and a worker deciding between executors must not hang.
	pingTimeout = 5 * time.Second

	// DefaultDiskBytes bounds a run's working directory when the job sets
	// no limit of its own.
	DefaultDiskBytes = 2 << 30

	DefaultDepsNetwork   = "bridge"
	DefaultEnvCacheBytes = 10 << 30
	DefaultBuildTimeout  = 10 * time.Minute
)

// Labels every container of ours carries, so that a restarted worker can
// find its containers (Find, Adopt, RemoveOrphans) and an operator can see whose they are.
const (
	LabelManaged = "rgrid.managed"
	LabelJob     = "rgrid.job"
	LabelAttempt = "rgrid.attempt"
	LabelWorker  = "rgrid.worker"
	// labelDir records the run's host directory so that the worker that
	// adopts or removes the container can delete it too.
	labelDir = "rgrid.dir"
)

// Options configure an Executor. The zero value is usable.
type Options struct {
	// Logger receives operational messages; default discards them.
	Logger *slog.Logger
	// WorkerID labels the containers, so that Find, Adopt and
	// RemoveOrphans touch only this worker's; default Spec.WorkerID of each
	// run. Those three need it, and it must stay the same across restarts
	// of the worker.
	WorkerID string
	// WorkDir is where per-run host directories are made; default
	// os.TempDir()/rgrid-runs. It must be on this machine, where the
	// engine can bind-mount it.
	WorkDir string
	// TmpfsSize bounds the container's /tmp; default DefaultTmpfsSize.
	TmpfsSize int64
	// User runs the job, as "uid:gid"; default DefaultUser. Numeric ids
	// let the working directory be handed to it before the run starts.
	User string
	// NofileLimit is the open files limit; default DefaultNofile.
	NofileLimit int64
	// PullTimeout bounds pulling a missing image; default DefaultPullTimeout.
	PullTimeout time.Duration
	// LogMaxSize bounds each container's log file; default
	// DefaultLogMaxSize, which says why it must exceed the worker's cap.
	LogMaxSize int64
	// DiskBytes is the size of a run's working directory when its
	// Limits.DiskBytes is zero; default DefaultDiskBytes.
	DiskBytes int64
	// DiskQuota says whether working directories get a kernel-enforced
	// size: diskquota.Auto (the default: if this machine can, else jobs'
	// disks are unbounded, which New logs as a warning), Required (New
	// fails if it cannot) or Off.
	DiskQuota diskquota.Mode
	// Mkfs is the mkfs.ext4 the images are made with; default looked up on
	// PATH, then in /usr/sbin and /sbin.
	Mkfs string

	// The rest configure the environments of jobs with requirements
	// (see env.go).

	// PipIndexURL, PipExtraIndexURL and PipTrustedHost are pip's
	// index-url, extra-index-url and trusted-host (for an http index) in
	// the build containers; empty means pip's own default.
	PipIndexURL      string
	PipExtraIndexURL string
	PipTrustedHost   string
	// DepsNetwork is the Docker network of the build containers, which
	// must reach the index; default "bridge". Jobs keep their own setting.
	DepsNetwork string
	// EnvCacheBytes bounds the disk the cached environments take beyond
	// their base images; the least recently used are removed past it.
	// Default DefaultEnvCacheBytes.
	EnvCacheBytes int64
	// BuildTimeout bounds one environment build; default
	// DefaultBuildTimeout.
	BuildTimeout time.Duration

	// LayerDir is where the inputs of jobs are kept, one read-only layer
	// per inputs manifest (layers.go); default WorkDir + "-layers".
	LayerDir string
	// LayerCacheBytes bounds the disk the layers take; the least recently
	// used not in use are removed past it. Default DefaultLayerCacheBytes.
	LayerCacheBytes int64
	// NoOverlay stages every run's inputs by a copy, as where overlay
	// mounts are not available.
	NoOverlay bool

	// PoolMax is the most warm containers (pool.go) kept waiting for
	// jobs, in all; 0 turns the pool off. Warm containers need our init
	// (InitPath), a WorkerID and a Linux host where WorkDir can be made a
	// shared mount (root); New logs why not where they cannot be.
	PoolMax int
	// PoolIdle is how long warm containers of an (image, network) no job
	// has asked for are kept; default DefaultPoolIdle.
	PoolIdle time.Duration

	// InitPath is the init of job containers (package jobinit, see
	// initpath.go): a static Linux build of rgrid for the engine's
	// architecture. Default this process's executable if it is one; else
	// containers use the engine's init and its attach stream, and New logs
	// why. A given path that cannot serve makes New fail.
	InitPath string
}

// Executor runs jobs in containers. It is safe for concurrent use.
type Executor struct {
	// removals are the finished runs' clean-ups under way: a run's result
	// is ready before its container and directory are gone (deleting a
	// large working directory takes a second), and Close waits for them.
	removals sync.WaitGroup
	cli      *client.Client
	log      *slog.Logger
	opts     Options
	envs     envCache
	quota    *diskquota.Quota // nil: working directories without a size limit
	// layers is the inputs' layer cache; nil when runs' inputs are copied
	// (no overlay here, or Options.NoOverlay).
	layers *layerCache
	// layerRuns are the layer pins of this process's run directories,
	// released when the directory is removed.
	layerMu   sync.Mutex
	layerRuns map[string]func()
	// mountOverlay is mountOverlay but where a test makes it fail.
	mountOverlay func(lower, upper, work, target string) error
	// overlayWarned: a failed overlay mount is logged once.
	overlayWarned sync.Once
	// initPath is the host path of the init mounted into job containers;
	// "" for the engine's init (initpath.go).
	initPath string
	// pool is the warm containers (pool.go); nil when off.
	pool *pool
	// boundWorkDir: the pool bind-mounted WorkDir on itself (share_linux.go).
	boundWorkDir bool
}

var (
	_ executor.Executor  = (*Executor)(nil)
	_ executor.Recoverer = (*Executor)(nil)
)

// New connects to the engine named by the environment (DOCKER_HOST, or
// the default socket) and checks that it answers. If it does not, the
// error wraps executor.ErrUnavailable and says how to fix it. With
// DiskQuota Required on a machine that cannot limit working directories,
// the error wraps diskquota.ErrUnavailable instead. It removes run
// directories that no container uses any more (see sweep).
func New(ctx context.Context, opts Options) (*Executor, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.WorkDir == "" {
		opts.WorkDir = filepath.Join(os.TempDir(), "rgrid-runs")
	}
	if opts.TmpfsSize <= 0 {
		opts.TmpfsSize = DefaultTmpfsSize
	}
	if opts.User == "" {
		opts.User = DefaultUser
	}
	if opts.NofileLimit <= 0 {
		opts.NofileLimit = DefaultNofile
	}
	if opts.PullTimeout <= 0 {
		opts.PullTimeout = DefaultPullTimeout
	}
	if opts.LogMaxSize <= 0 {
		opts.LogMaxSize = DefaultLogMaxSize
	}
	if opts.DiskBytes <= 0 {
		opts.DiskBytes = DefaultDiskBytes
	}
	if opts.LayerDir == "" {
		opts.LayerDir = filepath.Clean(opts.WorkDir) + "-layers"
	}
	if opts.PoolIdle <= 0 {
		opts.PoolIdle = DefaultPoolIdle
	}
	if opts.LayerCacheBytes <= 0 {
		opts.LayerCacheBytes = DefaultLayerCacheBytes
	}
	if err := envDefaults(&opts); err != nil {
		return nil, err
	}
	cli, err := connect(ctx)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.WorkDir, 0o700); err != nil {
		cli.Close()
		return nil, fmt.Errorf("docker executor: make run directory root: %w", err)
	}
	quota, err := diskquota.Setup(ctx, opts.DiskQuota, opts.Mkfs, opts.WorkDir, opts.Logger)
	if err != nil {
		cli.Close()
		return nil, fmt.Errorf("docker executor: %w", err)
	}
	e := &Executor{cli: cli, log: opts.Logger, opts: opts, quota: quota, layerRuns: map[string]func(){}, mountOverlay: mountOverlay}
	e.setupLayers()
	if err := e.setupInit(ctx); err != nil {
		cli.Close()
		return nil, err
	}
	if err := e.sweep(ctx); err != nil {
		e.log.Warn("removing leftover run directories", "err", err)
	}
	if opts.PoolMax > 0 {
		e.startPool()
	}
	return e, nil
}

// Available says whether a Docker engine answers here, for choosing between
// executors; its error wraps executor.ErrUnavailable.
func Available(ctx context.Context) error {
	cli, err := connect(ctx)
	if err != nil {
		return err
	}
	return cli.Close()
}

// connect makes a client and pings the engine. API versions are negotiated
// on the ping, so engines as old as API 1.40 (Docker 19.03) work.
func connect(ctx context.Context) (*client.Client, error) {
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return nil, fmt.Errorf("%w: docker client: %v; check DOCKER_HOST", executor.ErrUnavailable, err)
	}
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if _, err := cli.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		host := cli.DaemonHost()
		cli.Close()
		return nil, unavailable(host, err)
	}
	return cli, nil
}

func unavailable(host string, err error) error {
	var hint string
	switch {
	case errors.Is(err, os.ErrPermission):
		hint = "this user may not use the Docker socket: add it to the docker group " +
			"(or run the worker as root), or check the permissions on /var/run/docker.sock"
	case cerrdefs.IsInvalidArgument(err):
		hint = "the engine is too old for this client: upgrade Docker to 19.03 or later"
	default:
		hint = "is the Docker daemon running (systemctl status docker)? " +
			"Is DOCKER_HOST right (unset means unix:///var/run/docker.sock)? " +
			"Does this user have permission on /var/run/docker.sock?"
	}
	return fmt.Errorf("%w: the Docker engine at %s does not answer (%v); %s",
		executor.ErrUnavailable, host, err, hint)
}

// Close removes the warm containers no job took, waits for the clean-ups
// of finished runs, then releases the engine connection. Runs in progress
// are not stopped.
func (e *Executor) Close() error {
	if e.pool != nil {
		e.pool.close()
	}
	e.removals.Wait()
	if e.boundWorkDir {
		if err := unshareWorkDir(e.opts.WorkDir); err != nil {
			e.log.Warn("remove the run directories' shared mount", "dir", e.opts.WorkDir, "err", err)
		}
	}
	return e.cli.Close()
}

// Name implements executor.Executor.
func (e *Executor) Name() string { return "docker" }

// ImagePresent says whether image is in the engine's local store, so that
// a caller can decide before Start whether it would need a pull.
func (e *Executor) ImagePresent(ctx context.Context, image string) (bool, error) {
	_, err := e.cli.ImageInspect(ctx, image)
	switch {
	case err == nil:
		return true, nil
	case cerrdefs.IsNotFound(err):
		return false, nil
	default:
		return false, fmt.Errorf("inspect image %s: %w", image, err)
	}
}

// isRunDir says whether dir (from a label) is a run directory of ours: an
// entry of Options.WorkDir.
func (e *Executor) isRunDir(dir string) bool {
	rel, err := filepath.Rel(e.opts.WorkDir, dir)
	return err == nil && rel != "." && filepath.IsLocal(rel) && filepath.Dir(rel) == "."
}

// specSent says whether the worker that started the run in dir began to
// hand its init the job's spec (handshake).
func (e *Executor) specSent(dir string) bool {
	if !e.isRunDir(dir) {
		return false
	}
	_, err := os.Lstat(filepath.Join(dir, runCtl, sentFile))
	return err == nil
}

// removeRunDir unmounts and deletes a run directory, but only one of
// ours: the path comes from a label, and a label is not proof.
func (e *Executor) removeRunDir(dir string) {
	if dir == "" {
		return
	}
	defer e.pool.forget(dir)
	if !e.isRunDir(dir) {
		e.log.Warn("not removing a run directory outside the work directory", "dir", dir)
		return
	}
	unlock, err := diskquota.Hold(dir)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			e.log.Warn("remove run directory", "dir", dir, "err", err)
		}
		return
	}
	defer unlock()
	e.cleanRunDir(dir)
}
