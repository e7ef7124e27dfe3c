package docker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/moby/moby/api/types/mount"

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

// AwaitWarm asks e's pool for warm containers fitting spec, as a start
// of it would, and waits until one is waiting.
func AwaitWarm(ctx context.Context, e *Executor, spec executor.Spec) error {
	if e.pool == nil {
		return errors.New("the executor has no warm pool")
	}
	_, id, _, release, err := e.runImage(ctx, spec)
	if err != nil {
		return err
	}
	release()
	key := poolKey{image: id, network: spec.Network}
	for {
		e.pool.mu.Lock()
		e.pool.count(key)
		n, off := len(e.pool.ready[key]), e.pool.off
		e.pool.mu.Unlock()
		if off {
			return errors.New("the pool is off")
		}
		if n > 0 {
			return nil
		}
		e.pool.poke()
		select {
		case <-ctx.Done():
			return fmt.Errorf("no warm container for %s: %w", spec.Image, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// RanWarm says whether h's container came from the warm pool.
func RanWarm(h executor.Handle) bool { return h.(*handle).warm }

// ClosePool removes e's warm containers and stops making them.
func ClosePool(e *Executor) {
	if e.pool != nil {
		e.pool.close()
	}
}

// PoolKeys is how many (image, network) keys e's pool sizes.
func PoolKeys(e *Executor) int {
	e.pool.mu.Lock()
	defer e.pool.mu.Unlock()
	return len(e.pool.use)
}

// ContainerID is the id of h's container.
func ContainerID(h executor.Handle) string { return h.(*handle).id }

// BreakWarmPropagation makes e's pool bind its containers' working
// directories privately, as where mount propagation does not reach the
// engine: the job's disk mounted later does not appear in the container.
// Call it before the pool makes its first container.
func BreakWarmPropagation(e *Executor) { e.pool.propagation = mount.PropagationRPrivate }

// PoolOff says whether e's pool has been turned off.
func PoolOff(e *Executor) bool {
	e.pool.mu.Lock()
	defer e.pool.mu.Unlock()
	return e.pool.off
}
