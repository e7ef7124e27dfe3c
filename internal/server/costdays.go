package server

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/rgrid/rgrid/internal/store"
)

// The console's cost page sums a period of up to 90 days. Its whole days
// that have ended are kept here once summed (by the database,
// store.CostSums): an attempt's end time is written once, when it ends,
// at the server's clock, so a day's sums do not change once the day is
// over (after costDayGrace, for replicas' clocks and reports in flight).
// Only the partial first day and the days since the last closed one are
// read again on each view; the rest are one row per key and day.

// costDayGrace is how long after its end a day is taken as closed.
const costDayGrace = 10 * time.Minute

// maxCostDays bounds the cached days' entries (a bound far above what
// the cost page's periods and users need).
const maxCostDays = 100_000

type costDayKey struct {
	day   time.Time
	by    string
	owner string
	set   bool
}

type costDayCache struct {
	mu sync.Mutex
	m  map[costDayKey][]store.CostSum
}

// costSums is store.CostSums over p's period, the closed days of it from
// the cache. The rows of one key and currency from several days are
// added up: a job retried across midnight counts once on each day.
func (s *Server) costSums(ctx context.Context, p store.CostSumParams) ([]store.CostSum, error) {
	day := 24 * time.Hour
	first := p.Since.UTC().Truncate(day)
	if first.Before(p.Since) {
		first = first.Add(day)
	}
	closed := p.Now.Add(-costDayGrace).UTC().Truncate(day) // the days before it are closed
	if !first.Before(closed) || !p.Until.After(closed) {
		return s.store.CostSums(ctx, p)
	}
	rows := map[[2]string]store.CostSum{}
	add := func(cs []store.CostSum) {
		for _, c := range cs {
			k := [2]string{c.Key, c.Currency}
			r := rows[k]
			r.Key, r.Currency = c.Key, c.Currency
			r.Jobs += c.Jobs
			r.Attempts += c.Attempts
			r.RunMillis += c.RunMillis
			r.Micros += c.Micros
			rows[k] = r
		}
	}
	// The partial first day, then the days since the last closed one
	// (and the running attempts), read now.
	head, tail := p, p
	head.Until, head.Running = first, false
	tail.Since = closed
	for _, q := range []store.CostSumParams{head, tail} {
		if !q.Until.After(q.Since) {
			continue
		}
		cs, err := s.store.CostSums(ctx, q)
		if err != nil {
			return nil, err
		}
		add(cs)
	}
	for d := first; d.Before(closed); d = d.Add(day) {
		k := costDayKey{day: d, by: p.By, owner: p.Owner, set: p.OwnerSet}
		s.costDays.mu.Lock()
		cs, ok := s.costDays.m[k]
		s.costDays.mu.Unlock()
		if !ok {
			q := p
			q.Since, q.Until, q.Running = d, d.Add(day), false
			var err error
			if cs, err = s.store.CostSums(ctx, q); err != nil {
				return nil, err
			}
			s.costDays.mu.Lock()
			if s.costDays.m == nil || len(s.costDays.m) >= maxCostDays {
				s.costDays.m = map[costDayKey][]store.CostSum{}
			}
			s.costDays.m[k] = cs
			s.costDays.mu.Unlock()
		}
		add(cs)
	}
	out := make([]store.CostSum, 0, len(rows))
	for _, r := range rows {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b store.CostSum) int {
		return cmp.Or(cmp.Compare(b.Micros, a.Micros), cmp.Compare(a.Key, b.Key), cmp.Compare(a.Currency, b.Currency))
	})
	return out, nil
}
