package store

import (
	"context"
	"errors"
	"fmt"
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
	Pool string
	// State is the attempt's, JobState its job's as it is now.
	State      State
	JobState   State
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
	// BatchCharges returns the priced attempts of a batch's items, ended
	// and running.
	BatchCharges(ctx context.Context, batchID string) ([]Charge, error)
}

// ErrBudgetExceeded: a hold would take a user past their budget; a
// *BudgetExceededError says by how much.
var ErrBudgetExceeded = errors.New("budget exceeded")

// BudgetExceededError is ErrBudgetExceeded with the figures.
type BudgetExceededError struct {
	Used, Asked, Budget int64 // micro-units
	Currency            string
}

func (e *BudgetExceededError) Error() string {
	return fmt.Sprintf("budget exceeded: %d used or held of %d %s, %d more asked", e.Used, e.Budget, e.Currency, e.Asked)
}

// Is makes errors.Is(err, ErrBudgetExceeded) hold.
func (e *BudgetExceededError) Is(target error) bool { return target == ErrBudgetExceeded }

// Hold is one job's worst case held against its owner's budget.
type Hold struct {
	JobID  string
	Micros int64
}

// HoldParams hold jobs' worst cases against a user's budget of Budget
// micro-units of Currency for the period from PeriodStart.
type HoldParams struct {
	UserID      string
	Budget      int64
	Currency    string
	PeriodStart time.Time
	Holds       []Hold
	Now         time.Time
}

// holdGrace is how long a hold counts before its job's row exists (the
// job is created after its hold, in its own transaction).
const holdGrace = time.Minute

// HoldSince is the creation time after which a hold whose job does not
// exist still counts, at now.
func HoldSince(now time.Time) time.Time { return now.Add(-holdGrace) }

// BudgetStore keeps budgets' holds.
type BudgetStore interface {
	// BudgetUsed is what a user's budget has used since periodStart: the
	// cost of their attempts in currency that ended since then, and the
	// holds of their jobs not yet finished.
	BudgetUsed(ctx context.Context, userID, currency string, periodStart, now time.Time) (int64, error)
	// HoldBudget records p's holds if what the budget has used and they
	// fit in it (and it is not used up already: a budget at 100% takes
	// nothing more, not even a job held at nothing), in one transaction that no other hold of the user's
	// passes (so two at once cannot both take the last of a budget); a
	// *BudgetExceededError if not. It returns what is used with them.
	HoldBudget(ctx context.Context, p HoldParams) (int64, error)
	// ReleaseHolds removes jobs' holds (their creation failed).
	ReleaseHolds(ctx context.Context, jobIDs []string) error
}

// MonthStart is the first instant of t's calendar month (UTC), when
// budgets start again.
func MonthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// PoolBudget is a pool's monthly budget: Micros of Currency per calendar
// month (UTC).
type PoolBudget struct {
	Pool      string
	Micros    int64
	Currency  string
	UpdatedAt time.Time
}

// PoolBudgetStore keeps pools' budgets; a claim by a worker of a pool
// with one holds against it (ClaimParams.Pool).
type PoolBudgetStore interface {
	// SetPoolBudget sets a pool's budget, or removes it (micros nil).
	SetPoolBudget(ctx context.Context, pool string, micros *int64, currency string, now time.Time) error
	// PoolBudgets lists the pools' budgets by name.
	PoolBudgets(ctx context.Context) ([]PoolBudget, error)
	// PoolBudgetUsed is what a pool's budget in currency has used since
	// periodStart: the holds of its attempts leased or running, and the
	// cost of those that ended since then.
	PoolBudgetUsed(ctx context.Context, pool, currency string, periodStart time.Time) (int64, error)
}

// HoldMicros is the worst case of one attempt charged rate micro-units
// an hour with a time limit of timeoutSeconds: the limit's cost, rounded
// up to a micro-unit.
func HoldMicros(rate, timeoutSeconds int64) int64 {
	if rate <= 0 || timeoutSeconds <= 0 {
		return 0
	}
	const hour = 3600
	return rate/hour*timeoutSeconds + (rate%hour*timeoutSeconds+hour-1)/hour
}
