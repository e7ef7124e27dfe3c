package worker

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rgrid/rgrid/client"
)

// fakeReports records the requests and answers every report as done, or
// a stale attempt for the job named "stale".
type fakeReports struct {
	mu   sync.Mutex
	reqs []client.ReportsRequest
}

func (f *fakeReports) Reports(_ context.Context, _ string, req client.ReportsRequest) (client.ReportsResponse, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	var resp client.ReportsResponse
	outcome := func(ref client.AttemptRef) client.ReportOutcome {
		if ref.JobID == "stale" {
			return client.ReportOutcome{Error: &client.Error{Code: client.CodeStaleAttempt, Message: "stale"}}
		}
		return client.ReportOutcome{}
	}
	for _, s := range req.Starts {
		resp.Starts = append(resp.Starts, outcome(s))
	}
	for _, r := range req.Results {
		resp.Results = append(resp.Results, outcome(r.AttemptRef))
	}
	return resp, nil
}

func (f *fakeReports) requests() []client.ReportsRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]client.ReportsRequest(nil), f.reqs...)
}

// waitQueued waits until n reports wait in r, results of them. (A result
// that folds a start in leaves the count as it was: the number of results
// tells that it was queued.)
func waitQueued(t *testing.T, r *reporter, n, results int) {
	t.Helper()
	require.Eventually(t, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		got := 0
		for _, p := range r.pending {
			if p.result != nil {
				got++
			}
		}
		return len(r.pending) == n && got == results
	}, 5*time.Second, time.Millisecond)
}

func TestReporterFoldsWaitingStartIntoResult(t *testing.T) {
	f := &fakeReports{}
	r := newReporter(f, "w")
	ctx := t.Context()
	a := client.AttemptRef{JobID: "a", Attempt: 1}
	b := client.AttemptRef{JobID: "b", Attempt: 2}
	stale := client.AttemptRef{JobID: "stale", Attempt: 1}
	errs := make(chan error, 6)
	report := func(fn func() error) { go func() { errs <- fn() }() }

	// Queued before the reporter runs: a's start and result (folded), b's
	// start alone, a result that does not say started (nothing folds),
	// and a stale attempt's start and result (the start gets the
	// result's refusal).
	report(func() error { _, err := r.start(ctx, a); return err })
	waitQueued(t, r, 1, 0)
	report(func() error { _, err := r.start(ctx, b); return err })
	waitQueued(t, r, 2, 0)
	report(func() error {
		return r.result(ctx, a, client.ResultReport{State: client.StateSucceeded, Started: true})
	})
	waitQueued(t, r, 2, 1)
	report(func() error { return r.result(ctx, b, client.ResultReport{State: client.StateError}) })
	waitQueued(t, r, 3, 2)
	report(func() error { _, err := r.start(ctx, stale); return err })
	waitQueued(t, r, 4, 2)
	report(func() error {
		return r.result(ctx, stale, client.ResultReport{State: client.StateFailed, Started: true})
	})
	waitQueued(t, r, 4, 3)

	_ = r.Start(ctx)
	t.Cleanup(r.Stop)
	var stales int
	for range 6 {
		select {
		case err := <-errs:
			if err != nil {
				require.True(t, client.IsCode(err, client.CodeStaleAttempt), "%v", err)
				stales++
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a report was never answered")
		}
	}
	require.Equal(t, 2, stales, "the folded start of a stale attempt is refused with its result")
	reqs := f.requests()
	require.Len(t, reqs, 1)
	require.Equal(t, []client.AttemptRef{b}, reqs[0].Starts)
	require.Len(t, reqs[0].Results, 3)
	require.Equal(t, a, reqs[0].Results[0].AttemptRef)
	require.True(t, reqs[0].Results[0].Started)
	require.Equal(t, b, reqs[0].Results[1].AttemptRef)
	require.Equal(t, stale, reqs[0].Results[2].AttemptRef)
}

func TestReporterSendsInOrder(t *testing.T) {
	f := &fakeReports{}
	r := newReporter(f, "w")
	_ = r.Start(t.Context())
	t.Cleanup(r.Stop)
	// A quiet worker: each report goes alone, at once, in order.
	for i := range 3 {
		ref := client.AttemptRef{JobID: "q", Attempt: i + 1}
		_, err := r.start(t.Context(), ref)
		require.NoError(t, err)
		require.NoError(t, r.result(t.Context(), ref, client.ResultReport{State: client.StateSucceeded, Started: true}))
	}
	reqs := f.requests()
	require.Len(t, reqs, 6)
	for i, req := range reqs {
		if i%2 == 0 {
			require.Len(t, req.Starts, 1)
			require.Empty(t, req.Results)
		} else {
			require.Empty(t, req.Starts)
			require.Len(t, req.Results, 1)
		}
	}
}
