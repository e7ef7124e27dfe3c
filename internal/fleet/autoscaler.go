package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/money"
	"github.com/rgrid/rgrid/internal/startstop"
	"github.com/rgrid/rgrid/internal/store"
)

// Store is what the autoscaler reads and writes of the server's store.
type Store interface {
	ListWorkers(ctx context.Context) ([]store.Worker, error)
	ListJobs(ctx context.Context, p store.ListJobsParams) ([]store.Job, error)
	SetWorkerState(ctx context.Context, workerID, state string) error
	DeleteWorker(ctx context.Context, workerID string) error
	CreateToken(ctx context.Context, t store.Token) error
	ListTokens(ctx context.Context, userID string) ([]store.Token, error)
	RevokeToken(ctx context.Context, id string, now time.Time) (store.Token, error)
	PoolBudgets(ctx context.Context) ([]store.PoolBudget, error)
	PoolBudgetUsed(ctx context.Context, pool, currency string, periodStart time.Time) (int64, error)
}

// Options configure an Autoscaler.
type Options struct {
	Pools     []Pool              // validated
	Providers map[string]Provider // by pool name
	Store     Store
	// Mint makes a token's secret and its stored form (server.MintToken).
	Mint func(kind string, now time.Time) (secret string, t store.Token)
	// Interval is the time between two rounds (default 10 s).
	Interval time.Duration
	// DrainGrace is how long a worker marked draining must stay idle before
	// its machine is deleted: longer than the server's longest lease wait,
	// so that a lease begun before the drain cannot hand it a job after.
	DrainGrace time.Duration
	Now        func() time.Time
	Log        *slog.Logger
}

// Limits of one round.
const (
	// MaxQueuedLooked is how many queued jobs (the oldest) a round weighs.
	MaxQueuedLooked = 20_000
	// Defaults of a job that asks for no CPUs or memory: the worker's
	// built-in defaults.
	defaultJobCPUs   = 1
	defaultJobMemory = 512 << 20
)

// Autoscaler is the startstop service that runs the pools' rounds.
type Autoscaler struct {
	startstop.Base
	opts Options
	born time.Time // no worker counts as idle since before this

	mu     sync.Mutex
	status map[string]client.PoolStatus
	state  map[string]*poolState
}

// poolState is what the autoscaler remembers between rounds. It is lost
// on a restart, which is safe: cooldowns start over, idle windows start
// over (a worker is kept longer, never stopped early) and drains are found
// again in the workers' state.
type poolState struct {
	lastOut, lastIn time.Time
	drainedAt       map[string]time.Time
	idleSince       map[string]time.Time
}

