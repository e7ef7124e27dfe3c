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

// A manifest named by its hash: found only among its owner's jobs; its
// blobs recorded once, with the first job that has it, and referenced by
// every job that has it (retention, owner, the worker that runs it).
func testInputsByHash(t *testing.T, s store.Store) {
	ctx := t.Context()
	const manifest = "m1"
	inputs := []byte(`{"entries":[{"path":"a.py","kind":"file","size":3,"sha256":"aa"},{"path":"b","kind":"file","size":1,"sha256":"bb"}]}`)
	withInputs := func(id, owner string) store.NewJob {
		nj := newJob(id)
		nj.Owner, nj.Inputs, nj.InputsSHA256, nj.InputsBlobs = owner, inputs, manifest, []string{"aa", "bb"}
		return nj
	}
	_, err := s.InputsByHash(ctx, "usr_a", manifest)
	require.ErrorIs(t, err, store.ErrNotFound)
	first := withInputs("first", "usr_a")
	first.Stdin, first.Blobs = store.BlobRef{SHA256: "cc", Size: 1}, []string{"cc"}
	_, err = s.CreateJob(ctx, first)
	require.NoError(t, err)

	got, err := s.InputsByHash(ctx, "usr_a", manifest)
	require.NoError(t, err)
	require.Equal(t, string(inputs), string(got))
	_, err = s.InputsByHash(ctx, "usr_b", manifest)
	require.ErrorIs(t, err, store.ErrNotFound, "another owner's manifest is not found")
	_, err = s.InputsByHash(ctx, "usr_a", "m2")
	require.ErrorIs(t, err, store.ErrNotFound)

	refs, err := s.BlobsReferenced(ctx, []string{"aa", "bb", "cc", "dd"})
	require.NoError(t, err)
	require.Equal(t, map[string]bool{"aa": true, "bb": true, "cc": true}, refs)
	owned, err := s.BlobsOwned(ctx, "usr_a", []string{"aa", "bb", "cc"})
	require.NoError(t, err)
	require.Equal(t, map[string]bool{"aa": true, "bb": true, "cc": true}, owned)
	owned, err = s.BlobsOwned(ctx, "usr_b", []string{"aa", "bb", "cc"})
	require.NoError(t, err)
	require.Empty(t, owned, "another owner's manifest's blobs are not theirs")

	// A second job with the manifest, of another owner: the blobs are
	// recorded already, and now theirs too.
	_, err = s.CreateJobs(ctx, []store.NewJob{withInputs("second", "usr_b"), withInputs("third", "usr_b")})
	require.NoError(t, err)
	owned, err = s.BlobsOwned(ctx, "usr_b", []string{"aa", "bb", "cc"})
	require.NoError(t, err)
	require.Equal(t, map[string]bool{"aa": true, "bb": true}, owned)
	got, err = s.InputsByHash(ctx, "usr_b", manifest)
	require.NoError(t, err)
	require.Equal(t, string(inputs), string(got))

	// Held by the worker that runs a job with the manifest, as long as it does.
	w := worker("w1", 0)
	w.TokenID = "rgw_1"
	_, err = s.UpsertWorker(ctx, w, at(0))
	require.NoError(t, err)
	claimed, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w1", Max: 1, Now: at(1)})
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	require.Equal(t, "first", claimed[0].ID)
	require.Equal(t, string(inputs), string(claimed[0].Inputs))
	held, err := s.BlobsHeld(ctx, "rgw_1", []string{"aa", "bb", "cc", "dd"})
	require.NoError(t, err)
	require.Equal(t, map[string]bool{"aa": true, "bb": true, "cc": true}, held)
	held, err = s.BlobsHeld(ctx, "rgw_2", []string{"aa"})
	require.NoError(t, err)
	require.Empty(t, held)
	code := 0
	_, err = s.FinishAttempt(ctx, store.FinishParams{JobID: "first", Attempt: 1, State: store.StateSucceeded,
		ExitCode: &code, Started: true, Now: at(2)})
	require.NoError(t, err)
	held, err = s.BlobsHeld(ctx, "rgw_1", []string{"aa", "bb"})
	require.NoError(t, err)
	require.Empty(t, held, "an ended job's blobs are no longer held")
	f, err := s.JobFiles(ctx, "second")
	require.NoError(t, err)
	require.Equal(t, string(inputs), string(f.Inputs))

	// A job naming the stored manifest by its hash alone (Inputs nil, as
	// the server submits a re-run of an unchanged project) has it whole:
	// in its files, in its lease, and for InputsByHash of its owner.
	byHash := withInputs("byhash", "usr_c")
	byHash.Inputs = nil
	_, err = s.CreateJob(ctx, byHash)
	require.NoError(t, err)
	f, err = s.JobFiles(ctx, "byhash")
	require.NoError(t, err)
	require.Equal(t, string(inputs), string(f.Inputs))
	got, err = s.InputsByHash(ctx, "usr_c", manifest)
	require.NoError(t, err)
	require.Equal(t, string(inputs), string(got))
	// A manifest without a hash (an item's own files) stays the job's own.
	own := newJob("own")
	own.Owner, own.Inputs = "usr_c", []byte(`{"entries":[{"path":"x","kind":"file","size":1,"sha256":"ee"}]}`)
	_, err = s.CreateJob(ctx, own)
	require.NoError(t, err)
	f, err = s.JobFiles(ctx, "own")
	require.NoError(t, err)
	require.Equal(t, string(own.Inputs), string(f.Inputs))
	for _, id := range []string{"second", "third", "byhash", "own"} {
		claimed, err = s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w1", Max: 1, Now: at(3)})
		require.NoError(t, err)
		require.Len(t, claimed, 1)
		require.Equal(t, id, claimed[0].ID)
		want := inputs
		if id == "own" {
			want = own.Inputs
		}
		require.Equal(t, string(want), string(claimed[0].Inputs), "the lease of %s", id)
	}
}
