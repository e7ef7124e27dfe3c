package docker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/rgrid/rgrid/internal/executor"
	"github.com/rgrid/rgrid/internal/executor/diskquota"
)

// Names inside a run directory.
const (
	runInput = "input"    // the script alone, mounted read-only (no Spec.Stage)
	runWork  = "work"     // the working directory, mounted writable
	runImage = "disk.img" // the working directory's filesystem (with a quota)
)

// stage makes the run directory and stages spec into it (stageInto).
//
// The returned unlock gives back the directory's lock, held so that no
// sweep takes it before its container exists (see sweep).
func (e *Executor) stage(ctx context.Context, spec executor.Spec) (dir string, unlock func(), err error) {
	dir, err = os.MkdirTemp(e.opts.WorkDir, "run-*")
	if err != nil {
		return "", nil, fmt.Errorf("make run directory: %w", err)
	}
	release, err := diskquota.Hold(dir)
	if err != nil {
		os.Remove(dir)
		return "", nil, fmt.Errorf("make run directory: %w", err)
	}
	if err := e.stageInto(ctx, spec, dir); err != nil {
		e.cleanRunDir(dir)
		release()
		return "", nil, err
	}
	return dir, release, nil
}

// stageInto fills the run directory dir. work/ is the job's working
// directory: a size-limited filesystem of its own when the executor has a
// quota, and holding the job's files when spec.Stage writes them; else the
// script goes alone into input/. Everything in work/ is handed to the
// job's user now, because nothing may touch it once the job runs. The run
// directory itself stays private to the worker: bind mounts do not need
// its permission. work/ and input/ may already be there, empty: a warm
// container's (pool.go) are bind-mounted before its job is known, and the
// mounts made on them here reach the container through the mount's
// propagation. On error the caller removes dir.
func (e *Executor) stageInto(ctx context.Context, spec executor.Spec, dir string) error {
	work := filepath.Join(dir, runWork)
	size := cmp.Or(spec.Limits.DiskBytes, e.opts.DiskBytes)
	if spec.Stage != nil && spec.InputsKey != "" && e.layers != nil {
		err := e.stageLayered(ctx, spec, dir, size)
		if err == nil {
			return nil
		}
		if !errors.Is(err, errOverlay) {
			return err
		}
		e.overlayWarned.Do(func() {
			e.log.Warn("an overlay mount failed: this run's inputs, and those of later runs where it fails again, are copied", "err", err)
		})
		if err := e.unstageLayered(dir); err != nil {
			return fmt.Errorf("stage run directory: %w", err)
		}
	}
	if e.quota != nil {
		if err := e.quota.Make(ctx, filepath.Join(dir, runImage), work, size); err != nil {
			return fmt.Errorf("make the job's working directory: %w", err)
		}
	} else if err := diskquota.MountPoint(work, 0o700); err != nil {
		return fmt.Errorf("stage run directory: %w", err)
	}
	if spec.Stage != nil {
		if err := spec.Stage(work); err != nil {
			if errors.Is(err, syscall.ENOSPC) || diskquota.Full(work) {
				return fmt.Errorf("%w: the job's files do not fit its disk limit of %s (--disk): %w",
					executor.ErrDiskFull, mebibytes(size), err)
			}
			return fmt.Errorf("stage the job's working directory: %w", err)
		}
	} else if err := stageScript(filepath.Join(dir, runInput), spec); err != nil {
		return err
	}
	if err := e.handOver(work); err != nil {
		return fmt.Errorf("stage run directory: %w", err)
	}
	return nil
}

// stageScript writes the script alone into in, readable by everyone.
func stageScript(in string, spec executor.Spec) error {
	script := filepath.Join(in, spec.FileName)
	// Explicit chmods: Mkdir and WriteFile modes are cut by the umask.
	for _, step := range []func() error{
		func() error { return diskquota.MountPoint(in, 0o755) },
		func() error { return os.WriteFile(script, spec.Script, 0o644) },
		func() error { return os.Chmod(script, 0o644) },
	} {
		if err := step(); err != nil {
			return fmt.Errorf("stage run directory: %w", err)
		}
	}
	return nil
}

// handOver gives the job's user the tree at root, so that it can change
// and delete its inputs and make files beside them: owned by it, with the
// owner's read and write (and search on directories). Where the worker
// cannot chown (not root) or the user is a name, it opens the tree to
// everyone instead; only the job reaches it, through the private run
// directory. The walk never follows a symlink (Lchown, and no chmod of
// one), and nothing but the worker has written here yet.
func (e *Executor) handOver(root string) error {
	uid, gid, numeric := numericUser(e.opts.User)
	chown := numeric
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if chown {
			if err := os.Lchown(p, uid, gid); err != nil {
				if p != root || !errors.Is(err, os.ErrPermission) {
					return err
				}
				chown = false // not root: the fallback below, for the whole tree
			}
		}
		var need fs.FileMode
		switch {
		case d.IsDir() && chown:
			need = 0o700
		case d.IsDir():
			need = 0o777
		case d.Type().IsRegular() && chown:
			need = 0o600
		case d.Type().IsRegular():
			need = 0o666
		default:
			return nil // symlinks and the like: owned is enough
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if mode := info.Mode().Perm(); mode&need != need {
			return os.Chmod(p, mode|need)
		}
		return nil
	})
}

// cleanRunDir unmounts a run directory's working directory, deletes its
// image and removes it; the caller holds its lock. If the mount cannot be
// removed the directory is left, rather than emptied through the mount.
func (e *Executor) cleanRunDir(dir string) {
	if err := e.releaseRunDir(dir); err != nil {
		e.log.Warn("remove run directory's mount", "dir", dir, "err", err)
		return
	}
	if err := diskquota.Release(e.log, filepath.Join(dir, runImage), filepath.Join(dir, runWork)); err != nil {
		e.log.Warn("remove run directory's mount", "dir", dir, "err", err)
		return
	}
	if err := os.RemoveAll(dir); err != nil {
		e.log.Warn("remove run directory", "dir", dir, "err", err)
	}
}
