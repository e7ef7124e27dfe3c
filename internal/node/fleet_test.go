package node

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/fleet"
	"github.com/rgrid/rgrid/internal/runtimes"
	"github.com/rgrid/rgrid/internal/testdb"
	"github.com/rgrid/rgrid/internal/testimages"
)

// Autoscaling mints worker tokens: on an open grid the first would close
// it to everyone, so a server without credentials refuses pools.
func TestAutoscalingNeedsTokens(t *testing.T) {
	t.Setenv("RGRID_DATA_DIR", t.TempDir())
	t.Setenv("RGRID_TEST_HCLOUD_TOKEN", "not-used")
	p := fleet.Pool{Name: "cpu", Provider: fleet.ProviderHetzner, Max: 1, Slots: 1, CPUs: 1, Memory: "1GiB",
		Hetzner: &fleet.HetznerPool{ServerTypes: []string{"cx22"}, Locations: []string{"fsn1"}, Image: "ubuntu-24.04",
			TokenEnv: "RGRID_TEST_HCLOUD_TOKEN", Endpoint: "http://127.0.0.1:9", ServerURL: "https://s", BinaryURL: "https://b",
			BinarySHA256: strings.Repeat("ab", 32)}}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	rt, _ := runtimes.New(nil)
	err := RunServer(t.Context(), ServerConfig{DB: filepath.Join(t.TempDir(), "rgrid.db"), Migrate: true,
		Listen: "127.0.0.1:0", Runtimes: rt, Autoscale: Autoscale{Pools: []fleet.Pool{p}}, Log: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), "needs a server that requires tokens") {
		t.Fatalf("autoscaling on an open grid: %v", err)
	}
}

// Replicas on one PostgreSQL run the autoscaler one at a time, under its
// leader lease: the other says so on GET /v1/pools and decides nothing;
// when the leader stops, the other takes over within the lease's TTL.
func TestAutoscalerRunsOnOneReplica(t *testing.T) {
	testimages.Docker(t)
	t.Setenv("RGRID_DATA_DIR", t.TempDir())
	db := testdb.PostgresURL(t)
	tokenFile := filepath.Join(t.TempDir(), "admin.token")
	p := fleet.Pool{Name: "lead", Provider: fleet.ProviderDocker, Max: 1, Slots: 1, CPUs: 1, Memory: "1GiB",
		Docker: &fleet.DockerPool{Image: "rgrid-worker:dev", Network: "bridge", ServerURL: "http://127.0.0.1:9"}}
	require.NoError(t, p.Validate())
	rt, _ := runtimes.New(nil)
	type replica struct {
		url    string
		cancel context.CancelFunc
		done   chan error
	}
	start := func() *replica {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		require.NoError(t, ln.Close())
		ctx, cancel := context.WithCancel(t.Context())
		r := &replica{url: "http://" + addr, cancel: cancel, done: make(chan error, 1)}
		go func() {
			r.done <- RunServer(ctx, ServerConfig{DB: db, Migrate: true, Listen: addr, Runtimes: rt, BootstrapTokenFile: tokenFile,
				Options: ServerOptions{LeaderTTL: 2 * time.Second}, Autoscale: Autoscale{Pools: []fleet.Pool{p}, Interval: time.Second},
				Log: slog.New(slog.DiscardHandler)})
		}()
		t.Cleanup(func() { cancel(); <-r.done })
		return r
	}
	a := start()
	// The first replica makes the token file; the second reads it.
	require.Eventually(t, func() bool { _, err := os.Stat(tokenFile); return err == nil }, 30*time.Second, 20*time.Millisecond)
	b := start()
	token, err := os.ReadFile(tokenFile)
	require.NoError(t, err)
	pools := func(r *replica) (client.PoolsResponse, bool) {
		c, err := client.New(r.url, strings.TrimSpace(string(token)))
		require.NoError(t, err)
		res, err := c.Pools(t.Context())
		return res, err == nil
	}
	// Which one leads: the one that has decided, while the other says it
	// does not run the autoscaler.
	var leader, other *replica
	require.Eventually(t, func() bool {
		ra, okA := pools(a)
		rb, okB := pools(b)
		if !okA || !okB || ra.Elsewhere == rb.Elsewhere {
			return false
		}
		leader, other = a, b
		if ra.Elsewhere {
			leader, other = b, a
			ra, rb = rb, ra
		}
		return ra.Pools[0].DecidedAt != nil && rb.Pools[0].DecidedAt == nil
	}, 30*time.Second, 50*time.Millisecond, "exactly one replica runs the autoscaler")
	leader.cancel()
	require.NoError(t, <-leader.done)
	leader.done <- nil // for the cleanup
	require.Eventually(t, func() bool {
		r, ok := pools(other)
		return ok && !r.Elsewhere && r.Pools[0].DecidedAt != nil
	}, 30*time.Second, 50*time.Millisecond, "the other replica took the autoscaler over")
}
