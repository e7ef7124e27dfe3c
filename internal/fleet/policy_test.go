package fleet

import (
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/stretchr/testify/require"
)

func testPool(t *testing.T, edit func(p *Pool)) *Pool {
	t.Helper()
	p := &Pool{Name: "cpu", Provider: ProviderDocker, Min: 0, Max: 3, Slots: 2, CPUs: 4, Memory: "8GiB",
		IdleWindow: "10m", CooldownOut: "1m", CooldownIn: "5m", BootTimeout: "10m",
		Docker: &DockerPool{Image: "rgrid-worker:dev", Network: "n", ServerURL: "http://s:8080"}}
	if edit != nil {
		edit(p)
	}
	require.NoError(t, p.Validate())
	return p
}

func TestDecide(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	const gib = int64(1) << 30
	jobs := func(n int, d Demand) []Demand {
		out := make([]Demand, n)
		for i := range out {
			out[i] = d
		}
		return out
	}
	m := func(name string, age time.Duration) Machine {
		return Machine{ID: "id-" + name, Name: name, Pool: "cpu", CreatedAt: now.Add(-age)}
	}
	idle := func(name string, since time.Duration) WorkerView {
		return WorkerView{ID: name, State: "active", IdleSince: now.Add(-since)}
	}
	hourly := func(p *Pool) { t := true; p.BilledHourly = &t }
	tests := []struct {
		name   string
		pool   func(p *Pool)
		snap   Snapshot
		want   Decision
		reason string // a part of the reason
	}{
		{name: "empty queue, nothing to do", want: Decision{Direction: Hold}, reason: "enough capacity"},
		{name: "below min creates up to min", pool: func(p *Pool) { p.Min = 2 },
			want: Decision{Direction: Out, Target: 2, Create: 2}, reason: "below min 2"},
		{name: "queued work with no free slot scales out by slots",
			snap: Snapshot{Queued: jobs(3, Demand{})},
			want: Decision{Direction: Out, Target: 2, Create: 2}, reason: "2 more workers needed"},
		{name: "by memory, not job count: two 6 GiB jobs need two 8 GiB workers",
			snap: Snapshot{Queued: jobs(2, Demand{MemoryBytes: 6 * gib})},
			want: Decision{Direction: Out, Target: 2, Create: 2}},
		{name: "two 1-CPU jobs fit the free slots of one idle worker",
			snap: Snapshot{Queued: jobs(2, Demand{CPUs: 1}), Machines: []Machine{m("a", time.Minute)},
				Workers: []WorkerView{idle("a", 0)}},
			want: Decision{Direction: Hold, Current: 1, Target: 1}, reason: "enough capacity"},
		{name: "a busy worker's used CPUs leave no room",
			snap: Snapshot{Queued: jobs(1, Demand{CPUs: 2}), Machines: []Machine{m("a", time.Minute)},
				Workers: []WorkerView{{ID: "a", State: "active", Running: 1, UsedCPUs: 3, IdleSince: now}}},
			want: Decision{Direction: Out, Current: 1, Target: 2, Create: 1}},
		{name: "a machine still starting counts as free capacity (no duplicate after a restart)",
			snap: Snapshot{Queued: jobs(2, Demand{}), Machines: []Machine{m("a", time.Minute)}},
			want: Decision{Direction: Hold, Current: 1, Target: 1}},
		{name: "capped by max",
			snap: Snapshot{Queued: jobs(12, Demand{})},
			want: Decision{Direction: Out, Target: 3, Create: 3}, reason: "capped by max 3"},
		{name: "capped by the spend ceiling, draining machines included",
			pool: func(p *Pool) { p.PricePerHour, p.MaxSpendPerHour = "0.5 EUR", "1.2 EUR" },
			snap: Snapshot{Queued: jobs(12, Demand{}), Machines: []Machine{m("d", time.Hour)},
				Workers: []WorkerView{{ID: "d", State: "draining", Running: 1}}},
			want: Decision{Direction: Out, Target: 1, Create: 1}, reason: "max_spend_per_hour"},
		{name: "a pool whose budget is spent starts nothing beyond min", pool: func(p *Pool) { p.Min = 1 },
			snap: Snapshot{Queued: jobs(12, Demand{}), BudgetSpent: "the pool's budget of 5.00 EUR for December 2026 is used up"},
			want: Decision{Direction: Out, Target: 1, Create: 1}, reason: "capped: the pool's budget of 5.00 EUR"},
		{name: "a pool whose budget is spent keeps its machines and adds none",
			snap: Snapshot{Queued: jobs(12, Demand{}), Machines: []Machine{m("a", time.Minute)}, Workers: []WorkerView{idle("a", 0)},
				BudgetSpent: "used up"},
			want: Decision{Direction: Hold, Current: 1, Target: 1}, reason: "capped: used up"},
		{name: "a job bigger than a worker is no demand",
			snap: Snapshot{Queued: jobs(1, Demand{CPUs: 16})},
			want: Decision{Direction: Hold}, reason: "1 queued jobs ask for more than one worker"},
		{name: "scale-out cooldown holds",
			snap: Snapshot{Queued: jobs(1, Demand{}), LastOut: now.Add(-30 * time.Second)},
			want: Decision{Direction: Hold}, reason: "cooldown (30s left)"},
		{name: "a recent scale-in does not hold a scale-out (one cooldown per direction)",
			snap: Snapshot{Queued: jobs(1, Demand{}), LastIn: now.Add(-time.Second)},
			want: Decision{Direction: Out, Target: 1, Create: 1}},
		{name: "idle past the window drains, down to min",
			pool: func(p *Pool) { p.Min = 1 },
			snap: Snapshot{Machines: []Machine{m("a", time.Hour), m("b", time.Hour)},
				Workers: []WorkerView{idle("a", 11*time.Minute), idle("b", 11*time.Minute)}},
			want: Decision{Direction: In, Current: 2, Target: 1, Drain: []string{"a"}}},
		{name: "idle within the window stays",
			snap: Snapshot{Machines: []Machine{m("a", time.Hour)}, Workers: []WorkerView{idle("a", 5*time.Minute)}},
			want: Decision{Direction: Hold, Current: 1, Target: 1}, reason: "idle window (5m0s left)"},
		{name: "a running job is never drained",
			snap: Snapshot{Machines: []Machine{m("a", time.Hour)},
				Workers: []WorkerView{{ID: "a", State: "active", Running: 1, IdleSince: now.Add(-time.Hour)}}},
			want: Decision{Direction: Hold, Current: 1, Target: 1}},
		{name: "an idle worker that queued work lands on is kept",
			snap: Snapshot{Queued: jobs(1, Demand{}), Machines: []Machine{m("a", time.Hour)}, Workers: []WorkerView{idle("a", time.Hour)}},
			want: Decision{Direction: Hold, Current: 1, Target: 1}},
		{name: "billed hourly: kept until near the end of the paid hour", pool: hourly,
			snap: Snapshot{Machines: []Machine{m("a", 80*time.Minute)}, Workers: []WorkerView{idle("a", time.Hour)}},
			want: Decision{Direction: Hold, Current: 1, Target: 1}, reason: "paid hour (35m0s left)"},
		{name: "billed hourly: let go in the last minutes", pool: hourly,
			snap: Snapshot{Machines: []Machine{m("a", 117*time.Minute)}, Workers: []WorkerView{idle("a", time.Hour)}},
			want: Decision{Direction: In, Current: 1, Target: 0, Drain: []string{"a"}}},
		{name: "scale-in cooldown holds",
			snap: Snapshot{Machines: []Machine{m("a", time.Hour)}, Workers: []WorkerView{idle("a", time.Hour)}, LastIn: now.Add(-time.Minute)},
			want: Decision{Direction: Hold, Current: 1, Target: 1}, reason: "waits for its cooldown (4m0s left)"},
		{name: "a draining worker with a running job blocks neither max nor the scale-in of others",
			snap: Snapshot{Queued: jobs(6, Demand{}),
				Machines: []Machine{m("d", time.Hour), m("a", time.Hour), m("b", time.Hour)},
				Workers:  []WorkerView{{ID: "d", State: "draining", Running: 1}, idle("a", 0), idle("b", 0)}},
			want: Decision{Direction: Out, Current: 2, Target: 3, Create: 1}, reason: "1 more workers needed"},
		{name: "an idle worker drains while another drains",
			snap: Snapshot{Machines: []Machine{m("d", time.Hour), m("a", time.Hour)},
				Workers: []WorkerView{{ID: "d", State: "draining", Running: 1}, idle("a", time.Hour)}},
			want: Decision{Direction: In, Current: 1, Target: 0, Drain: []string{"a"}}},
		{name: "a drained worker is deleted after the grace",
			snap: Snapshot{Machines: []Machine{m("a", time.Hour)}, Workers: []WorkerView{{ID: "a", State: "draining"}},
				DrainedAt: map[string]time.Time{"a": now.Add(-time.Minute)}, DrainGrace: 40 * time.Second},
			want: Decision{Direction: Hold, Delete: []string{"a"}}, reason: "a drained"},
		{name: "a drained worker waits out the grace (a lease begun before the drain)",
			snap: Snapshot{Machines: []Machine{m("a", time.Hour)}, Workers: []WorkerView{{ID: "a", State: "draining"}},
				DrainedAt: map[string]time.Time{"a": now.Add(-time.Second)}, DrainGrace: 40 * time.Second},
			want: Decision{Direction: Hold}},
		{name: "a machine that never registered is deleted",
			snap: Snapshot{Machines: []Machine{m("a", 11*time.Minute)}},
			want: Decision{Direction: Hold, Delete: []string{"a"}}, reason: "never registered"},
		{name: "a failed machine is deleted and replaced",
			snap: Snapshot{Queued: jobs(1, Demand{}), Machines: []Machine{{Name: "a", CreatedAt: now, Failed: true}}},
			want: Decision{Direction: Out, Target: 1, Create: 1, Delete: []string{"a"}}, reason: "a failed"},
		{name: "a dead worker's machine is deleted once its jobs are back",
			snap: Snapshot{Machines: []Machine{m("a", time.Hour)}, Workers: []WorkerView{{ID: "a", State: "dead"}}},
			want: Decision{Direction: Hold, Delete: []string{"a"}}, reason: "dead"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := testPool(t, tc.pool)
			s := tc.snap
			s.Now = now
			got := Decide(p, s)
			reason := got.Reason
			got.Reason, got.Unserved, got.Draining = "", nil, 0
			require.Equal(t, tc.want, got, reason)
			require.Contains(t, reason, tc.reason)
		})
	}
}

