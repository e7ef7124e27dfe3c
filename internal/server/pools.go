package server

import (
	"net/http"

	"github.com/rgrid/rgrid/client"
)

// listPools shows the autoscaler's pools: bounds, current and target
// machines, and the last decision with its reason. Admins only: a pool's
// decisions speak of the whole grid's queue.
func (s *Server) listPools(w http.ResponseWriter, r *http.Request) {
	out := client.PoolsResponse{Pools: []client.PoolStatus{}}
	if s.opts.Pools != nil {
		var here bool
		out.Pools, here = s.opts.Pools()
		out.Enabled, out.Elsewhere = true, !here
	}
	writeJSON(w, http.StatusOK, out)
}
