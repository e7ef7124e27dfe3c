package process

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/rgrid/rgrid/internal/executor"
	"github.com/rgrid/rgrid/internal/executor/diskquota"
)

// Names inside a run directory.
const (
	runPrefix = "rgrid-run-"
	runWork   = "work"     // the working directory
	runImage  = "disk.img" // its filesystem (with a quota)
)

// probeTimeout bounds the quota check in New, which takes no context: a
// test mount takes some tens of milliseconds.
const probeTimeout = 30 * time.Second

func setupQuota(opts Options, dir string, log *slog.Logger) (*diskquota.Quota, error) {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	return diskquota.Setup(ctx, opts.DiskQuota, opts.Mkfs, dir, log)
}

// stage makes the run directory and its working directory (a
// size-limited filesystem with a quota) and writes the job's files into it.
// The returned unlock gives back the directory's lock, which the run
// holds until its directory is removed.
func (e *Executor) stage(ctx context.Context, spec executor.Spec) (dir string, unlock func(), err error) {
	dir, err = os.MkdirTemp(e.workDir, runPrefix+"*") // MkdirTemp makes it 0700
	if err != nil {
		return "", nil, fmt.Errorf("make run directory: %w", err)
	}
	release, err := diskquota.Hold(dir)
	if err != nil {
		os.Remove(dir)
		return "", nil, fmt.Errorf("make run directory: %w", err)
	}
	made := dir // the returns below set dir to ""
	defer func() {
		if err != nil {
			e.cleanRunDir(made)
			release()
		}
	}()
	work := filepath.Join(dir, runWork)
	size := cmp.Or(spec.Limits.DiskBytes, e.diskBytes)
	if e.quota != nil {
		if err := e.quota.Make(ctx, filepath.Join(dir, runImage), work, size); err != nil {
			return "", nil, fmt.Errorf("make the job's working directory: %w", err)
		}
	} else if err := os.Mkdir(work, 0o700); err != nil {
		return "", nil, fmt.Errorf("make run directory: %w", err)
	}
	if spec.Stage == nil {
		if err := os.WriteFile(filepath.Join(work, spec.FileName), spec.Script, 0o600); err != nil {
			return "", nil, fmt.Errorf("stage script: %w", err)
		}
		return dir, release, nil
	}
	if err := spec.Stage(work); err != nil {
		if errors.Is(err, syscall.ENOSPC) || diskquota.Full(work) {
			return "", nil, fmt.Errorf("%w: the job's files do not fit its disk limit of %d MiB (--disk): %w",
				executor.ErrDiskFull, size>>20, err)
		}
		return "", nil, fmt.Errorf("stage the job's working directory: %w", err)
	}
	return dir, release, nil
}

// cleanRunDir unmounts a run's working directory, deletes its image and
// removes the directory; the caller holds its lock. If the mount cannot be
// removed the directory is left, rather than emptied through the mount.
func (e *Executor) cleanRunDir(dir string) {
	if err := diskquota.Release(e.log, filepath.Join(dir, runImage), filepath.Join(dir, runWork)); err != nil {
		e.log.Warn("remove run directory's mount", "dir", dir, "err", err)
		return
	}
	if err := os.RemoveAll(dir); err != nil {
		e.log.Warn("remove run directory", "dir", dir, "err", err)
	}
}

// sweepAge is how old a run directory must be for sweep to take it: far
// longer than the moment between making a run directory and locking it.
const sweepAge = time.Minute

// sweep removes the run directories in the work directory that no run
// holds: a run's lock lives as long as the worker process that started
// it, and its processes die with that process (Pdeathsig), but its mount
// does not.
func (e *Executor) sweep() {
	entries, err := os.ReadDir(e.workDir)
	if err != nil {
		e.log.Warn("list run directories", "dir", e.workDir, "err", err)
		return
	}
	for _, d := range entries {
		if !d.IsDir() || !strings.HasPrefix(d.Name(), runPrefix) {
			continue
		}
		// A directory another worker process has just made is not yet
		// locked (it locks it right after making it): only one older
		// than sweepAge that no one holds is a leftover.
		if info, err := d.Info(); err != nil || time.Since(info.ModTime()) < sweepAge {
			continue
		}
		dir := filepath.Join(e.workDir, d.Name())
		if unlock, ok := diskquota.TryHold(dir); ok {
			e.cleanRunDir(dir)
			unlock()
			e.log.Info("removed a run directory an earlier worker process left", "dir", dir)
		}
	}
}
