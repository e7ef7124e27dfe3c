package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/database"
	"github.com/rgrid/rgrid/internal/runtimes"
	"github.com/rgrid/rgrid/internal/server"
	"github.com/rgrid/rgrid/internal/store"
)

// TestStartTimes: the phases a worker reports with an attempt's result
// (batched or alone) are returned per attempt by GET /v1/jobs/{id}, with
// the lease the server measures itself (from the submission, then from
// the end of the attempt that queued the job again); a worker's own lease
// figure is ignored, a negative phase refused naming it.
func TestStartTimes(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	b := setup(t, server.Options{Now: clock})
	ctx := t.Context()

	j, err := b.c.Submit(ctx, client.SubmitRequest{FileName: "x.py", Script: []byte("print(1)"), Retries: 1})
	require.NoError(t, err)
	advance(2 * time.Second)
	lj := b.leaseOne(t, "w1")
	ref1 := client.AttemptRef{JobID: j.ID, Attempt: lj.Attempt}

	bad := client.StartTimes{Image: time.Millisecond, FirstByte: -1}
	_, err = b.c.Reports(ctx, "w1", client.ReportsRequest{Results: []client.AttemptResult{{AttemptRef: ref1,
		ResultReport: client.ResultReport{State: client.StateFailed, ExitCode: new(int), Started: true, StartTimes: &bad}}}})
	status, code := apiCode(err)
	require.Equal(t, http.StatusBadRequest, status, "%v", err)
	require.Equal(t, client.CodeInvalidRequest, code)
	require.ErrorContains(t, err, "start_times.first_byte_ns")

	exit := 1
	first := client.StartTimes{Lease: time.Hour, Image: 3 * time.Millisecond, Stage: 2 * time.Millisecond,
		Container: 300 * time.Millisecond, FirstByte: 40 * time.Millisecond}
	advance(time.Second)
	resp, err := b.c.Reports(ctx, "w1", client.ReportsRequest{Results: []client.AttemptResult{{AttemptRef: ref1,
		ResultReport: client.ResultReport{State: client.StateFailed, ExitCode: &exit, Started: true, StartTimes: &first}}}})
	require.NoError(t, err)
	require.Nil(t, resp.Results[0].Error)

	advance(3 * time.Second) // queued again for its retry: the second lease waits from the first's end
	l, err := b.c.Lease(ctx, "w1", client.LeaseRequest{Max: 1})
	require.NoError(t, err)
	require.Len(t, l.Jobs, 1)
	ref2 := client.AttemptRef{JobID: j.ID, Attempt: l.Jobs[0].Attempt}
	second := client.StartTimes{Stage: time.Millisecond, Container: 200 * time.Millisecond, FirstByte: 1}
	_, err = b.c.ReportResult(ctx, ref2, client.ResultReport{State: client.StateSucceeded, ExitCode: new(int), Started: true, StartTimes: &second})
	require.NoError(t, err)

	got, err := b.c.Job(ctx, j.ID)
	require.NoError(t, err)
	require.Len(t, got.Attempts, 2)
	first.Lease = 2 * time.Second
	second.Lease = 3 * time.Second
	require.Equal(t, &first, got.Attempts[0].Start)
	require.Equal(t, &second, got.Attempts[1].Start)

	// A job still queued has no attempt, so no start times; one leased
	// shows its lease alone until its worker reports.
	j2, err := b.c.Submit(ctx, client.SubmitRequest{FileName: "y.py", Script: []byte("print(2)")})
	require.NoError(t, err)
	advance(500 * time.Millisecond)
	b.leaseOne(t, "w2")
	got, err = b.c.Job(ctx, j2.ID)
	require.NoError(t, err)
	require.Len(t, got.Attempts, 1)
	require.Equal(t, &client.StartTimes{Lease: 500 * time.Millisecond}, got.Attempts[0].Start)
}

// finishChecker is a store that notes, at each finish, whether the
// attempt's start times were already stored.
type finishChecker struct {
	store.Store
	mu      sync.Mutex
	missing []string // attempts finished before their start times
}

func (f *finishChecker) check(ctx context.Context, ps []store.FinishParams) {
	for _, p := range ps {
		ts, err := f.StartTimes(ctx, p.JobID)
		found := err == nil && slices.ContainsFunc(ts, func(t store.StartTimes) bool { return t.Attempt == p.Attempt })
		if !found {
			f.mu.Lock()
			f.missing = append(f.missing, fmt.Sprintf("%s/%d", p.JobID, p.Attempt))
			f.mu.Unlock()
		}
	}
}

func (f *finishChecker) FinishAttempt(ctx context.Context, p store.FinishParams) (store.Job, error) {
	f.check(ctx, []store.FinishParams{p})
	return f.Store.FinishAttempt(ctx, p)
}

func (f *finishChecker) FinishAttempts(ctx context.Context, ps []store.FinishParams) ([]store.Job, []error, error) {
	f.check(ctx, ps)
	return f.Store.FinishAttempts(ctx, ps)
}

// TestStartTimesStoredBeforeTheResult: a result's start times are stored
// before the result itself, so that whoever sees the job finished (rgrid
// run, then rgrid status -v) sees them too; both report paths.
func TestStartTimesStoredBeforeTheResult(t *testing.T) {
	t.Parallel()
	st, err := database.Open(t.Context(), filepath.Join(t.TempDir(), "rgrid.db"), database.Options{Migrate: true})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	fc := &finishChecker{Store: st}
	rt, _ := runtimes.New(nil)
	ts := httptest.NewServer(server.New(fc, rt, slog.New(slog.DiscardHandler), server.Options{}).Handler())
	t.Cleanup(ts.Close)
	c, err := client.New(ts.URL, "")
	require.NoError(t, err)
	b := bundle{c: c, url: ts.URL}
	ctx := t.Context()
	times := client.StartTimes{Image: time.Millisecond, Stage: time.Millisecond, Container: time.Millisecond, FirstByte: time.Millisecond}
	for _, batched := range []bool{true, false} {
		j, err := c.Submit(ctx, client.SubmitRequest{FileName: "x.py", Script: []byte("print(1)")})
		require.NoError(t, err)
		lj := b.leaseOne(t, "w1")
		require.Equal(t, j.ID, lj.Job.ID)
		ref := client.AttemptRef{JobID: j.ID, Attempt: lj.Attempt}
		res := client.ResultReport{State: client.StateSucceeded, ExitCode: new(int), Started: true, StartTimes: &times}
		if batched {
			resp, err := c.Reports(ctx, "w1", client.ReportsRequest{Results: []client.AttemptResult{{AttemptRef: ref, ResultReport: res}}})
			require.NoError(t, err)
			require.Nil(t, resp.Results[0].Error)
		} else {
			_, err = c.ReportResult(ctx, ref, res)
			require.NoError(t, err)
		}
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	require.Empty(t, fc.missing, "attempts finished before their start times were stored")
}
