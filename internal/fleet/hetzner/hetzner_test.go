package hetzner_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rgrid/rgrid/internal/fleet"
	"github.com/rgrid/rgrid/internal/fleet/fleettest"
	"github.com/rgrid/rgrid/internal/fleet/hetzner"
)

const sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func hetznerPool(t *testing.T, api *fakeAPI, name string) *fleet.Pool {
	t.Helper()
	p := &fleet.Pool{Name: name, Provider: fleet.ProviderHetzner, Max: 3, Slots: 2, CPUs: 4, Memory: "8GiB",
		Hetzner: &fleet.HetznerPool{ServerTypes: []string{"cpx31", "cx42"}, Locations: []string{"fsn1", "nbg1"},
			Image: "ubuntu-24.04", SSHKeys: []string{"ops"}, Labels: map[string]string{"team": "data"},
			Endpoint: api.srv.URL, ServerURL: "https://rgrid.example.com", BinaryURL: "https://dl.example.com/rgrid", BinarySHA256: sha}}
	require.NoError(t, p.Validate())
	return p
}

func newProvider(t *testing.T, p *fleet.Pool, c *fleettest.Clock) *hetzner.Provider {
	t.Helper()
	opts := hetzner.Options{Token: "test-token", PollInterval: time.Millisecond}
	if c != nil {
		opts.Now = c.Now
	}
	prov, err := hetzner.New(p, opts)
	require.NoError(t, err)
	return prov
}

func TestCreateWaitsForItsActionsAndLabels(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	p := hetznerPool(t, api, "cpu")
	prov := newProvider(t, p, nil)
	m, err := prov.Create(t.Context(), fleet.MachineSpec{Pool: p, Name: "rgrid-cpu-1", Token: "rgw_secret"})
	require.NoError(t, err)
	require.Equal(t, "rgrid-cpu-1", m.Name)
	creates, deleted, polls := api.snapshot()
	require.Equal(t, []string{"cpx31/fsn1"}, creates)
	require.Empty(t, deleted)
	require.GreaterOrEqual(t, polls, 3, "the create returned before its start action ended")

	ms, err := prov.Machines(t.Context())
	require.NoError(t, err)
	require.Len(t, ms, 1)
	require.Equal(t, m.ID, ms[0].ID)
	require.False(t, ms[0].Failed)

	ud := api.userData("rgrid-cpu-1")
	require.Contains(t, ud, "RGRID_TOKEN=rgw_secret")
	require.Contains(t, ud, "permissions: '0600'")
	require.Contains(t, ud, "'--worker-id' 'rgrid-cpu-1'")
	require.Contains(t, ud, sha+"  /usr/local/bin/rgrid.new")
	require.NotContains(t, ud[strings.Index(ud, "ExecStart"):strings.Index(ud, "Restart=")], "rgw_secret", "the token is on the command line")
}

func TestMachinesAfterARestartByLabel(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	p := hetznerPool(t, api, "cpu")
	_, err := newProvider(t, p, nil).Create(t.Context(), fleet.MachineSpec{Pool: p, Name: "rgrid-cpu-a", Token: "x"})
	require.NoError(t, err)
	api.addServer("rgrid-gpu-b", fleet.Labels("gpu"))
	api.addServer("hand-made", map[string]string{fleet.LabelPool: "cpu"}) // not the autoscaler's

	// A new provider (the server restarted) finds its own by label only.
	ms, err := newProvider(t, p, nil).Machines(t.Context())
	require.NoError(t, err)
	require.Len(t, ms, 1)
	require.Equal(t, "rgrid-cpu-a", ms[0].Name)
}

func TestFallbackOnResourceUnavailableAndQuarantine(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	api.unavailable["cpx31/fsn1"] = true
	p := hetznerPool(t, api, "cpu")
	c := fleettest.NewClock(time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC))
	prov := newProvider(t, p, c)

	_, err := prov.Create(t.Context(), fleet.MachineSpec{Pool: p, Name: "rgrid-cpu-1", Token: "x"})
	require.NoError(t, err)
	creates, _, _ := api.snapshot()
	require.Equal(t, []string{"cpx31/fsn1", "cpx31/nbg1"}, creates)

	// The pair without capacity is skipped while quarantined...
	_, err = prov.Create(t.Context(), fleet.MachineSpec{Pool: p, Name: "rgrid-cpu-2", Token: "x"})
	require.NoError(t, err)
	creates, _, _ = api.snapshot()
	require.Equal(t, []string{"cpx31/fsn1", "cpx31/nbg1", "cpx31/nbg1"}, creates)

	// ...and tried again after.
	c.Add(16 * time.Minute)
	api.mu.Lock()
	delete(api.unavailable, "cpx31/fsn1")
	api.mu.Unlock()
	_, err = prov.Create(t.Context(), fleet.MachineSpec{Pool: p, Name: "rgrid-cpu-3", Token: "x"})
	require.NoError(t, err)
	creates, _, _ = api.snapshot()
	require.Equal(t, "cpx31/fsn1", creates[len(creates)-1])
}

