package server

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/money"
	"github.com/rgrid/rgrid/internal/store"
)

// Pool budgets. A pool's monthly budget (PUT /v1/pools/{name}/budget) is
// checked when a worker of the pool (one whose token names it) claims a
// job: the store leases only jobs whose worst case, their time limit at
// the worker's rate, fits what is left, and holds it (store.ClaimParams
// Pool); a job that does not fit waits for a worker of another pool. A
// job without a time limit claimed by such a worker gets
// Options.BudgetJobTimeout. A submission is refused with 402
// budget_exceeded when every pool that could run it, every pool of a live
// worker or the autoscaler, has used up its budget.

func (s *Server) setPoolBudget(w http.ResponseWriter, r *http.Request) {
	var req client.PoolBudgetRequest
	if err := decodeJSON(w, r, 1<<16, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	fix := "rgrid admin pool budget NAME 50 --currency EUR (or --none)"
	pool := r.PathValue("name")
	if pool == "" || len(pool) > 100 || strings.ContainsFunc(pool, func(c rune) bool { return c < ' ' || c == 0x7f }) {
		s.writeError(w, r, errorf(client.CodeInvalidRequest, fix, "pool name %q: use the pool of its workers' tokens, at most 100 bytes", pool))
		return
	}
	if err := checkBudget(req.Micros, &req.Currency, fix); err != nil {
		s.writeError(w, r, err)
		return
	}
	now := s.opts.Now().UTC()
	if err := s.store.SetPoolBudget(r.Context(), pool, req.Micros, req.Currency, now); err != nil {
		s.writeError(w, r, err)
		return
	}
	out := client.PoolBudget{Pool: pool, Micros: req.Micros, Currency: req.Currency}
	detail := "none"
	if req.Micros != nil {
		detail = money.Format(*req.Micros) + " " + req.Currency + " per month"
		used, err := s.store.PoolBudgetUsed(r.Context(), pool, req.Currency, store.MonthStart(now))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		out.UsedMicros, out.Resets = used, budgetResets(now)
	}
	s.audit(r, "pool.budget", pool, detail)
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) listPoolBudgets(w http.ResponseWriter, r *http.Request) {
	now := s.opts.Now().UTC()
	bs, err := s.poolBudgets(r.Context(), now)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, client.PoolBudgetsResponse{Budgets: bs})
}

// poolBudgets are the pools' budgets with what they used this month.
func (s *Server) poolBudgets(ctx context.Context, now time.Time) ([]client.PoolBudget, error) {
	bs, err := s.store.PoolBudgets(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]client.PoolBudget, 0, len(bs))
	for _, b := range bs {
		used, err := s.store.PoolBudgetUsed(ctx, b.Pool, b.Currency, store.MonthStart(now))
		if err != nil {
			return nil, err
		}
		m := b.Micros
		out = append(out, client.PoolBudget{Pool: b.Pool, Micros: &m, Currency: b.Currency, UsedMicros: used, Resets: budgetResets(now)})
	}
	return out, nil
}

// budgetResets is the date budgets start again after now.
func budgetResets(now time.Time) string {
	return store.MonthStart(now).AddDate(0, 1, 0).Format(time.DateOnly)
}

// poolBudgeted says whether pool has a budget (a claim by its workers
// then fills a job's missing time limit, so that it has a worst case).
func (s *Server) poolBudgeted(ctx context.Context, pool string) (bool, error) {
	if pool == "" {
		return false, nil
	}
	bs, err := s.store.PoolBudgets(ctx)
	if err != nil {
		return false, err
	}
	for _, b := range bs {
		if b.Pool == pool {
			return true, nil
		}
	}
	return false, nil
}

// checkPoolBudgets refuses a submission with budget_exceeded when every
// pool that could run it has used up its budget: the pools of the live
// workers and the autoscaler's, none of them without a budget left (a
// live worker of no pool runs anything). When some can, it returns a
// warning for each of those with at least warnPercent of its budget spent
// or held.
func (s *Server) checkPoolBudgets(ctx context.Context, workers func() ([]store.Worker, error)) (warnings []string, err error) {
	bs, err := s.store.PoolBudgets(ctx)
	if err != nil || len(bs) == 0 {
		return nil, err
	}
	pools := map[string]bool{}
	ws, err := workers()
	if err != nil {
		return nil, err
	}
	if len(ws) > 0 {
		ts, err := s.store.ListTokens(ctx, "")
		if err != nil {
			return nil, err
		}
		tokenPool := map[string]string{}
		for _, t := range ts {
			tokenPool[t.ID] = t.Pool
		}
		for _, w := range ws {
			if w.State == "dead" {
				continue
			}
			p := tokenPool[w.TokenID]
			if p == "" {
				return nil, nil
			}
			pools[p] = true
		}
	}
	if s.opts.Pools != nil {
		ps, _ := s.opts.Pools()
		for _, p := range ps {
			pools[p.Name] = true
		}
	}
	if len(pools) == 0 {
		return nil, nil
	}
	now := s.opts.Now().UTC()
	budgets := map[string]store.PoolBudget{}
	for _, b := range bs {
		budgets[b.Pool] = b
	}
	var spent, warn []string
	room := false
	reset := budgetResets(now)
	for p := range pools {
		b, ok := budgets[p]
		if !ok {
			room = true
			continue
		}
		used, err := s.store.PoolBudgetUsed(ctx, p, b.Currency, store.MonthStart(now))
		if err != nil {
			return nil, err
		}
		if used < b.Micros {
			room = true
			if used*100 >= b.Micros*warnPercent {
				warn = append(warn, fmt.Sprintf("%d%% of pool %s's budget of %s %s for %s is spent or held (it starts again on %s)",
					used*100/max(b.Micros, 1), p, money.Format(b.Micros), b.Currency, now.Format("January 2006"), reset))
			}
			continue
		}
		spent = append(spent, fmt.Sprintf("pool %s's budget of %s %s (%s used or held)", p, money.Format(b.Micros), b.Currency, money.Format(used)))
	}
	if room {
		slices.Sort(warn)
		return warn, nil
	}
	slices.Sort(spent)
	return nil, errorf(client.CodeBudgetExceeded,
		fmt.Sprintf("wait for the budgets to start again on %s, or ask an admin to raise one (rgrid admin pool budget NAME AMOUNT)", reset),
		"every pool that could run this job has used up its budget for %s: %s", now.Format("January 2006"), strings.Join(spent, "; ")).
		with("resets", reset)
}
