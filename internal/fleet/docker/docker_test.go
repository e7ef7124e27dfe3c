package docker_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rgrid/rgrid/internal/fleet"
	"github.com/rgrid/rgrid/internal/fleet/docker"
	"github.com/rgrid/rgrid/internal/fleet/fleettest"
	"github.com/rgrid/rgrid/internal/testimages"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testNetwork makes a Docker network of the test's own.
func testNetwork(t *testing.T) string {
	t.Helper()
	cli, err := client.New(client.FromEnv)
	require.NoError(t, err)
	t.Cleanup(func() { cli.Close() })
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "rgrid-fleettest-" + hex.EncodeToString(b[:])
	_, err = cli.NetworkCreate(t.Context(), name, client.NetworkCreateOptions{Driver: "bridge"})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, _ = cli.NetworkRemove(ctx, name, client.NetworkRemoveOptions{})
	})
	return name
}

func TestConformance(t *testing.T) {
	image := testimages.Worker(t)
	network := testNetwork(t)
	var b [3]byte
	_, _ = rand.Read(b[:])
	pool := func(name string) *fleet.Pool {
		p := &fleet.Pool{Name: name + hex.EncodeToString(b[:]), Provider: fleet.ProviderDocker, Max: 1, Slots: 1, CPUs: 1, Memory: "1GiB",
			// Nothing answers there: the worker waits and retries, which
			// is all the suite needs of it.
			Docker: &fleet.DockerPool{Image: image, Network: network, ServerURL: "http://127.0.0.1:9"}}
		require.NoError(t, p.Validate())
		return p
	}
	fleettest.Run(t, fleettest.Harness{Pool: pool("a"), Other: pool("b"),
		New: func(t *testing.T, p *fleet.Pool) fleet.Provider {
			prov, err := docker.New(t.Context(), p)
			require.NoError(t, err)
			prov.StopTimeout = 5 * time.Second
			t.Cleanup(func() { prov.Close() })
			return prov
		}})
}

// A priced pool's worker containers run rgrid worker priced at the pool's
// price, so that the jobs they run are charged.
func TestWorkerPriced(t *testing.T) {
	image := testimages.Worker(t)
	network := testNetwork(t)
	var b [3]byte
	_, _ = rand.Read(b[:])
	hourly := true
	p := &fleet.Pool{Name: "priced" + hex.EncodeToString(b[:]), Provider: fleet.ProviderDocker, Max: 1, Slots: 1, CPUs: 1, Memory: "1GiB",
		PricePerHour: "0.0119 EUR", BilledHourly: &hourly,
		Docker: &fleet.DockerPool{Image: image, Network: network, ServerURL: "http://127.0.0.1:9"}}
	require.NoError(t, p.Validate())
	prov, err := docker.New(t.Context(), p)
	require.NoError(t, err)
	prov.StopTimeout = 5 * time.Second
	t.Cleanup(func() { prov.Close() })
	m, err := prov.Create(t.Context(), fleet.MachineSpec{Pool: p, Name: fleet.NewMachineName(p.Name), Token: "rgw_x"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = prov.Delete(context.Background(), m) })

	cli, err := client.New(client.FromEnv)
	require.NoError(t, err)
	t.Cleanup(func() { cli.Close() })
	res, err := cli.ContainerInspect(t.Context(), m.ID, client.ContainerInspectOptions{})
	require.NoError(t, err)
	cmd := res.Container.Config.Cmd
	require.Equal(t, []string{"--price-per-hour", "0.0119", "--currency", "EUR", "--billing-period", "1h"}, cmd[len(cmd)-6:], "%q", cmd)
}