func TestDecideUnserved(t *testing.T) {
	t.Parallel()
	p := testPool(t, nil)
	big := Demand{CPUs: 16}
	small := Demand{CPUs: 1}
	queued := []Demand{big}
	for range 10 {
		queued = append(queued, small)
	}
	d := Decide(p, Snapshot{Now: time.Now(), Queued: queued})
	// Three new workers of 2 slots take 6; the big one and 4 others are
	// left to the next pool.
	require.Equal(t, 3, d.Create)
	require.Equal(t, []Demand{big, small, small, small, small}, d.Unserved)
}

func TestPoolValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(p *Pool)
		want string
	}{
		{"bad name", func(p *Pool) { p.Name = "CPU pool" }, "lowercase letters"},
		{"unknown provider", func(p *Pool) { p.Provider = "aws" }, `use "hetzner" or "docker"`},
		{"min over max", func(p *Pool) { p.Min = 4 }, "min <= max"},
		{"no slots", func(p *Pool) { p.Slots = 0 }, "at least 1 slot"},
		{"bad memory", func(p *Pool) { p.Memory = "lots" }, `"8GiB"`},
		{"bad duration", func(p *Pool) { p.IdleWindow = "ten" }, `idle_window "ten"`},
		{"spend without price", func(p *Pool) { p.MaxSpendPerHour = "1 EUR" }, "needs price_per_hour"},
		{"min over spend", func(p *Pool) { p.Min, p.PricePerHour, p.MaxSpendPerHour = 3, "1 EUR", "2 EUR" }, "over max_spend_per_hour 2.00 EUR"},
		{"price without currency", func(p *Pool) { p.PricePerHour = "0.0119" }, `price_per_hour: "0.0119" is not an amount with its currency: write e.g. "0.0119 EUR"`},
		{"price not an amount", func(p *Pool) { p.PricePerHour = "cheap EUR" }, `price_per_hour: "cheap" is not an amount`},
		{"spend in another currency", func(p *Pool) { p.PricePerHour, p.MaxSpendPerHour = "1 EUR", "2 USD" }, "give both in one currency"},
		{"docker without table", func(p *Pool) { p.Docker = nil }, "[pools.docker]"},
		{"hetzner without table", func(p *Pool) { p.Provider = ProviderHetzner }, "[pools.hetzner]"},
		{"hetzner without image", func(p *Pool) {
			p.Provider = ProviderHetzner
			p.Hetzner = &HetznerPool{ServerTypes: []string{"cx22"}, Locations: []string{"fsn1"},
				ServerURL: "https://s", BinaryURL: "https://b"}
		}, "one of image"},
		{"hetzner own label", func(p *Pool) {
			p.Provider = ProviderHetzner
			p.Hetzner = &HetznerPool{ServerTypes: []string{"cx22"}, Locations: []string{"fsn1"}, Image: "ubuntu-24.04",
				ServerURL: "https://s", BinaryURL: "https://b", BinarySHA256: strings.Repeat("ab", 32), Labels: map[string]string{"rgrid-pool": "x"}}
		}, "autoscaler's own"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := &Pool{Name: "cpu", Provider: ProviderDocker, Max: 3, Slots: 2, CPUs: 4, Memory: "8GiB",
				Docker: &DockerPool{Image: "i", Network: "n", ServerURL: "http://s"}}
			tc.edit(p)
			err := p.Validate()
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
	require.ErrorContains(t, ValidatePools([]Pool{*testPool(t, nil), *testPool(t, nil)}), "defined twice")
}

// A price in the config file is a money string; a bare number, the old
// form, is refused naming the new one.
func TestPoolPriceIsMoney(t *testing.T) {
	t.Parallel()
	var cfg struct {
		Pools []Pool `toml:"pools"`
	}
	_, err := toml.Decode(`[[pools]]
name = "cpu"
price_per_hour = 0.0119
`, &cfg)
	require.ErrorContains(t, err, `0.0119 is a bare number: write the amount with its currency as a string, e.g. "0.0119 EUR"`)

	p := testPool(t, func(p *Pool) { p.PricePerHour, p.MaxSpendPerHour = "0.0119 EUR", "0.05 EUR" })
	require.Equal(t, Price{Micros: 11900, Currency: "EUR"}, p.Price())
	// 0.05 / 0.0119 is 4.2: the ceiling is 4 machines, counted in
	// integers (a float division could make 0.05/0.0125 come out 3.99).
	d := Decide(p, Snapshot{Now: time.Now(), Queued: make([]Demand, 40)})
	require.Equal(t, 3, d.Target, d.Reason) // max 3 first
	p = testPool(t, func(p *Pool) { p.Max, p.PricePerHour, p.MaxSpendPerHour = 10, "0.0125 EUR", "0.05 EUR" })
	d = Decide(p, Snapshot{Now: time.Now(), Queued: make([]Demand, 40)})
	require.Equal(t, 4, d.Target, d.Reason)
	require.Contains(t, d.Reason, "capped by max_spend_per_hour 0.05 EUR (0.0125 each")
}

func TestWorkerPriced(t *testing.T) {
	t.Parallel()
	p := testPool(t, func(p *Pool) { p.PricePerHour = "0.0119 EUR"; hourly := true; p.BilledHourly = &hourly })
	args := WorkerArgs(p, "m", "http://s", "", p.Price())
	require.Equal(t, []string{"--price-per-hour", "0.0119", "--currency", "EUR", "--billing-period", "1h"}, args[len(args)-6:])
	unpriced := testPool(t, nil)
	require.NotContains(t, WorkerArgs(unpriced, "m", "http://s", "", unpriced.Price()), "--price-per-hour")
	perSecond := testPool(t, func(p *Pool) { p.PricePerHour = "0.02 USD" })
	args = WorkerArgs(perSecond, "m", "http://s", "", perSecond.Price())
	require.Equal(t, []string{"--price-per-hour", "0.02", "--currency", "USD"}, args[len(args)-4:])
}
