package hetzner_test

import (
	"crypto/sha256"
	"log/slog"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rgrid/rgrid/internal/database"
	"github.com/rgrid/rgrid/internal/fleet"
	"github.com/rgrid/rgrid/internal/fleet/fleettest"
	"github.com/rgrid/rgrid/internal/server"
	"github.com/rgrid/rgrid/internal/store"
)

var tokenLine = regexp.MustCompile(`RGRID_TOKEN=(\S+)`)

// The autoscaler on the Hetzner provider, against the fake API and a real
// store: a queued job makes a server; the worker registers with the token
// its user-data carries (a worker token of the pool); idle past the window
// on its last paid minutes it drains and its server is deleted; a
// restarted autoscaler finds the servers by label and makes none twice.
func TestAutoscalerOnHetzner(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	p := hetznerPool(t, api, "cpu")
	p.Max, p.IdleWindow, p.CooldownIn = 1, "1m", "0s"
	require.NoError(t, p.Validate())
	st, err := database.Open(t.Context(), filepath.Join(t.TempDir(), "rgrid.db"), database.Options{Migrate: true})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	c := fleettest.NewClock(time.Now().UTC().Truncate(time.Second))
	scaler := func() *fleet.Autoscaler {
		return fleet.New(fleet.Options{Pools: []fleet.Pool{*p}, Providers: map[string]fleet.Provider{"cpu": newProvider(t, p, c)},
			Store: st, Mint: server.MintToken, DrainGrace: 40 * time.Second, Now: c.Now, Log: slog.New(slog.DiscardHandler)})
	}
	job, err := st.CreateJob(t.Context(), store.NewJob{ID: "j1", Script: []byte("x"), FileName: "x.py", Runtime: "python3.11", MaxAttempts: 3})
	require.NoError(t, err)

	a := scaler()
	a.Round(t.Context())
	names := api.serverNames()
	require.Len(t, names, 1)
	name := names[0]
	require.Equal(t, "out", a.Status()[0].LastDirection)

	// A restart: the server is found by its label, none is made twice.
	a = scaler()
	a.Round(t.Context())
	require.Equal(t, names, api.serverNames())

	// The worker registers with the token of its user-data.
	m := tokenLine.FindStringSubmatch(api.userData(name))
	require.NotNil(t, m, "no token in the user-data")
	h := sha256.Sum256([]byte(m[1]))
	tok, err := st.TokenByHash(t.Context(), h[:])
	require.NoError(t, err)
	require.Equal(t, store.TokenWorker, tok.Kind)
	require.Equal(t, "cpu", tok.Pool)
	now := c.Now()
	_, err = st.UpsertWorker(t.Context(), store.Worker{ID: name, Slots: 2, State: "active", RegisteredAt: now, LastHeartbeat: now,
		TokenID: tok.ID, Max: store.Limits{CPUs: 4, MemoryBytes: 8 << 30}}, now.Add(-time.Minute))
	require.NoError(t, err)
	_, err = st.RequestCancel(t.Context(), job.ID, now)
	require.NoError(t, err)

	// Idle past the window, but billed hourly: kept until its paid hour
	// nearly ends.
	c.Add(2 * time.Minute)
	a.Round(t.Context())
	require.Contains(t, a.Status()[0].LastDecision, "paid hour")
	require.Equal(t, names, api.serverNames())

	c.Add(54 * time.Minute)
	a.Round(t.Context())
	require.Equal(t, "in", a.Status()[0].LastDirection)
	w, err := st.GetWorker(t.Context(), name)
	require.NoError(t, err)
	require.Equal(t, "draining", w.State)

	c.Add(41 * time.Second)
	a.Round(t.Context())
	require.Empty(t, api.serverNames())
	_, deleted, _ := api.snapshot()
	require.Equal(t, []string{name}, deleted)
	tok, err = st.TokenByHash(t.Context(), h[:])
	require.NoError(t, err)
	require.NotNil(t, tok.RevokedAt, "the deleted machine's token still works")
}
