package benchkit

import (
	"os/exec"
	"strings"
)

// RemoveContainers force-removes the containers of an rgrid worker (label
// rgrid.worker=ID): a worker killed by a benchmark leaves them behind.
func RemoveContainers(workerID string) {
	out, err := exec.Command("docker", "ps", "-aq", "--filter", "label=rgrid.worker="+workerID).Output()
	if err != nil {
		return
	}
	if ids := strings.Fields(string(out)); len(ids) > 0 {
		_ = exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).Run()
	}
}
