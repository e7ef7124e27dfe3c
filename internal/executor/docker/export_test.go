package docker

import (
	"context"
	"errors"

	"github.com/rgrid/rgrid/internal/executor"
)

// Abandon lets go of a run as a worker killed with SIGKILL would: its
// output stops being delivered and the container is neither killed nor
// removed. It returns once the handle's goroutines are done.
func Abandon(h executor.Handle) {
	hd := h.(*handle)
	hd.stop()
	<-hd.done
}

// EnvTag is the tag of the environment image for image and reqs.

// SetEnvScope makes e label the environments it builds with scope and
// evict only among those, so that a test evicting does not remove the
// images of tests running beside it.
func SetEnvScope(e *Executor, scope string) { e.envs.scope = scope }

// StageOnly makes a run's directory as Start does, without a container:
// what a worker that died between the two leaves. unlock gives back the
// directory's lock, as that worker's death would.
func StageOnly(ctx context.Context, e *Executor, spec executor.Spec) (dir string, unlock func(), err error) {
	return e.stage(ctx, spec)
}

// FailOverlayMounts makes e's overlay mounts fail, as on a file system
// overlayfs does not take: runs fall back to a copy.
func FailOverlayMounts(e *Executor) {
	e.mountOverlay = func(string, string, string, string) error { return errors.New("overlay refused (test)") }
}

// Layered says whether e keeps inputs in layers (overlay mounts work).
func Layered(e *Executor) bool { return e.layers != nil }
