package storetest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rgrid/rgrid/internal/store"
)

// testSecretEnv: a job's sealed secret environment is kept as the bytes
// given (any bytes: the store does not read them), on single jobs, jobs
// created together and a batch's items, through every read and a claim; a
// job without one reads nil.
func testSecretEnv(t *testing.T, s store.Store) {
	ctx := t.Context()
	sealed := []byte("\x00sealed\xff{\"names\":[\"A\"]}")
	nj := newJob("sec-0")
	nj.SecretEnv = sealed
	j, err := s.CreateJob(ctx, nj)
	require.NoError(t, err)
	require.Equal(t, sealed, j.SecretEnv)

	more := []store.NewJob{newJob("sec-1"), newJob("sec-2")}
	more[1].SecretEnv = []byte("other")
	js, err := s.CreateJobs(ctx, more)
	require.NoError(t, err)
	require.Nil(t, js[0].SecretEnv)
	require.Equal(t, []byte("other"), js[1].SecretEnv)

	got, err := s.GetJob(ctx, "sec-0")
	require.NoError(t, err)
	require.Equal(t, sealed, got.SecretEnv)
	list, err := s.ListJobs(ctx, store.ListJobsParams{})
	require.NoError(t, err)
	byID := map[string][]byte{}
	for _, j := range list {
		byID[j.ID] = j.SecretEnv
	}
	require.Equal(t, map[string][]byte{"sec-0": sealed, "sec-1": nil, "sec-2": []byte("other")}, byID)

	nb := newBatch("secbat", 3)
	nb.Item.SecretEnv = []byte("not stored: each item has its own")
	nb.Items[0].SecretEnv = []byte("item 0")
	nb.Items[2].SecretEnv = []byte("item 2")
	createBatch(t, s, nb)
	its := items(t, s, "secbat")
	require.Len(t, its, 3)
	require.Equal(t, []byte("item 0"), its[0].SecretEnv)
	require.Nil(t, its[1].SecretEnv)
	require.Equal(t, []byte("item 2"), its[2].SecretEnv)

	claimed, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w1", Max: 10, Now: at(1)})
	require.NoError(t, err)
	require.Len(t, claimed, 6)
	want := map[string][]byte{"sec-0": sealed, "sec-1": nil, "sec-2": []byte("other"),
		"secbat-0": []byte("item 0"), "secbat-1": nil, "secbat-2": []byte("item 2")}
	for _, c := range claimed {
		require.Equal(t, want[c.ID], c.SecretEnv, "claimed %s", c.ID)
	}
	// A state change keeps it.
	done, err := s.FinishAttempt(ctx, store.FinishParams{JobID: "sec-0", Attempt: 1, State: store.StateSucceeded, Started: true, Now: at(2)})
	require.NoError(t, err)
	require.Equal(t, sealed, done.SecretEnv)
}
