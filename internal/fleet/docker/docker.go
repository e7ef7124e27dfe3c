// Package docker is the autoscaler's provider for the local Docker
// engine: each machine is a container that runs rgrid worker (with the
// process executor) on a Docker network the server is reached on. It is
// for development and for tests that scale for real on one machine.
package docker

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/rgrid/rgrid/internal/fleet"
)

// Provider runs a pool's machines as containers.
type Provider struct {
	pool *fleet.Pool
	cli  *client.Client
	// StopTimeout is how long a container is given to stop on SIGTERM (its
	// worker drains: it is idle by then) before it is killed.
	StopTimeout time.Duration
}

// New connects to the engine of DOCKER_HOST (or the default socket).
func New(ctx context.Context, pool *fleet.Pool) (*Provider, error) {
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return nil, fmt.Errorf("pool %s: docker client: %w (check DOCKER_HOST)", pool.Name, err)
	}
	if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		cli.Close()
		return nil, fmt.Errorf("pool %s: the Docker engine at %s does not answer: %w (start dockerd, or set DOCKER_HOST)", pool.Name, cli.DaemonHost(), err)
	}
	return &Provider{pool: pool, cli: cli, StopTimeout: time.Minute}, nil
}

// Close closes the engine's client.
func (p *Provider) Close() error { return p.cli.Close() }

// startGrace is how long a container may stay created but not started
// (the server stopped between the two) before it counts as failed.
const startGrace = time.Minute

// Machines lists the pool's containers by label.
func (p *Provider) Machines(ctx context.Context) ([]fleet.Machine, error) {
	f := make(client.Filters).Add("label", fleet.LabelPool+"="+p.pool.Name).Add("label", fleet.LabelManaged+"=autoscaler")
	list, err := p.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list the containers of pool %s: %w", p.pool.Name, err)
	}
	out := make([]fleet.Machine, 0, len(list.Items))
	for _, c := range list.Items {
		name := c.Labels[labelName]
		if name == "" && len(c.Names) > 0 {
			name = strings.TrimPrefix(c.Names[0], "/")
		}
		created := time.Unix(c.Created, 0)
		failed := c.State == container.StateExited || c.State == container.StateDead ||
			(c.State == container.StateCreated && time.Since(created) > startGrace)
		out = append(out, fleet.Machine{ID: c.ID, Name: name, Pool: p.pool.Name, CreatedAt: created, Failed: failed})
	}
	return out, nil
}

// labelName holds the machine's name on its container.
const labelName = "rgrid-machine"

// Create starts a worker container; one that fails to start is removed.
func (p *Provider) Create(ctx context.Context, spec fleet.MachineSpec) (fleet.Machine, error) {
	d := p.pool.Docker
	labels := fleet.Labels(p.pool.Name)
	labels[labelName] = spec.Name
	created, err := p.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: spec.Name,
		Config: &container.Config{
			Image:      d.Image,
			Entrypoint: []string{"rgrid"},
			Cmd:        fleet.WorkerArgs(p.pool, spec.Name, d.ServerURL, "process", p.pool.Price()),
			// The token goes in the environment, never on the command line.
			Env:      []string{"RGRID_TOKEN=" + spec.Token, "RGRID_DATA_DIR=/var/lib/rgrid"},
			Labels:   labels,
			Hostname: spec.Name,
		},
		HostConfig: &container.HostConfig{NetworkMode: container.NetworkMode(d.Network)},
	})
	if err != nil {
		return fleet.Machine{}, fmt.Errorf("create container %s from image %s: %w", spec.Name, d.Image, err)
	}
	if _, err := p.cli.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_, _ = p.cli.ContainerRemove(cctx, created.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		return fleet.Machine{}, fmt.Errorf("start container %s on network %s: %w", spec.Name, d.Network, err)
	}
	return fleet.Machine{ID: created.ID, Name: spec.Name, Pool: p.pool.Name, CreatedAt: time.Now()}, nil
}

// Delete stops the container (SIGTERM: its worker drains) and removes it.
func (p *Provider) Delete(ctx context.Context, m fleet.Machine) error {
	secs := int(p.StopTimeout / time.Second)
	_, err := p.cli.ContainerStop(ctx, m.ID, client.ContainerStopOptions{Timeout: &secs})
	if err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("stop container %s: %w", m.Name, err)
	}
	_, err = p.cli.ContainerRemove(ctx, m.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove container %s: %w", m.Name, err)
	}
	return nil
}
