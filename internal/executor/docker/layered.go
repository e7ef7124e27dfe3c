package docker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rgrid/rgrid/internal/executor"
	"github.com/rgrid/rgrid/internal/executor/diskquota"
)

// A run whose inputs are a layer (Spec.InputsKey) has, in its run
// directory: layerFile (the key), disk/ (the size-limited filesystem, or
// a plain directory without a quota) holding upper/ (the job's changes)
// and ovl/ (overlayfs's scratch), and work/, the overlay of the layer and
// upper/ that the container gets as its working directory. Whatever the
// job writes is copied up into disk/: it counts against its disk limit.
// The job's inputs do not: they are on the layer.
const (
	runDisk  = "disk"
	runUpper = "disk/upper"
	runOvl   = "disk/ovl"
)

// errOverlay marks a stageLayered failure that a copy can stand in for.
var errOverlay = errors.New("overlay unavailable")

// setupLayers turns the layer cache on where overlay mounts work: it
// mounts one to see, and logs once why not.
func (e *Executor) setupLayers() {
	if e.opts.NoOverlay {
		return
	}
	if err := probeOverlay(e.opts.WorkDir, e.opts.LayerDir); err != nil {
		e.log.Warn("jobs' inputs are copied into each run: overlay mounts are not available here", "reason", err.Error())
		return
	}
	e.layers = newLayerCache(e.opts.LayerDir, e.opts.LayerCacheBytes, func() map[string]bool { return layersInUse(e.opts.WorkDir) })
	e.layers.sweep()
}

// probeOverlay mounts and unmounts an overlay of an empty directory of
// layerDir in workDir.
func probeOverlay(workDir, layerDir string) error {
	if err := os.MkdirAll(layerDir, 0o700); err != nil {
		return err
	}
	lower, err := os.MkdirTemp(layerDir, ".probe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(lower)
	tmp, err := os.MkdirTemp(workDir, ".overlay-probe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	upper, ovl, target := filepath.Join(tmp, "upper"), filepath.Join(tmp, "ovl"), filepath.Join(tmp, "work")
	for _, d := range []string{upper, ovl, target} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return err
		}
	}
	if err := mountOverlay(lower, upper, ovl, target); err != nil {
		return err
	}
	return unmountOverlay(nil, target)
}

// stageLayered makes dir's working directory an overlay on the layer of
// spec's inputs, building the layer first if this worker has not. An
// error wrapping errOverlay means the mount failed (the run can still
// have a copy); any other, that staging did.
func (e *Executor) stageLayered(ctx context.Context, spec executor.Spec, dir string, size int64) error {
	lower, release, err := e.layers.acquire(ctx, spec.InputsKey, func(tmp string) (int64, error) {
		if err := spec.Stage(tmp); err != nil {
			return 0, err
		}
		if err := e.handOver(tmp); err != nil {
			return 0, err
		}
		return treeSize(tmp), nil
	})
	if err != nil {
		return fmt.Errorf("stage the job's working directory: %w", err)
	}
	e.layerMu.Lock()
	e.layerRuns[dir] = release
	e.layerMu.Unlock()
	// Named before the mount: a sweep after a crash then knows the layer
	// is in use for as long as the directory is there.
	if err := os.WriteFile(filepath.Join(dir, layerFile), []byte(spec.InputsKey+"\n"), 0o600); err != nil {
		return fmt.Errorf("stage run directory: %w", err)
	}
	disk := filepath.Join(dir, runDisk)
	if e.quota != nil {
		if err := e.quota.Make(ctx, filepath.Join(dir, runImage), disk, size); err != nil {
			return fmt.Errorf("make the job's working directory: %w", err)
		}
	} else if err := os.Mkdir(disk, 0o700); err != nil {
		return fmt.Errorf("stage run directory: %w", err)
	}
	upper, ovl, work := filepath.Join(dir, runUpper), filepath.Join(dir, runOvl), filepath.Join(dir, runWork)
	for _, d := range []string{upper, ovl} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return fmt.Errorf("stage run directory: %w", err)
		}
	}
	// The overlay's root is upper's: the job's, as a copied tree's is.
	if err := e.handOver(upper); err != nil {
		return fmt.Errorf("stage run directory: %w", err)
	}
	// Mode 0 beneath the mount, as for a quota's (diskquota.Make).
	if err := diskquota.MountPoint(work, 0); err != nil {
		return fmt.Errorf("stage run directory: %w", err)
	}
	if err := e.mountOverlay(lower, upper, ovl, work); err != nil {
		return fmt.Errorf("%w: %w", errOverlay, err)
	}
	return nil
}

// unstageLayered undoes what a failed stageLayered made in dir, for the
// copy that follows: the run directory is as stage made it, but for the
// empty work/ left as the copy's mount point (a warm container has it
// bind-mounted already).
func (e *Executor) unstageLayered(dir string) error {
	if err := e.releaseRunDir(dir); err != nil {
		return err
	}
	for _, name := range []string{layerFile, runDisk} {
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}

// releaseRunDir unmounts dir's overlay and disk, if it has them, and
// unpins its layer. An error means something may still be mounted.
func (e *Executor) releaseRunDir(dir string) error {
	if err := unmountOverlay(e.log, filepath.Join(dir, runWork)); err != nil {
		return err
	}
	if _, err := os.Lstat(filepath.Join(dir, runDisk)); err == nil {
		if err := diskquota.Release(e.log, filepath.Join(dir, runImage), filepath.Join(dir, runDisk)); err != nil {
			return err
		}
	}
	e.layerMu.Lock()
	release := e.layerRuns[dir]
	delete(e.layerRuns, dir)
	e.layerMu.Unlock()
	if release != nil {
		release()
	}
	return nil
}

// collectFor is the handle's Collect for a run in dir: the upper
// directory to spec.CollectChanges for a run on a layer, else the working
// directory to spec.Collect.
func collectFor(spec executor.Spec, dir string) func(work string) {
	if spec.CollectChanges != nil && dir != "" {
		if _, err := os.Lstat(filepath.Join(dir, layerFile)); err == nil {
			return func(string) { spec.CollectChanges(filepath.Join(dir, runUpper)) }
		}
	}
	return spec.Collect
}
