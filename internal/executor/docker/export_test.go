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