func TestNoCapacityAnywhere(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	for _, k := range []string{"cpx31/fsn1", "cpx31/nbg1", "cx42/fsn1", "cx42/nbg1"} {
		api.unavailable[k] = true
	}
	p := hetznerPool(t, api, "cpu")
	_, err := newProvider(t, p, nil).Create(t.Context(), fleet.MachineSpec{Pool: p, Name: "rgrid-cpu-1", Token: "x"})
	require.ErrorIs(t, err, hetzner.ErrNoCapacity)
	require.ErrorContains(t, err, "add server_types or locations")
	require.Empty(t, api.serverNames())
}

// A server whose start fails is deleted, never left to cost money; on
// resource_unavailable the next pair is tried, on another error the
// create fails.
func TestHalfCreatedServerIsDeleted(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	api.failStart["cpx31/fsn1"] = "resource_unavailable"
	api.failStart["cpx31/nbg1"] = "server_start_failed"
	p := hetznerPool(t, api, "cpu")
	prov := newProvider(t, p, nil)
	_, err := prov.Create(t.Context(), fleet.MachineSpec{Pool: p, Name: "rgrid-cpu-1", Token: "x"})
	require.ErrorContains(t, err, "server_start_failed")
	require.ErrorContains(t, err, "the server was deleted")
	creates, deleted, _ := api.snapshot()
	require.Equal(t, []string{"cpx31/fsn1", "cpx31/nbg1"}, creates)
	require.Equal(t, []string{"rgrid-cpu-1", "rgrid-cpu-1"}, deleted)
	require.Empty(t, api.serverNames())
}

func TestDelete(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	p := hetznerPool(t, api, "cpu")
	prov := newProvider(t, p, nil)
	m, err := prov.Create(t.Context(), fleet.MachineSpec{Pool: p, Name: "rgrid-cpu-1", Token: "x"})
	require.NoError(t, err)
	require.NoError(t, prov.Delete(t.Context(), m))
	require.Empty(t, api.serverNames())
	require.NoError(t, prov.Delete(t.Context(), m), "a server already gone")
}

func TestNewNeedsAToken(t *testing.T) {
	api := newFakeAPI(t)
	p := hetznerPool(t, api, "cpu")
	p.Hetzner.TokenEnv = "RGRID_TEST_NO_SUCH_TOKEN"
	t.Setenv("RGRID_TEST_NO_SUCH_TOKEN", "")
	_, err := hetzner.New(p, hetzner.Options{})
	require.ErrorContains(t, err, "set RGRID_TEST_NO_SUCH_TOKEN")
}

// A pool without price_per_hour prices each worker at what the pricing
// API says its server type costs in its location; one with it, at that.
func TestPriceFromThePricingAPI(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	api.unavailable["cpx31/fsn1"] = true
	p := hetznerPool(t, api, "cpu")
	prov := newProvider(t, p, nil)
	_, err := prov.Create(t.Context(), fleet.MachineSpec{Pool: p, Name: "rgrid-cpu-1", Token: "x"})
	require.NoError(t, err)
	// cpx31 in fsn1 had no capacity: the machine is in nbg1, at its price.
	ud := api.userData("rgrid-cpu-1")
	require.Contains(t, ud, "'--price-per-hour' '0.0195' '--currency' 'EUR' '--billing-period' '1h'")
	_, err = prov.Create(t.Context(), fleet.MachineSpec{Pool: p, Name: "rgrid-cpu-2", Token: "x"})
	require.NoError(t, err)
	require.Contains(t, api.userData("rgrid-cpu-2"), "'--price-per-hour' '0.0195'")
	api.mu.Lock()
	gets := api.pricingGets
	api.mu.Unlock()
	require.Equal(t, 2, gets, "one read per server type and location tried, then the price is kept")

	// More places than a micro-unit round to the nearest one.
	api.mu.Lock()
	api.unavailable["cpx31/nbg1"], api.unavailable["cx42/fsn1"] = true, true
	api.mu.Unlock()
	_, err = newProvider(t, p, nil).Create(t.Context(), fleet.MachineSpec{Pool: p, Name: "rgrid-cpu-3", Token: "x"})
	require.NoError(t, err)
	require.Contains(t, api.userData("rgrid-cpu-3"), "'--price-per-hour' '0.0269'") // cx42 in nbg1: 0.0268999999

	// A pair the API has no price for is an error naming the fix.
	api.mu.Lock()
	delete(api.prices, "cpx31/fsn1")
	delete(api.unavailable, "cpx31/fsn1")
	api.mu.Unlock()
	_, err = newProvider(t, p, nil).Create(t.Context(), fleet.MachineSpec{Pool: p, Name: "rgrid-cpu-4", Token: "x"})
	require.ErrorContains(t, err, "no price for server type cpx31 in fsn1")
	require.ErrorContains(t, err, "set price_per_hour")

	// price_per_hour set: the API is not asked.
	api2 := newFakeAPI(t)
	priced := hetznerPool(t, api2, "cpu")
	priced.PricePerHour = "0.5 USD"
	require.NoError(t, priced.Validate())
	_, err = newProvider(t, priced, nil).Create(t.Context(), fleet.MachineSpec{Pool: priced, Name: "rgrid-cpu-1", Token: "x"})
	require.NoError(t, err)
	require.Contains(t, api2.userData("rgrid-cpu-1"), "'--price-per-hour' '0.50' '--currency' 'USD'")
	require.Zero(t, api2.pricingGets)
}
