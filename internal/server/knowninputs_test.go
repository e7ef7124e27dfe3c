package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/server"
	"github.com/rgrid/rgrid/internal/workdir"
)

// A job's inputs named by their manifest's hash alone: taken from a job of
// the caller's that has them, never from another user's; a hash that
// does not match the manifest sent with it is refused.
func TestInputsNamedByHash(t *testing.T) {
	t.Parallel()
	g := newGrid(t, server.Options{})
	ctx := t.Context()
	script, data := []byte("print(open('data.txt').read())\n"), []byte("alice's data\n")
	inputs, hash := aliceInputs(t, g, script, data)
	var err error
	byHash := client.SubmitRequest{Script: script, FileName: "main.py", InputsSHA256: hash}

	_, err = g.alice.Submit(ctx, byHash)
	require.Truef(t, client.IsCode(err, client.CodeManifestUnknown), "before any job has it: %v", err)

	lying := client.SubmitRequest{Script: script, FileName: "main.py", Inputs: inputs, InputsSHA256: ref([]byte("other")).SHA256}
	_, err = g.alice.Submit(ctx, lying)
	require.Truef(t, client.IsCode(err, client.CodeInvalidManifest), "a hash that is not the manifest's: %v", err)
	require.Contains(t, err.Error(), "inputs_sha256")

	first, err := g.alice.Submit(ctx, client.SubmitRequest{Script: script, FileName: "main.py", Inputs: inputs, InputsSHA256: hash})
	require.NoError(t, err, "the right hash with the manifest")
	again, err := g.alice.Submit(ctx, byHash)
	require.NoError(t, err, "by hash alone, once a job has it")
	require.NotEqual(t, first.ID, again.ID)
	got, err := g.alice.JobInputs(ctx, again.ID)
	require.NoError(t, err)
	require.Equal(t, inputs, got)
	j, err := g.alice.Job(ctx, again.ID)
	require.NoError(t, err)
	require.Equal(t, 2, j.Files.Inputs.Files)

	// The script must still be the manifest's file.
	other := byHash
	other.Script = []byte("print('not it')\n")
	_, err = g.alice.Submit(ctx, other)
	require.Truef(t, client.IsCode(err, client.CodeInvalidRequest), "a script not the manifest's: %v", err)
	elsewhere := byHash
	elsewhere.FileName = "data/none.py"
	_, err = g.alice.Submit(ctx, elsewhere)
	require.Truef(t, client.IsCode(err, client.CodeInvalidRequest), "a file_name not in the manifest: %v", err)
	bad := byHash
	bad.InputsSHA256 = "ABC"
	_, err = g.alice.Submit(ctx, bad)
	require.Truef(t, client.IsCode(err, client.CodeInvalidRequest), "not a sha256: %v", err)

	// Bob cannot use, nor learn of, alice's manifest.
	_, err = g.bob.Submit(ctx, byHash)
	require.Truef(t, client.IsCode(err, client.CodeManifestUnknown), "bob naming alice's manifest: %v", err)
	missing, err := g.bob.MissingBlobs(ctx, []client.BlobRef{ref(data)})
	require.NoError(t, err)
	require.Len(t, missing, 1, "bob is still not told alice's file exists")

	// A batch takes its working directory in full.
	_, _, err = g.alice.SubmitBatchRun(ctx, client.BatchRequest{Job: byHash, Array: []int{0, 1}})
	require.Truef(t, client.IsCode(err, client.CodeInvalidRequest), "a batch by hash: %v", err)
}

// A batch's shared working directory is referenced by the batch: its
// owner reads its blobs, and retention keeps them.
func TestBatchReferencesItsSharedInputs(t *testing.T) {
	t.Parallel()
	g := newGrid(t, server.Options{})
	ctx := t.Context()
	script, data := []byte("print(open('shared.txt').read())\n"), []byte("bob's shared data\n")
	for _, d := range [][]byte{script, data} {
		up, err := g.bob.MissingBlobs(ctx, []client.BlobRef{ref(d)})
		require.NoError(t, err)
		for _, u := range up {
			require.NoError(t, g.bob.UploadBlob(ctx, u, bytes.NewReader(d)))
		}
	}
	inputs := &client.Manifest{Entries: []client.FileEntry{
		{Path: "main.py", Kind: "file", Size: ref(script).Size, SHA256: ref(script).SHA256},
		{Path: "shared.txt", Kind: "file", Size: ref(data).Size, SHA256: ref(data).SHA256}}}
	_, _, err := g.bob.SubmitBatchRun(ctx, client.BatchRequest{Array: []int{0, 1},
		Job: client.SubmitRequest{Script: script, FileName: "main.py", Inputs: inputs}})
	require.NoError(t, err)
	g.advance(8 * 24 * time.Hour)
	_, err = g.srv.SweepBlobs(ctx)
	require.NoError(t, err)
	rc, _, err := g.bob.OpenBlob(ctx, ref(data).SHA256, 0)
	require.NoError(t, err, "the batch's owner reads its shared blob after a sweep")
	got, _ := io.ReadAll(rc)
	rc.Close()
	require.Equal(t, data, got)
}

