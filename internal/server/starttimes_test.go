package server_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/server"
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
