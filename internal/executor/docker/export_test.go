package docker

import "github.com/rgrid/rgrid/internal/executor"

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