// New makes an autoscaler; Start runs it.
func New(opts Options) *Autoscaler {
	if opts.Interval <= 0 {
		opts.Interval = 10 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.DrainGrace <= 0 {
		opts.DrainGrace = 40 * time.Second
	}
	a := &Autoscaler{opts: opts, born: opts.Now(), status: map[string]client.PoolStatus{}, state: map[string]*poolState{}}
	for _, p := range opts.Pools {
		a.state[p.Name] = &poolState{drainedAt: map[string]time.Time{}, idleSince: map[string]time.Time{}}
		a.status[p.Name] = client.PoolStatus{Name: p.Name, Provider: p.Provider, Min: p.Min, Max: p.Max, LastDecision: "none yet"}
	}
	return a
}

// Start runs a round at once, then one every Interval.
func (a *Autoscaler) Start(ctx context.Context) error {
	ctx, ok, done := a.StartInit(ctx)
	if !ok {
		return nil
	}
	go func() {
		defer done()
		t := time.NewTicker(a.opts.Interval)
		defer t.Stop()
		for {
			a.Round(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return nil
}

// Status is every pool's last decision, in config order.
func (a *Autoscaler) Status() []client.PoolStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]client.PoolStatus, 0, len(a.opts.Pools))
	for _, p := range a.opts.Pools {
		out = append(out, a.status[p.Name])
	}
	return out
}

// Round looks at every pool once and acts on its decision.
func (a *Autoscaler) Round(ctx context.Context) {
	demand, usage, workers, tokens, err := a.observe(ctx)
	if err != nil {
		a.opts.Log.Warn("autoscaler: read the queue and workers", "err", err)
		return
	}
	// Workers the autoscaler did not start (by hand, of any pool or none)
	// take queued work first: they lease it as soon as they have room.
	var others []*capacity
	for _, w := range workers {
		if w.State != "active" || strings.HasPrefix(tokens[w.TokenID].Name, tokenNamePrefix) {
			continue
		}
		u := usage[w.ID]
		others = append(others, &capacity{slots: w.Slots - u.Running, cpus: orUnlimited(w.Max.CPUs) - u.UsedCPUs,
			mem: int64(orUnlimited(float64(w.Max.MemoryBytes))) - u.UsedMemory})
	}
	demand = absorb(demand, others)
	for i := range a.opts.Pools {
		if ctx.Err() != nil {
			return
		}
		p := &a.opts.Pools[i]
		demand = a.poolRound(ctx, p, demand, usage, workers, tokens)
	}
}

// observe reads the queue (oldest first), what each worker's jobs use,
// the workers, and the tokens by id.
func (a *Autoscaler) observe(ctx context.Context) ([]Demand, map[string]WorkerView, []store.Worker, map[string]store.Token, error) {
	var demand []Demand
	var before int64
	for len(demand) < MaxQueuedLooked {
		page, err := a.opts.Store.ListJobs(ctx, store.ListJobsParams{States: []store.State{store.StateQueued}, BeforeSeq: before, Limit: 1000})
		if err != nil {
			return nil, nil, nil, nil, err
		}
		for _, j := range page {
			demand = append(demand, jobDemand(j.Limits))
		}
		if len(page) < 1000 {
			break
		}
		before = page[len(page)-1].Seq
	}
	slices.Reverse(demand) // ListJobs is newest first
	usage := map[string]WorkerView{}
	active, err := a.opts.Store.ListJobs(ctx, store.ListJobsParams{States: []store.State{store.StateLeased, store.StateRunning}, Limit: 100_000})
	if err != nil {
		return nil, nil, nil, nil, err
	}
	for _, j := range active {
		u := usage[j.WorkerID]
		d := jobDemand(j.Limits)
		u.Running++
		u.UsedCPUs += d.CPUs
		u.UsedMemory += d.MemoryBytes
		usage[j.WorkerID] = u
	}
	workers, err := a.opts.Store.ListWorkers(ctx)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	ts, err := a.opts.Store.ListTokens(ctx, "")
	if err != nil {
		return nil, nil, nil, nil, err
	}
	tokens := map[string]store.Token{}
	for _, t := range ts {
		tokens[t.ID] = t
	}
	return demand, usage, workers, tokens, nil
}

func jobDemand(l store.Limits) Demand {
	d := Demand{CPUs: l.CPUs, MemoryBytes: l.MemoryBytes}
	if d.CPUs == 0 {
		d.CPUs = defaultJobCPUs
	}
	if d.MemoryBytes == 0 {
		d.MemoryBytes = defaultJobMemory
	}
	return d
}

// poolRound runs one pool's round and returns the demand it leaves to
// the next pools.
func (a *Autoscaler) poolRound(ctx context.Context, p *Pool, demand []Demand, usage map[string]WorkerView,
	workers []store.Worker, tokens map[string]store.Token) []Demand {
	now := a.opts.Now()
	prov := a.opts.Providers[p.Name]
	st := a.state[p.Name]
	machines, err := prov.Machines(ctx)
	if err != nil {
		a.record(p, Decision{Direction: Hold, Reason: "the provider did not list the machines: " + err.Error()}, now)
		a.opts.Log.Warn("autoscaler: list machines", "pool", p.Name, "err", err)
		return demand
	}
	names := map[string]bool{}
	for _, m := range machines {
		names[m.Name] = true
	}
	// The pool's machines' workers: registered under the machine's name
	// with a token minted for a machine of this pool.
	var views []WorkerView
	for _, w := range workers {
		if tok := tokens[w.TokenID]; tok.Pool != p.Name || !names[w.ID] || !strings.HasPrefix(tok.Name, tokenNamePrefix) {
			continue
		}
		u := usage[w.ID]
		switch {
		case u.Running > 0:
			st.idleSince[w.ID] = now
		case st.idleSince[w.ID].IsZero():
			// First seen idle: since it registered, or since this
			// autoscaler started, whichever is later (what it ran before a
			// restart is not known: it is kept the longer, never less).
			st.idleSince[w.ID] = later(w.RegisteredAt, a.born)
		}
		if _, drained := st.drainedAt[w.ID]; drained && w.State == "active" {
			// Drained, then registered again (its process restarted): the
			// machine is still to go, so it drains again, from now.
			if err := a.opts.Store.SetWorkerState(ctx, w.ID, "draining"); err == nil {
				w.State, st.drainedAt[w.ID] = "draining", now
			}
		}
		if _, known := st.drainedAt[w.ID]; !known && w.State == "draining" {
			// Draining before this autoscaler knew (a restart, or a worker
			// stopped by hand): the grace counts from now, as a lease may
			// have begun just before.
			st.drainedAt[w.ID] = now
		}
		views = append(views, WorkerView{ID: w.ID, State: w.State, Running: u.Running,
			UsedCPUs: u.UsedCPUs, UsedMemory: u.UsedMemory, IdleSince: st.idleSince[w.ID]})
	}
	d := Decide(p, Snapshot{Now: now, Queued: demand, Workers: views, Machines: machines,
		DrainedAt: st.drainedAt, DrainGrace: a.opts.DrainGrace, LastOut: st.lastOut, LastIn: st.lastIn,
		BudgetSpent: a.budgetSpent(ctx, p, now)})
	gone := a.act(ctx, p, prov, st, machines, &d, now)
	for _, name := range gone {
		delete(names, name)
	}
	a.revokeOrphans(ctx, p, tokens, names, now)
	a.record(p, d, now)
	return d.Unserved
}

// orUnlimited is a worker's maximum, a zero one (no maximum) as very large.
func orUnlimited(v float64) float64 {
	if v == 0 {
		return 1 << 50
	}
	return v
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// absorb takes from demand what the capacities hold and returns the rest.
func absorb(demand []Demand, caps []*capacity) []Demand {
	if len(caps) == 0 {
		return demand
	}
	var rest []Demand
	for _, q := range demand {
		if !slices.ContainsFunc(caps, func(c *capacity) bool { return c.take(q) }) {
			rest = append(rest, q)
		}
	}
	return rest
}

// act carries a decision out and returns the machines it deleted.
func (a *Autoscaler) act(ctx context.Context, p *Pool, prov Provider, st *poolState, machines []Machine, d *Decision, now time.Time) []string {
	log := a.opts.Log.With("pool", p.Name)
	var gone []string
	for _, name := range d.Delete {
		i := slices.IndexFunc(machines, func(m Machine) bool { return m.Name == name })
		if err := prov.Delete(ctx, machines[i]); err != nil {
			log.Warn("autoscaler: delete machine", "machine", name, "err", err)
			d.Reason += fmt.Sprintf("; deleting %s failed: %v", name, err)
			continue
		}
		if err := a.opts.Store.DeleteWorker(ctx, name); err != nil && !errors.Is(err, store.ErrNotFound) {
			log.Warn("autoscaler: forget the worker of a deleted machine", "worker", name, "err", err)
		}
		delete(st.drainedAt, name)
		delete(st.idleSince, name)
		gone = append(gone, name)
		log.Info("autoscaler: machine deleted", "machine", name)
	}
	for _, name := range d.Drain {
		if err := a.opts.Store.SetWorkerState(ctx, name, "draining"); err != nil {
			log.Warn("autoscaler: drain worker", "worker", name, "err", err)
			continue
		}
		st.drainedAt[name], st.lastIn = now, now
		log.Info("autoscaler: worker draining", "worker", name, "reason", d.Reason)
	}
	created := 0
	for range d.Create {
		m, err := a.create(ctx, p, prov, now)
		if err != nil {
			log.Warn("autoscaler: create machine", "err", err)
			d.Reason += "; create failed: " + err.Error()
			break
		}
		created++
		st.lastOut = now
		log.Info("autoscaler: machine created", "machine", m.Name, "id", m.ID, "reason", d.Reason)
	}
	if created < d.Create {
		d.Target = d.Current + created
	}
	return gone
}

// create mints the machine's own worker token and has the provider make
// the machine; the token is revoked again if that fails.
func (a *Autoscaler) create(ctx context.Context, p *Pool, prov Provider, now time.Time) (Machine, error) {
	name := NewMachineName(p.Name)
	secret, t := a.opts.Mint(store.TokenWorker, now.UTC())
	t.Pool, t.Name = p.Name, tokenNamePrefix+name
	if err := a.opts.Store.CreateToken(ctx, t); err != nil {
		return Machine{}, fmt.Errorf("mint the worker token of %s: %w", name, err)
	}
	m, err := prov.Create(ctx, MachineSpec{Pool: p, Name: name, Token: secret})
	if err != nil {
		// Even when ctx ended (the server stopping is what cut the create
		// short); a token left is revoked by a later round anyway.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, rerr := a.opts.Store.RevokeToken(rctx, t.ID, now.UTC()); rerr != nil {
			a.opts.Log.Warn("autoscaler: revoke the token of a machine not made", "token", t.ID, "err", rerr)
		}
		return Machine{}, fmt.Errorf("create %s: %w", name, err)
	}
	return m, nil
}

// revokeOrphans revokes the tokens minted for machines of the pool that
// no longer exist (deleted, or never made because the server stopped
// between the mint and the create). A token younger than a minute is
// left: its machine may be on its way.
func (a *Autoscaler) revokeOrphans(ctx context.Context, p *Pool, tokens map[string]store.Token, machines map[string]bool, now time.Time) {
	for _, t := range tokens {
		machine, ok := strings.CutPrefix(t.Name, tokenNamePrefix)
		if !ok || t.Kind != store.TokenWorker || t.Pool != p.Name || t.RevokedAt != nil || machines[machine] || now.Sub(t.CreatedAt) < time.Minute {
			continue
		}
		if _, err := a.opts.Store.RevokeToken(ctx, t.ID, now.UTC()); err != nil {
			a.opts.Log.Warn("autoscaler: revoke the token of a machine gone", "token", t.ID, "err", err)
		}
	}
}

func (a *Autoscaler) record(p *Pool, d Decision, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.status[p.Name]
	s.Target, s.Current, s.Draining = d.Target, d.Current, d.Draining+len(d.Drain)
	at := now.UTC()
	s.DecidedAt = &at
	s.LastDirection, s.LastDecision = d.Direction, d.Reason
	a.status[p.Name] = s
}

// budgetSpent says how pool p's budget is used up this month, or "" when
// it has none or room left (or cannot be read: the workers' claims hold
// the budget anyway).
func (a *Autoscaler) budgetSpent(ctx context.Context, p *Pool, now time.Time) string {
	bs, err := a.opts.Store.PoolBudgets(ctx)
	if err != nil {
		a.opts.Log.Warn("autoscaler: read the pools' budgets", "err", err)
		return ""
	}
	for _, b := range bs {
		if b.Pool != p.Name {
			continue
		}
		used, err := a.opts.Store.PoolBudgetUsed(ctx, b.Pool, b.Currency, store.MonthStart(now))
		if err != nil {
			a.opts.Log.Warn("autoscaler: read the pool's budget", "pool", p.Name, "err", err)
			return ""
		}
		if used >= b.Micros {
			return fmt.Sprintf("the pool's budget of %s %s for %s is used up (%s)", money.Format(b.Micros), b.Currency,
				now.UTC().Format("January 2006"), money.Format(used))
		}
	}
	return ""
}
