package server

import (
	"cmp"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/store"
)

// costBys are the keys GET /v1/cost sums by.
var costBys = []string{"user", "batch", "pool", "worker", "day"}

// maxCostPeriod bounds a report's period: the charges of a period are
// read whole.
const maxCostPeriod = 400 * 24 * time.Hour

// costReport answers GET /v1/cost?since=7d&until=…&by=user: the caller's
// own jobs for a user, every job and the idle capacity for an admin.
func (s *Server) costReport(w http.ResponseWriter, r *http.Request) {
	now := s.opts.Now().UTC()
	q := r.URL.Query()
	since, err := parseSince(q.Get("since"), now, now.Add(-30*24*time.Hour))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	until, err := parseSince(q.Get("until"), now, now)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !until.After(since) || until.Sub(since) > maxCostPeriod {
		s.writeError(w, r, errorf(client.CodeInvalidRequest, "give a period of at most 400 days, since before until",
			"the period %s to %s is not valid", since.Format(time.RFC3339), until.Format(time.RFC3339)))
		return
	}
	by := cmp.Or(q.Get("by"), "user")
	if !slices.Contains(costBys, by) {
		s.writeError(w, r, errorf(client.CodeInvalidRequest, "use by="+strings.Join(costBys, ", by="),
			"cannot sum costs by %q", by))
		return
	}
	p := caller(r)
	charges, err := s.store.Charges(r.Context(), since, until, !until.Before(now))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	names := map[string]string{}
	if by == "user" {
		us, err := s.store.ListUsers(r.Context())
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		for _, u := range us {
			names[u.ID] = u.Name
		}
	}
	out := client.CostReport{Since: since, Until: until, By: by, Rows: []client.CostRow{}, Total: []client.Money{}}
	rows := costRows{}
	byWorker := map[string]int64{} // what each worker's jobs were charged, everyone's
	for _, c := range charges {
		cost := c.Cost(now)
		byWorker[c.WorkerID] += cost
		if !p.admin() && c.Owner != p.owner() {
			continue
		}
		key := costKey(by, c, names, now)
		rows.add(key, c.Currency, c.JobID, cost, runSeconds(c, now))
	}
	out.Rows = rows.list()
	totals := map[string]int64{}
	for _, row := range out.Rows {
		totals[row.Cost.Currency] += row.Cost.Micros
	}
	for _, cur := range slices.Sorted(maps.Keys(totals)) {
		out.Total = append(out.Total, client.Money{Micros: totals[cur], Currency: cur})
	}
	if p.admin() {
		if out.Idle, err = s.idleCost(r, since, until, now, byWorker); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// idleCost is, per pool and currency, what the priced workers cost over
// [since, until) less what their jobs were charged (never below zero).
// A worker's paid time is its registration's overlap with the period,
// rounded up to its billing period.
func (s *Server) idleCost(r *http.Request, since, until, now time.Time, charged map[string]int64) ([]client.CostRow, error) {
	ws, err := s.store.ListWorkers(r.Context())
	if err != nil {
		return nil, err
	}
	pools, err := s.workerPools(r)
	if err != nil {
		return nil, err
	}
	rows := costRows{}
	for _, w := range ws {
		if w.Pricing.PriceMicros <= 0 {
			continue
		}
		from, to := maxTime(since, w.RegisteredAt), minTime(until, minTime(w.LastHeartbeat, now))
		if !to.After(from) {
			continue
		}
		paid := to.Sub(from)
		if g := time.Duration(w.Pricing.BillingSeconds) * time.Second; g > 0 {
			paid = (paid + g - 1) / g * g
		}
		start := from
		end := from.Add(paid)
		cost := store.Cost(w.Pricing.PriceMicros, &start, &end, now) - charged[w.ID]
		rows.add(cmp.Or(pools[w.TokenID], "(no pool)"), w.Pricing.Currency, "", max(cost, 0), paid.Seconds())
	}
	return rows.list(), nil
}

// workerPools maps worker token ids to their pools.
func (s *Server) workerPools(r *http.Request) (map[string]string, error) {
	ts, err := s.store.ListTokens(r.Context(), "")
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(ts))
	for _, t := range ts {
		if t.Kind == store.TokenWorker {
			out[t.ID] = t.Pool
		}
	}
	return out, nil
}

func costKey(by string, c store.Charge, names map[string]string, now time.Time) string {
	switch by {
	case "user":
		if c.Owner == "" {
			return "(no user)"
		}
		return cmp.Or(names[c.Owner], c.Owner)
	case "batch":
		return cmp.Or(c.BatchID, "(no batch)")
	case "pool":
		return cmp.Or(c.Pool, "(no pool)")
	case "worker":
		return c.WorkerID
	}
	end := now
	if c.FinishedAt != nil {
		end = *c.FinishedAt
	}
	return end.UTC().Format(time.DateOnly)
}

func runSeconds(c store.Charge, now time.Time) float64 {
	if c.StartedAt == nil {
		return 0
	}
	end := now
	if c.FinishedAt != nil {
		end = *c.FinishedAt
	}
	return max(end.Sub(*c.StartedAt).Seconds(), 0)
}

// costRows sums rows by key and currency.
type costRows map[[2]string]*costRow

type costRow struct {
	client.CostRow
	jobs map[string]bool
}

func (rs costRows) add(key, currency, job string, micros int64, seconds float64) {
	k := [2]string{key, currency}
	row := rs[k]
	if row == nil {
		row = &costRow{CostRow: client.CostRow{Key: key, Cost: client.Money{Currency: currency}}, jobs: map[string]bool{}}
		rs[k] = row
	}
	if job != "" {
		row.Attempts++
		row.jobs[job] = true
	}
	row.Jobs = len(row.jobs)
	row.RunSeconds += seconds
	row.Cost.Micros += micros
}

// list is the rows, costliest first.
func (rs costRows) list() []client.CostRow {
	out := make([]client.CostRow, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.CostRow)
	}
	slices.SortFunc(out, func(a, b client.CostRow) int {
		return cmp.Or(cmp.Compare(b.Cost.Micros, a.Cost.Micros), cmp.Compare(a.Key, b.Key), cmp.Compare(a.Cost.Currency, b.Cost.Currency))
	})
	return out
}

// parseSince reads a time as a duration before now ("7d", "36h", "90m"),
// a date (2026-11-01, midnight UTC) or an RFC 3339 time; "" is def.
func parseSince(v string, now, def time.Time) (time.Time, error) {
	if v == "" {
		return def, nil
	}
	bad := errorf(client.CodeInvalidRequest, "give a time as 7d, 36h, 2026-11-01 or 2026-11-01T12:00:00Z",
		"%q is not a time", v)
	if n, ok := strings.CutSuffix(v, "d"); ok {
		d, err := strconv.Atoi(n)
		if err != nil || d < 0 || d > 10_000 {
			return time.Time{}, bad
		}
		return now.Add(-time.Duration(d) * 24 * time.Hour), nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		if d < 0 {
			return time.Time{}, bad
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, bad
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
