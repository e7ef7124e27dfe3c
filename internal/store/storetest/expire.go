package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rgrid/rgrid/internal/store"
)

func testExpireOverdue(t *testing.T, s store.Store) {
	ctx := t.Context()
	withTimeout := func(id string, sec int64) store.NewJob {
		nj := newJob(id)
		nj.Limits.TimeoutSeconds = sec
		return nj
	}
	start := func(j store.Job, sec int) {
		t.Helper()
		_, err := s.StartAttempt(ctx, ref(j), at(sec))
		require.NoError(t, err)
	}
	over := claimAt(t, s, withTimeout("over", 300), "w", 1)
	start(over, 10)
	edge := claimAt(t, s, withTimeout("edge", 300), "w", 1)
	start(edge, 11)
	forever := claimAt(t, s, withTimeout("forever", 0), "w", 1)
	start(forever, 2)
	claimAt(t, s, withTimeout("leased", 1), "w", 1)
	done := claimAt(t, s, withTimeout("done", 1), "w", 1)
	start(done, 2)
	_, err := s.FinishAttempt(ctx, store.FinishParams{JobID: done.ID, Attempt: 1,
		State: store.StateSucceeded, ExitCode: intp(0), Now: at(3)})
	require.NoError(t, err)
	canceling := claimAt(t, s, withTimeout("canceling", 100), "w", 1)
	start(canceling, 2)
	_, err = s.RequestCancel(ctx, canceling.ID, at(3))
	require.NoError(t, err)

	const grace = 30 * time.Second
	got, err := s.ExpireOverdue(ctx, at(341), grace)
	require.NoError(t, err)
	require.Equal(t, []string{"over", "canceling"}, ids(got), "edge is due at 341, not before it")
	wantMsg := map[string]string{
		"over":      "ended by the server: still running 331 s after it started, past its 300 s time limit plus 30 s grace (its worker stopped reporting)",
		"canceling": "ended by the server: still running 339 s after it started, past its 100 s time limit plus 30 s grace (its worker stopped reporting)",
	}
	for _, j := range got {
		require.Equal(t, store.StateTimedOut, j.State)
		require.Equal(t, "server_timeout", j.Reason)
		require.Equal(t, wantMsg[j.ID], j.Message)
		require.Equal(t, timep(at(341)), j.FinishedAt)
		require.Nil(t, j.ExitCode)
		require.Equal(t, "w", j.WorkerID)
		stored, err := s.GetJob(ctx, j.ID)
		require.NoError(t, err)
		require.Equal(t, j, stored)
		attempts, err := s.ListAttempts(ctx, j.ID)
		require.NoError(t, err)
		require.Len(t, attempts, 1)
		require.Equal(t, store.StateTimedOut, attempts[0].State)
		require.Equal(t, "server_timeout", attempts[0].Reason)
		require.Equal(t, wantMsg[j.ID], attempts[0].Message)
		require.Equal(t, timep(at(341)), attempts[0].FinishedAt)
		requireStale(t, s, ref(j))
	}
	again, err := s.ExpireOverdue(ctx, at(341), grace)
	require.NoError(t, err)
	require.Empty(t, again)

	got, err = s.ExpireOverdue(ctx, at(342), 500*time.Millisecond)
	require.NoError(t, err)
	require.Equal(t, []string{"edge"}, ids(got))
	require.Equal(t, "ended by the server: still running 331 s after it started, past its 300 s time limit plus 0.5 s grace (its worker stopped reporting)", got[0].Message)

	for id, want := range map[string]store.State{"forever": store.StateRunning,
		"leased": store.StateLeased, "done": store.StateSucceeded} {
		j, err := s.GetJob(ctx, id)
		require.NoError(t, err)
		require.Equal(t, want, j.State, id)
	}
}
