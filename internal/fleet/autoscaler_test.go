package fleet_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rgrid/rgrid/internal/database"
	"github.com/rgrid/rgrid/internal/fleet"
	"github.com/rgrid/rgrid/internal/fleet/fleettest"
	"github.com/rgrid/rgrid/internal/server"
	"github.com/rgrid/rgrid/internal/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// memProvider keeps machines in memory, as a provider's API would.
type memProvider struct {
	mu       sync.Mutex
	machines []fleet.Machine
	specs    []fleet.MachineSpec
	now      func() time.Time
}

func (p *memProvider) Machines(context.Context) ([]fleet.Machine, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.machines), nil
}

func (p *memProvider) Create(_ context.Context, spec fleet.MachineSpec) (fleet.Machine, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := fleet.Machine{ID: "id-" + spec.Name, Name: spec.Name, Pool: spec.Pool.Name, CreatedAt: p.now()}
	p.machines = append(p.machines, m)
	p.specs = append(p.specs, spec)
	return m, nil
}

func (p *memProvider) Delete(_ context.Context, m fleet.Machine) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.machines = slices.DeleteFunc(p.machines, func(x fleet.Machine) bool { return x.ID == m.ID })
	return nil
}

func (p *memProvider) names() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, m := range p.machines {
		out = append(out, m.Name)
	}
	return out
}

type bundle struct {
	st    store.Store
	prov  *memProvider
	clock *fleettest.Clock
	pools []fleet.Pool
}

func setup(t *testing.T) bundle {
	t.Helper()
	st, err := database.Open(t.Context(), filepath.Join(t.TempDir(), "rgrid.db"), database.Options{Migrate: true})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	c := fleettest.NewClock(time.Now().UTC().Truncate(time.Second))
	p := fleet.Pool{Name: "cpu", Provider: fleet.ProviderDocker, Max: 2, Slots: 1, CPUs: 2, Memory: "4GiB",
		IdleWindow: "1m", CooldownOut: "0s", CooldownIn: "0s",
		Docker: &fleet.DockerPool{Image: "rgrid-worker:dev", Network: "n", ServerURL: "http://s:8080"}}
	require.NoError(t, p.Validate())
	return bundle{st: st, prov: &memProvider{now: c.Now}, clock: c, pools: []fleet.Pool{p}}
}

func (b bundle) autoscaler() *fleet.Autoscaler {
	return fleet.New(fleet.Options{Pools: b.pools, Providers: map[string]fleet.Provider{"cpu": b.prov}, Store: b.st,
		Mint: server.MintToken, DrainGrace: 30 * time.Second, Now: b.clock.Now, Log: slog.New(slog.DiscardHandler)})
}

func (b bundle) submit(t *testing.T, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		j, err := b.st.CreateJob(t.Context(), store.NewJob{ID: fmt.Sprintf("j%d-%d", i, time.Now().UnixNano()), Script: []byte("x"), FileName: "x.sh", Runtime: "sh", MaxAttempts: 3})
		require.NoError(t, err)
		ids = append(ids, j.ID)
	}
	return ids
}

// register registers the worker of each machine, with the token minted
// for it, as rgrid worker on the machine would.
func (b bundle) register(t *testing.T) {
	t.Helper()
	tokens, err := b.st.ListTokens(t.Context(), "")
	require.NoError(t, err)
	for _, name := range b.prov.names() {
		i := slices.IndexFunc(tokens, func(tk store.Token) bool { return tk.Name == "autoscale:"+name })
		require.GreaterOrEqual(t, i, 0, "no token minted for %s", name)
		require.Equal(t, "cpu", tokens[i].Pool)
		now := b.clock.Now()
		_, err := b.st.UpsertWorker(t.Context(), store.Worker{ID: name, Slots: 1, State: "active", RegisteredAt: now,
			LastHeartbeat: now, TokenID: tokens[i].ID, Max: store.Limits{CPUs: 2, MemoryBytes: 4 << 30}}, now.Add(-time.Minute))
		require.NoError(t, err)
	}
}

func (b bundle) workerStates(t *testing.T) map[string]string {
	t.Helper()
	ws, err := b.st.ListWorkers(t.Context())
	require.NoError(t, err)
	out := map[string]string{}
	for _, w := range ws {
		out[w.ID] = w.State
	}
	return out
}

