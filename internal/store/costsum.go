package store

import (
	"context"
	"time"
)

// Cost sums for pages that must not read every attempt: the drivers add
// up, in SQL, what store.Cost gives each attempt (rounded per attempt as
// it rounds), so a report over a million jobs reads one row per key.

// CostSumParams select the priced attempts a sum covers: those that ended
// in [Since, Until), and with Running those running now (at Now, their
// cost so far), of Owner's jobs when OwnerSet; summed by By ("user": the
// job's owner id, "batch": its batch id, "worker": the attempt's worker,
// "": one line per currency).
type CostSumParams struct {
	Since, Until time.Time
	Running      bool
	Now          time.Time
	Owner        string
	OwnerSet     bool
	By           string
}

// CostSumKeys are the values of CostSumParams.By.
var CostSumKeys = []string{"", "user", "batch", "worker"}

// CostSum is one key's attempts in one currency: how many (and of how
// many jobs), their run time and what they cost.
type CostSum struct {
	Key       string
	Currency  string
	Jobs      int64
	Attempts  int64
	RunMillis int64
	Micros    int64
}

// BatchCostSum is what a batch's items cost so far in one currency, and
// the part of it of items that have ended (for the projection).
type BatchCostSum struct {
	Currency   string
	Micros     int64
	DoneMicros int64
}

// CostSumStore sums what jobs cost in the database.
type CostSumStore interface {
	// CostSums sums the attempts p selects, costliest first.
	CostSums(ctx context.Context, p CostSumParams) ([]CostSum, error)
	// BatchCostSums sums the attempts of a batch's items, ended and
	// running (at now), per currency, costliest first.
	BatchCostSums(ctx context.Context, batchID string, now time.Time) ([]BatchCostSum, error)
}
