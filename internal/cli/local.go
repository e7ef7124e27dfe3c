package cli

import (
	"context"
	"fmt"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/config"
	"github.com/rgrid/rgrid/internal/node"
)

// A session is a connection to a server: a remote one, a local "rgrid dev",
// or one started inside this process (embedded mode).
type session struct {
	c     *client.Client
	local *node.Embedded // nil unless embedded
}

// close stops an embedded grid; its worker first finishes what it leased.
func (s *session) close() {
	if s.local != nil {
		s.local.Stop()
	}
}

// connect picks the server: --server / RGRID_SERVER / config file, else a
// running "rgrid dev", else an embedded one. withWorker starts an embedded
// worker (for rgrid run). Several embedded rgrid processes may share the
// database; each keeps its worker until its own job has ended, so every
// queued job always has a worker, and one may run another's job before it
// exits.
func (e *env) connect(ctx context.Context, withWorker bool, exec execOptions) (*session, error) {
	if e.server != "" {
		c, err := node.NewClient(e.server, e.token, e.caCert)
		if err != nil {
			return nil, err
		}
		c.OnWarning(func(w string) { fmt.Fprintf(e.stderr, "Warning: %s\n", cell(w)) })
		return &session{c: c}, nil
	}
	dataDir, err := config.DataDir()
	if err != nil {
		return nil, userErr("set RGRID_DATA_DIR or pass --server", "%v", err)
	}
	if url := node.DevURL(ctx, dataDir); url != "" {
		c, err := client.New(url, "")
		if err != nil {
			return nil, err
		}
		return &session{c: c}, nil
	}
	rt, err := e.runtimeTable()
	if err != nil {
		return nil, err
	}
	cfg := node.EmbeddedConfig{DataDir: dataDir, Runtimes: rt, Server: exec.server}
	if withWorker {
		cfg.Worker = &node.EmbeddedWorker{Executor: exec.name, Defaults: exec.defaults, Docker: exec.docker}
	}
	g, err := node.StartEmbedded(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if n := g.Notice(); n != "" {
		fmt.Fprintln(e.stderr, n)
	}
	return &session{c: g.Client(), local: g}, nil
}

// execOptions choose and configure the worker of an embedded grid.
type execOptions struct {
	name     string // "", "process" or "docker"
	defaults node.Limits
	docker   node.DockerOptions // the dependency settings (depsFlags)
	server   node.ServerOptions // the embedded server's liveness settings
}
