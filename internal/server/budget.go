package server

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/money"
	"github.com/rgrid/rgrid/internal/store"
)

// Budgets. A user's monthly budget (PUT /v1/users/{name}/budget) is
// checked at every submission: the jobs' worst case, their time limit
// times the dearest live worker's rate for them, for each run they may
// have (1 + retries), is held against it with what the month's jobs cost
// and what is held for the user's unfinished jobs (store.HoldBudget); a
// submission that does not fit, or any once the budget is used up, is
// refused with 402 budget_exceeded. A job without a time limit gets
// Options.BudgetJobTimeout, so that it has a worst case.

// warnPercent is how much of a budget a submission may take before it
// is answered with a warning (client.WarningHeader).
const warnPercent = 80

// maxBudget bounds a budget (a million units of its currency).
const maxBudget = 1_000_000 * money.Micro

// checkBudget refuses a budget out of range or in a currency that is not
// an ISO 4217 code, fix saying the command; no budget (nil) clears the
// currency.
func checkBudget(micros *int64, currency *string, fix string) error {
	switch {
	case micros == nil:
		*currency = ""
	case *micros < 0 || *micros > maxBudget:
		return errorf(client.CodeInvalidRequest, fix, "a budget of %d micro-units is out of range (0 to %d)", *micros, int64(maxBudget))
	case !currencyCode.MatchString(*currency):
		return errorf(client.CodeInvalidRequest, fix, "currency %q is not a three-letter ISO 4217 code such as EUR", *currency)
	}
	return nil
}

func (s *Server) setUserBudget(w http.ResponseWriter, r *http.Request) {
	var req client.UserBudgetRequest
	if err := decodeJSON(w, r, 1<<16, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := checkBudget(req.Micros, &req.Currency, "rgrid admin user budget NAME 50 --currency EUR (or --none)"); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.updateUser(w, r, "user.budget", func(ctx context.Context, id string) (store.User, error) {
		return s.store.SetUserBudget(ctx, id, req.Micros, req.Currency)
	}, func(u store.User) string {
		if u.BudgetMicros == nil {
			return "none"
		}
		return money.Format(*u.BudgetMicros) + " " + u.BudgetCurrency + " per month"
	})
}

// budgeted is the request's user when they have a budget, as last read.
func (s *Server) budgeted(r *http.Request) (store.User, bool) {
	p := caller(r)
	if p.kind != asUser {
		return store.User{}, false
	}
	u := p.user
	if us, err := s.usersByID(r.Context()); err == nil {
		if cur, ok := us[p.user.ID]; ok {
			u = cur
		}
	}
	return u, u.BudgetMicros != nil
}

// holdBudget holds the worst case of jobs (their limits as given, which
// a job without a time limit gets Options.BudgetJobTimeout in) against
// the request's user's budget, if they have one. release undoes the
// holds of jobs that were not made after all (nil when nothing is held).
func (s *Server) holdBudget(w http.ResponseWriter, r *http.Request, jobs []*store.NewJob) (release func(ids ...string), err error) {
	var ws []store.Worker
	listed := false
	workers := func() ([]store.Worker, error) { // read once for both checks
		if listed {
			return ws, nil
		}
		var err error
		ws, err = s.store.ListWorkers(r.Context())
		listed = err == nil
		return ws, err
	}
	warnings, err := s.checkPoolBudgets(r.Context(), workers)
	if err != nil {
		return nil, err
	}
	for _, m := range warnings {
		w.Header().Add(client.WarningHeader, m)
	}
	u, ok := s.budgeted(r)
	if !ok {
		return func(...string) {}, nil
	}
	now := s.opts.Now().UTC()
	if _, err := workers(); err != nil {
		return nil, err
	}
	holds := make([]store.Hold, len(jobs))
	for i, nj := range jobs {
		if nj.Limits.TimeoutSeconds == 0 {
			nj.Limits.TimeoutSeconds = int64(s.opts.BudgetJobTimeout / time.Second)
		}
		holds[i] = store.Hold{JobID: nj.ID, Micros: worstCase(*nj, ws, u.BudgetCurrency)}
	}
	used, err := s.store.HoldBudget(r.Context(), store.HoldParams{UserID: u.ID, Budget: *u.BudgetMicros,
		Currency: u.BudgetCurrency, PeriodStart: store.MonthStart(now), Holds: holds, Now: now})
	var be *store.BudgetExceededError
	if errors.As(err, &be) {
		reset := store.MonthStart(now).AddDate(0, 1, 0)
		return nil, errorf(client.CodeBudgetExceeded,
			fmt.Sprintf("wait for the budget to start again on %s, ask an admin to raise it (rgrid admin user budget %s AMOUNT), or hold less: a shorter --timeout, fewer --retries, smaller --cpus/--memory",
				reset.Format(time.DateOnly), u.Name),
			"user %s's budget of %s %s for %s is used up or too small for this: %s %s spent or held, this submission holds up to %s %s",
			u.Name, money.Format(be.Budget), be.Currency, now.Format("January 2006"),
			money.Format(be.Used), be.Currency, money.Format(be.Asked), be.Currency).
			with("budget_micros", be.Budget).with("used_micros", be.Used).with("asked_micros", be.Asked).
			with("currency", be.Currency).with("resets", reset.Format(time.DateOnly))
	}
	if err != nil {
		return nil, err
	}
	if b := *u.BudgetMicros; used*100 >= b*warnPercent {
		w.Header().Add(client.WarningHeader, fmt.Sprintf("%d%% of %s's budget of %s %s for %s is spent or held (it starts again on %s)",
			min(used*100/max(b, 1), 100), u.Name, money.Format(b), u.BudgetCurrency, now.Format("January 2006"),
			store.MonthStart(now).AddDate(0, 1, 0).Format(time.DateOnly)))
	}
	return func(ids ...string) {
		if len(ids) == 0 {
			return
		}
		if err := s.store.ReleaseHolds(r.Context(), ids); err != nil {
			// The holds lapse by themselves a minute after their jobs
			// were to be made.
			s.log.Warn("release budget holds", "err", err)
		}
	}, nil
}

// worstCase is what job nj may cost at most on the live workers priced
// in currency: its time limit at the dearest one's rate for it, for each
// run it may have.
func worstCase(nj store.NewJob, ws []store.Worker, currency string) int64 {
	var rate int64
	for _, w := range ws {
		if w.State != "dead" && w.Pricing.Currency == currency {
			rate = max(rate, store.Rate(w.Pricing, w.Slots, nj.Limits))
		}
	}
	runs := float64(1 + nj.Retries)
	return int64(math.Ceil(float64(rate) * float64(nj.Limits.TimeoutSeconds) / 3600 * runs))
}
