package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/rgrid/rgrid/internal/executor"
	"github.com/rgrid/rgrid/internal/executor/diskquota"
	"github.com/rgrid/rgrid/internal/executor/docker"
	"github.com/rgrid/rgrid/internal/executor/process"
)

// executorChoice says what a worker should run jobs with.
type executorChoice struct {
	name     string // what the user asked for: "", "docker" or "process"
	embedded bool   // embedded mode may fall back to the process executor
	workerID string
	log      *slog.Logger
	docker   docker.Options // settings of a Docker executor (dependencies); Logger and WorkerID are set here
}

// chooseExecutor returns the executor and, when embedded mode fell back to
// running without isolation, a one-line notice saying why and how to get
// isolation. A production worker never falls back: if Docker was asked for,
// or nothing was asked for, and no engine answers, that is an error.
func chooseExecutor(ctx context.Context, c executorChoice) (executor.Executor, string, error) {
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	switch c.name {
	case "process":
		ex, err := process.New(c.processOptions())
		if errors.Is(err, diskquota.ErrUnavailable) {
			return nil, "", platformErr("run the worker as root on Linux with loop devices and e2fsprogs (mkfs.ext4), or pass --disk-quota auto (warn) or off",
				"jobs' disks cannot be limited here: %v", err)
		}
		if err != nil {
			return nil, "", platformErr("install Docker (Docker Desktop on macOS and Windows) and use --executor docker", "%v", err)
		}
		return ex, "", nil
	case "", "docker":
	default:
		return nil, "", usageErr("use --executor docker or --executor process", "unknown executor %q", c.name)
	}
	opts := c.docker
	opts.Logger, opts.WorkerID = c.log, c.workerID
	ex, err := docker.New(ctx, opts)
	if errors.Is(err, diskquota.ErrUnavailable) {
		// The engine answers; the machine cannot bound a job's disk, and
		// the worker was told to require it.
		return nil, "", platformErr("run the worker as root on Linux with loop devices and e2fsprogs (mkfs.ext4), or pass --disk-quota auto (warn) or off",
			"jobs' disks cannot be limited here: %v", err)
	}
	if err != nil {
		if process.Available() != nil {
			return nil, "", platformErr("start Docker (Docker Desktop on macOS and Windows), or set DOCKER_HOST to the engine's socket",
				"no Docker engine answers, and jobs run without Docker on Linux only: %v", err)
		}
		switch {
		case c.name == "" && c.embedded:
			host, perr := process.New(c.processOptions())
			if perr != nil {
				return nil, "", perr
			}
			return host, fallbackNotice(err.Error(), "start Docker"), nil
		case c.name == "docker":
			return nil, "", platformErr("start the Docker engine (or set DOCKER_HOST), or run with --executor process for jobs without isolation",
				"the docker executor cannot start: %v", err)
		default:
			return nil, "", platformErr("start the Docker engine (or set DOCKER_HOST); to run jobs without isolation, pass --executor process",
				"no Docker engine answers, and a worker does not run jobs without isolation unless told to: %v", err)
		}
	}
	if !c.embedded || c.name == "docker" {
		return ex, "", nil
	}
	f := &imageFallback{docker: ex}
	if process.Available() == nil {
		if f.process, err = process.New(c.processOptions()); err != nil {
			return nil, "", err
		}
	}
	return f, "", nil
}

// processOptions are the process executor's settings: the disk ones of
// the Docker executor's.
func (c executorChoice) processOptions() process.Options {
	return process.Options{Logger: c.log, DiskBytes: c.docker.DiskBytes, DiskQuota: c.docker.DiskQuota, Mkfs: c.docker.Mkfs}
}

func fallbackNotice(why, fix string) string {
	return fmt.Sprintf("rgrid: notice: running on this machine without isolation (process executor): %s. For isolated runs, %s.", why, fix)
}

// imageFallback is embedded mode's executor when Docker answers: each job
// runs in Docker if its image is here or can be pulled, else on the host
// with a notice in the job's log saying why.
type imageFallback struct {
	docker  *docker.Executor
	process executor.Executor // nil off Linux: a job whose image cannot be had fails with the reason
}

// Close waits for the Docker executor's clean-ups and lets go of its
// engine connection.
func (f *imageFallback) Close() error { return f.docker.Close() }

// closeExecutor closes ex once its worker has stopped, if it has anything
// to close: the Docker executor removes finished runs just after their
// results, and this waits for that, so that a process that ends leaves no
// container or working directory behind.
func closeExecutor(ex executor.Executor) {
	if c, ok := ex.(io.Closer); ok {
		_ = c.Close()
	}
}

func (f *imageFallback) Name() string {
	if f.process == nil {
		return "docker"
	}
	return "docker|process"
}

func (f *imageFallback) Start(ctx context.Context, spec executor.Spec) (executor.Handle, error) {
	present, err := f.docker.ImagePresent(ctx, spec.Image)
	if err == nil && !present {
		err = f.docker.Pull(ctx, spec.Image, spec.System)
	}
	if err == nil {
		return f.docker.Start(ctx, spec)
	}
	if f.process == nil {
		return nil, err
	}
	reason := err.Error()
	var pe *docker.PullError
	if errors.As(err, &pe) {
		reason = pe.Reason
	}
	if spec.System != nil {
		fmt.Fprintln(spec.System, fallbackNotice(fmt.Sprintf("image %s is not here and cannot be pulled (%s)", spec.Image, reason),
			"pull or build the image, or point the runtime at a local image in the config file"))
	}
	return f.process.Start(ctx, spec)
}

// recoveringFallback is imageFallback for a worker that keeps its id (that
// of "rgrid dev"): restarted, it adopts the containers its earlier process
// left. Runs on the host die with the process that started them, so there
// is nothing of theirs to recover. An embedded rgrid run's worker, new
// each time, has nothing to recover and skips the lookups.
type recoveringFallback struct{ *imageFallback }

var _ executor.Recoverer = recoveringFallback{}

// recovering returns ex able to recover its Docker runs, if it is
// embedded mode's fallback executor.
func recovering(ex executor.Executor) executor.Executor {
	if f, ok := ex.(*imageFallback); ok {
		return recoveringFallback{f}
	}
	return ex
}

func (f recoveringFallback) Find(ctx context.Context) ([]executor.Found, error) {
	return f.docker.Find(ctx)
}

func (f recoveringFallback) Adopt(ctx context.Context, found executor.Found, spec executor.Spec, stdoutOffset, stderrOffset int64) (executor.Handle, error) {
	return f.docker.Adopt(ctx, found, spec, stdoutOffset, stderrOffset)
}

func (f recoveringFallback) RemoveOrphans(ctx context.Context, keep func(jobID string, attempt int) bool) (int, error) {
	return f.docker.RemoveOrphans(ctx, keep)
}
