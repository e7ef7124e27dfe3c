package store

import (
	"context"
	"math"
	"time"
)

// Pricing is what a worker costs: its price per hour in micro-units of
// Currency (an ISO 4217 code such as EUR), the capacity a job's share is
// taken of, and how its provider bills (BillingSeconds: the granularity
// of paid time, 0 for per second). Money is integer micro-units
// throughout: 0.02 EUR is 20000.
type Pricing struct {
	PriceMicros    int64
	Currency       string
	CPUs           float64
	MemoryBytes    int64
	BillingSeconds int64
}

// Rate is what a job with limits l is charged per hour on a worker
// priced p: the price times the job's share of the worker, the larger of
// its CPUs over the worker's and its memory over the worker's, at most
// the whole worker. A job that sets neither (or a worker that does not
// say its capacity) has one slot's share of a worker with slots slots. The drivers compute the same
// in SQL when they claim (the conformance suite checks that they agree).
func Rate(p Pricing, slots int, l Limits) int64 {
	if p.PriceMicros <= 0 {
		return 0
	}
	// floor(x + 0.5), as the drivers round in SQL (math.Round differs
	// from some databases' round at exact halves).
	return int64(math.Floor(float64(p.PriceMicros)*Share(p, slots, l) + 0.5))
}

// Share is the part of a worker priced p, with slots slots, that a job
// with limits l takes (see Rate), in (0, 1].
func Share(p Pricing, slots int, l Limits) float64 {
	slot := 1.0
	if slots > 1 {
		slot = 1 / float64(slots)
	}
	cpu, mem := slot, slot
	if p.CPUs > 0 && l.CPUs > 0 {
		cpu = l.CPUs / p.CPUs
	}
	if p.MemoryBytes > 0 && l.MemoryBytes > 0 {
		mem = float64(l.MemoryBytes) / float64(p.MemoryBytes)
	}
	return min(1, max(cpu, mem))
}

// Cost is what an attempt charged at rate micro-units per hour costs
// for a run from started to finished (nil finished: until now), rounded
// to the nearest micro-unit. An attempt that never started costs nothing.
func Cost(rate int64, started, finished *time.Time, now time.Time) int64 {
	if rate <= 0 || started == nil {
		return 0
	}
	end := now
	if finished != nil {
		end = *finished
	}
	ms := end.Sub(*started).Milliseconds()
	if ms <= 0 {
		return 0
	}
	return micros(rate, ms)
}

// micros is rate (per hour) × ms, rounded half up, without overflow for
// any rate and run time RGrid can hold.
func micros(rate, ms int64) int64 {
	const hour = int64(time.Hour / time.Millisecond)
	whole := rate / hour * ms
	rest := rate % hour
	return whole + (rest*ms+hour/2)/hour
}

// Cost is what attempt a cost, or costs so far while it runs.
func (a Attempt) Cost(now time.Time) int64 {
	return Cost(a.RateMicros, a.StartedAt, a.FinishedAt, now)
}

// Charge is one priced attempt, with whom it is charged to: what the
// cost reports sum.
type Charge struct {
	JobID    string
	Attempt  int
	Owner    string
	BatchID  string
	WorkerID string
	// Pool is the pool of the worker's token as the worker is registered
	// now ("" for none, or a worker no longer registered).
	Pool       string
	State      State
	RateMicros int64
	Currency   string
	StartedAt  *time.Time
	FinishedAt *time.Time
}

// Cost is what c costs, or so far at now while it runs.
func (c Charge) Cost(now time.Time) int64 {
	return Cost(c.RateMicros, c.StartedAt, c.FinishedAt, now)
}

// CostStore reads what jobs cost.
type CostStore interface {
	// Charges returns the priced attempts that ended in [since, until),
	// and those running now when running is set, oldest end first (the
	// running ones last).
	Charges(ctx context.Context, since, until time.Time, running bool) ([]Charge, error)
}
