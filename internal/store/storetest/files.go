package storetest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rgrid/rgrid/internal/store"
)

// A job's inputs and stdin are stored with it and handed to the worker
// that leases it; its outputs come with the result that ends it; the
// blobs both name are referenced, and only those.
func testJobFiles(t *testing.T, s store.Store) {
	ctx := t.Context()
	nj := newJob("files")
	nj.Inputs = []byte(`{"entries":[{"path":"a.py","kind":"file","size":3,"sha256":"aa"}]}`)
	nj.Stdin = store.BlobRef{SHA256: "cc", Size: 9}
	nj.Blobs = []string{"aa", "cc"}
	created, err := s.CreateJob(ctx, nj)
	require.NoError(t, err)
	require.Equal(t, nj.Stdin, created.Stdin)
	require.Nil(t, created.Inputs, "the manifest goes only to the worker")
	plain, err := s.CreateJob(ctx, newJob("plain"))
	require.NoError(t, err)
	require.Zero(t, plain.Stdin)

	claimed, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w", Max: 2, Now: at(1)})
	require.NoError(t, err)
	require.Len(t, claimed, 2)
	require.Equal(t, string(nj.Inputs), string(claimed[0].Inputs))
	require.Equal(t, nj.Stdin, claimed[0].Stdin)
	require.Nil(t, claimed[1].Inputs)

	refs, err := s.BlobsReferenced(ctx, []string{"aa", "bb", "cc", "dd"})
	require.NoError(t, err)
	require.Equal(t, map[string]bool{"aa": true, "cc": true}, refs)

	out := &store.Outputs{Manifest: []byte(`{"entries":[{"path":"out.txt","kind":"file","size":2,"sha256":"dd"}]}`),
		Skipped: []byte(`[{"path":"fifo","reason":"a FIFO"}]`), Blobs: []string{"dd"}}
	code := 0
	// One result alone, one through a batch: both paths record outputs.
	_, err = s.FinishAttempt(ctx, store.FinishParams{JobID: "files", Attempt: 1, State: store.StateSucceeded,
		ExitCode: &code, Outputs: out, Started: true, Now: at(2)})
	require.NoError(t, err)
	out2 := &store.Outputs{Manifest: []byte(`{"entries":[]}`), Blobs: nil}
	_, errs, err := s.FinishAttempts(ctx, []store.FinishParams{{JobID: "plain", Attempt: 1, State: store.StateSucceeded,
		ExitCode: &code, Outputs: out2, Started: true, Now: at(2)}})
	require.NoError(t, err)
	require.NoError(t, errs[0])

	f, err := s.JobFiles(ctx, "files")
	require.NoError(t, err)
	require.Equal(t, store.JobFiles{Inputs: nj.Inputs, Outputs: out.Manifest, OutputsSkipped: out.Skipped, Stdin: nj.Stdin}, f)
	f, err = s.JobFiles(ctx, "plain")
	require.NoError(t, err)
	require.Equal(t, store.JobFiles{Outputs: out2.Manifest}, f)
	refs, err = s.BlobsReferenced(ctx, []string{"dd"})
	require.NoError(t, err)
	require.True(t, refs["dd"])
	_, err = s.JobFiles(ctx, "nope")
	require.ErrorIs(t, err, store.ErrNotFound)
}

// The outputs of an attempt whose failure queues the job again are not
// the job's: only the result that ends it records them.
func testOutputsOnlyWhenTheJobEnds(t *testing.T, s store.Store) {
	ctx := t.Context()
	nj := newJob("retry")
	nj.Retries = 1
	j := claimAt(t, s, nj, "w", 1)
	exit := 1
	first := &store.Outputs{Manifest: []byte(`{"entries":[{"path":"x","kind":"file","size":1,"sha256":"e1"}]}`), Blobs: []string{"e1"}}
	got, err := s.FinishAttempt(ctx, store.FinishParams{JobID: j.ID, Attempt: 1, State: store.StateFailed,
		ExitCode: &exit, Outputs: first, Started: true, Now: at(2)})
	require.NoError(t, err)
	require.Equal(t, store.StateQueued, got.State)
	f, err := s.JobFiles(ctx, j.ID)
	require.NoError(t, err)
	require.Nil(t, f.Outputs)
	refs, err := s.BlobsReferenced(ctx, []string{"e1"})
	require.NoError(t, err)
	require.Empty(t, refs, "a retried attempt's outputs are not referenced")

	_, err = s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w", Max: 1, Now: at(3)})
	require.NoError(t, err)
	second := &store.Outputs{Manifest: []byte(`{"entries":[{"path":"x","kind":"file","size":1,"sha256":"e2"}]}`), Blobs: []string{"e2"}}
	got, err = s.FinishAttempt(ctx, store.FinishParams{JobID: j.ID, Attempt: 2, State: store.StateFailed,
		ExitCode: &exit, Outputs: second, Started: true, Now: at(4)})
	require.NoError(t, err)
	require.Equal(t, store.StateFailed, got.State)
	f, err = s.JobFiles(ctx, j.ID)
	require.NoError(t, err)
	require.Equal(t, string(second.Manifest), string(f.Outputs), "a failed job's outputs are kept: the user wants to see them")
}
