package node

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/rgrid/rgrid/internal/fleet"
	"github.com/rgrid/rgrid/internal/fleet/docker"
	"github.com/rgrid/rgrid/internal/fleet/hetzner"
	"github.com/rgrid/rgrid/internal/server"
	"github.com/rgrid/rgrid/internal/store"
)

// Autoscale is the autoscaler of rgrid server: off without pools.
type Autoscale struct {
	Pools []fleet.Pool // validated
	// Interval is the time between two rounds (default 10 s). On
	// PostgreSQL the loop runs on one replica at a time, under the
	// "autoscaler" leader lease.
	Interval time.Duration
}

// newAutoscaler makes the providers of the pools and the autoscaler over
// them, or says which pool's provider cannot start; close releases the
// providers.
func newAutoscaler(ctx context.Context, c Autoscale, st store.Store, maxLeaseWait time.Duration, log *slog.Logger) (*fleet.Autoscaler, func(), error) {
	provs := map[string]fleet.Provider{}
	var closers []func() error
	closeAll := func() {
		for _, c := range closers {
			_ = c()
		}
	}
	for i := range c.Pools {
		p := &c.Pools[i]
		switch p.Provider {
		case fleet.ProviderHetzner:
			prov, err := hetzner.New(p, hetzner.Options{Log: log})
			if err != nil {
				closeAll()
				return nil, nil, platformErr("set the token's variable in the server's environment", "%v", err)
			}
			provs[p.Name] = prov
		case fleet.ProviderDocker:
			prov, err := docker.New(ctx, p)
			if err != nil {
				closeAll()
				return nil, nil, platformErr("start the Docker engine, or remove the docker pool", "%v", err)
			}
			provs[p.Name], closers = prov, append(closers, prov.Close)
		default:
			closeAll()
			return nil, nil, fmt.Errorf("pool %s: provider %q is not known", p.Name, p.Provider)
		}
	}
	if maxLeaseWait <= 0 {
		maxLeaseWait = 30 * time.Second // the server's default
	}
	a := fleet.New(fleet.Options{Pools: c.Pools, Providers: provs, Store: st, Mint: server.MintToken,
		Interval: c.Interval, DrainGrace: maxLeaseWait + 10*time.Second, Log: log})
	return a, closeAll, nil
}