func TestAutoscalerScalesOutAndInWithoutKillingAJob(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.autoscaler()
	jobs := b.submit(t, 3)

	a.Round(t.Context())
	require.Len(t, b.prov.names(), 2, "3 queued jobs, 1 slot each, max 2")
	st := a.Status()[0]
	require.Equal(t, "out", st.LastDirection)
	require.Equal(t, 2, st.Target)
	require.Contains(t, st.LastDecision, "capped by max 2")
	for _, s := range b.prov.specs {
		require.True(t, strings.HasPrefix(s.Token, "rgw_"), "a worker token")
	}

	// Again, and after a restart of the server: the machines starting
	// count; none is made twice.
	a.Round(t.Context())
	b.autoscaler().Round(t.Context())
	require.Len(t, b.prov.names(), 2)

	// The workers register; one runs a job, the other two jobs are canceled.
	b.register(t)
	busy := b.prov.names()[0]
	claimed, err := b.st.ClaimJobs(t.Context(), store.ClaimParams{WorkerID: busy, Max: 1, Now: b.clock.Now()})
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	for _, id := range jobs {
		if id != claimed[0].ID {
			_, err := b.st.RequestCancel(t.Context(), id, b.clock.Now())
			require.NoError(t, err)
		}
	}

	// Within the idle window nothing drains.
	b.clock.Add(30 * time.Second)
	a.Round(t.Context())
	require.Equal(t, map[string]string{busy: "active", b.prov.names()[1]: "active"}, b.workerStates(t))

	// Past it, the idle one drains; the busy one is left alone.
	b.clock.Add(31 * time.Second)
	a.Round(t.Context())
	idle := b.prov.names()[1]
	require.Equal(t, map[string]string{busy: "active", idle: "draining"}, b.workerStates(t))
	require.Equal(t, "in", a.Status()[0].LastDirection)

	// Its machine goes only after the drain grace.
	b.clock.Add(10 * time.Second)
	a.Round(t.Context())
	require.Equal(t, []string{busy, idle}, b.prov.names())
	b.clock.Add(21 * time.Second)
	a.Round(t.Context())
	require.Equal(t, []string{busy}, b.prov.names())
	require.Equal(t, map[string]string{busy: "active"}, b.workerStates(t), "the deleted machine's worker is forgotten")

	// Its token is revoked once it is a minute old and its machine gone.
	tokens, err := b.st.ListTokens(t.Context(), "")
	require.NoError(t, err)
	for _, tk := range tokens {
		require.Equal(t, tk.Name == "autoscale:"+idle, tk.RevokedAt != nil, "token %s", tk.Name)
	}
}

// After a restart, a worker found draining is deleted only after the
// grace (a lease may have begun just before); one drained that registers
// again is drained again.
func TestAutoscalerDrainsAgainAfterRestarts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.submit(t, 1)
	b.autoscaler().Round(t.Context())
	require.Len(t, b.prov.names(), 1)
	b.register(t)
	name := b.prov.names()[0]
	// The queued job is canceled (nothing to make room for), and the
	// worker drains.
	jobs, err := b.st.ListJobs(t.Context(), store.ListJobsParams{Limit: 10})
	require.NoError(t, err)
	for _, j := range jobs {
		_, err := b.st.RequestCancel(t.Context(), j.ID, b.clock.Now())
		require.NoError(t, err)
	}
	require.NoError(t, b.st.SetWorkerState(t.Context(), name, "draining"))

	a := b.autoscaler() // a restarted server
	a.Round(t.Context())
	require.Equal(t, []string{name}, b.prov.names(), "deleted at once, within the grace")

	// The worker's process restarts and registers: active again; the
	// autoscaler drains it again.
	b.register(t)
	require.Equal(t, "active", b.workerStates(t)[name])
	a.Round(t.Context())
	require.Equal(t, "draining", b.workerStates(t)[name])

	b.clock.Add(31 * time.Second)
	a.Round(t.Context())
	require.Empty(t, b.prov.names())
}

// A worker started by hand (its token not minted by the autoscaler) takes
// queued work first: only what it has no room for makes machines.
func TestAutoscalerCountsWorkersStartedByHand(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, tok := server.MintToken(store.TokenWorker, b.clock.Now())
	tok.Pool, tok.Name = "cpu", "rack-1"
	require.NoError(t, b.st.CreateToken(t.Context(), tok))
	now := b.clock.Now()
	_, err := b.st.UpsertWorker(t.Context(), store.Worker{ID: "by-hand", Slots: 1, State: "active", RegisteredAt: now,
		LastHeartbeat: now, TokenID: tok.ID}, now.Add(-time.Minute))
	require.NoError(t, err)
	a := b.autoscaler()

	b.submit(t, 1)
	a.Round(t.Context())
	require.Empty(t, b.prov.names(), "the job fits the worker started by hand")

	b.submit(t, 1)
	a.Round(t.Context())
	require.Len(t, b.prov.names(), 1)
	a.Round(t.Context())
	require.Len(t, b.prov.names(), 1)
	ws, err := b.st.ListWorkers(t.Context())
	require.NoError(t, err)
	require.Len(t, ws, 1, "the worker started by hand is never drained or deleted")
}

// A pool whose budget is used up gets no machine for its queue (its
// workers would lease nothing); with room again it scales out.
func TestAutoscalerStopsAtThePoolBudget(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.autoscaler()
	b.submit(t, 2)
	zero := int64(0)
	require.NoError(t, b.st.SetPoolBudget(t.Context(), "cpu", &zero, "EUR", b.clock.Now()))
	a.Round(t.Context())
	require.Empty(t, b.prov.names())
	require.Contains(t, a.Status()[0].LastDecision, "the pool's budget of 0.00 EUR for")

	room := int64(5_000_000)
	require.NoError(t, b.st.SetPoolBudget(t.Context(), "cpu", &room, "EUR", b.clock.Now()))
	a.Round(t.Context())
	require.Len(t, b.prov.names(), 2)
}