// A worker that holds a job's inputs manifest (it leased a job with it
// before) is sent the job without it, named by its hash; one that names
// manifests it does not hold finds them left out; known_inputs is
// checked.
func TestLeaseLeavesOutKnownInputs(t *testing.T) {
	t.Parallel()
	g := newGrid(t, server.Options{})
	ctx := t.Context()
	script, data := []byte("print(open('data.txt').read())\n"), []byte("the data\n")
	inputs, hash := aliceInputs(t, g, script, data)
	var err error
	byHash := client.SubmitRequest{Script: script, FileName: "main.py", InputsSHA256: hash}
	for _, id := range []string{"w1", "w2"} {
		w := g.worker
		if id == "w2" {
			w = g.worker2
		}
		_, err = w.Register(ctx, client.RegisterRequest{ID: id, Slots: 4, Executor: "process"})
		require.NoError(t, err)
	}
	lease := func(w *client.Client, id string, req client.LeaseRequest) (client.LeasedJob, error) {
		req.Max, req.WaitSeconds = 1, 5
		l, err := w.Lease(ctx, id, req)
		if err == nil && len(l.Jobs) != 1 {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return client.LeasedJob{}, err
		}
		return l.Jobs[0], nil
	}

	_, err = g.alice.Submit(ctx, client.SubmitRequest{Script: script, FileName: "main.py", Inputs: inputs, InputsSHA256: hash})
	require.NoError(t, err)
	first, err := lease(g.worker, "w1", client.LeaseRequest{})
	require.NoError(t, err)
	require.Equal(t, inputs, first.Inputs, "the first lease sends the manifest")
	_, err = g.alice.Submit(ctx, byHash)
	require.NoError(t, err)
	second, err := lease(g.worker, "w1", client.LeaseRequest{})
	require.NoError(t, err)
	require.Same(t, first.Inputs, second.Inputs, "the next job with it shares the manifest held")
	require.Equal(t, first.InputsDigest, second.InputsDigest)
	require.Equal(t, hash, second.InputsSHA256)

	// w2 holds nothing but names the manifest: the server leaves it out,
	// and the client says it cannot stage the job.
	_, err = g.alice.Submit(ctx, byHash)
	require.NoError(t, err)
	_, err = lease(g.worker2, "w2", client.LeaseRequest{KnownInputs: []string{hash}})
	require.ErrorContains(t, err, "without sending them")

	for _, known := range [][]string{{"ABC"}, make([]string, client.MaxKnownInputs+1)} {
		_, err = lease(g.worker2, "w2", client.LeaseRequest{KnownInputs: known})
		require.Truef(t, client.IsCode(err, client.CodeInvalidRequest), "known_inputs of %d: %v", len(known), err)
	}
}

// aliceInputs uploads script and data as alice's and returns the
// manifest of main.py and data.txt holding them, and its hash.
func aliceInputs(t *testing.T, g *grid, script, data []byte) (*client.Manifest, string) {
	t.Helper()
	ctx := t.Context()
	for _, d := range [][]byte{script, data} {
		up, err := g.alice.MissingBlobs(ctx, []client.BlobRef{ref(d)})
		require.NoError(t, err)
		for _, u := range up {
			require.NoError(t, g.alice.UploadBlob(ctx, u, bytes.NewReader(d)))
		}
	}
	inputs := &client.Manifest{Entries: []client.FileEntry{
		{Path: "data.txt", Kind: "file", Size: ref(data).Size, SHA256: ref(data).SHA256},
		{Path: "main.py", Kind: "file", Size: ref(script).Size, SHA256: ref(script).SHA256}}}
	raw, err := json.Marshal(inputs)
	require.NoError(t, err)
	m, err := workdir.ParseManifest(raw)
	require.NoError(t, err)
	hash, err := m.SHA256()
	require.NoError(t, err)
	return inputs, hash
}
