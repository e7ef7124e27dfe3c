package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rgrid/rgrid/internal/store"
)

// newBatch is a files batch of n items, data/0.csv …, sharing newJob's
// script and settings.
func newBatch(id string, n int) store.NewBatch {
	item := newJob(id)
	item.ID = ""
	nb := store.NewBatch{ID: id, Name: "proc.py", Kind: store.BatchFiles, Item: item, CreatedAt: base}
	for i := range n {
		in := fmt.Sprintf("data/%d.csv", i)
		nb.Items = append(nb.Items, store.NewBatchItem{ID: fmt.Sprintf("%s-%d", id, i), Input: in, Args: []string{in, "--x"}})
	}
	return nb
}

func createBatch(t *testing.T, s store.Store, nb store.NewBatch) store.Batch {
	t.Helper()
	b, created, err := s.CreateBatch(t.Context(), nb)
	require.NoError(t, err)
	require.True(t, created)
	return b
}

// items returns every item of a batch, through pages of 7.
func items(t *testing.T, s store.Store, id string) []store.Job {
	t.Helper()
	var out []store.Job
	for from := 0; ; {
		page, err := s.ListBatchItems(t.Context(), store.ListBatchItemsParams{BatchID: id, FromIndex: from, Limit: 7})
		require.NoError(t, err)
		out = append(out, page...)
		if len(page) < 7 {
			return out
		}
		from = page[len(page)-1].BatchIndex + 1
	}
}

// checkCounts requires the batch's counters to be what counting its
// items' states gives, and returns them.
func checkCounts(t *testing.T, s store.Store, id, when string) store.BatchCounts {
	t.Helper()
	var want store.BatchCounts
	for _, j := range items(t, s, id) {
		want.Add(j.State, 1)
	}
	b, err := s.GetBatch(t.Context(), id)
	require.NoError(t, err)
	require.Equal(t, want, b.Counts, "%s: the batch's counters differ from its items' states", when)
	require.Equal(t, b.Size, b.Counts.Total(), "%s: every item is counted once", when)
	return b.Counts
}

func testBatchCreate(t *testing.T, s store.Store) {
	ctx := t.Context()
	nb := newBatch("bat", 3)
	nb.Parallelism = 2
	nb.Item.Inputs = []byte(`{"entries":[{"path":"proc.py","kind":"file","size":3,"sha256":"aa"}]}`)
	nb.Item.Blobs = []string{"aa"}
	nb.Items[1].Inputs = []byte(`{"entries":[{"path":"data/1.csv","kind":"file","size":1,"sha256":"bb"}]}`)
	nb.Items[1].Blobs = []string{"bb"}
	b := createBatch(t, s, nb)
	require.Equal(t, store.Batch{ID: "bat", Seq: b.Seq, Name: "proc.py", Kind: store.BatchFiles, Size: 3, Parallelism: 2,
		Counts: store.BatchCounts{Queued: 3}, CreatedAt: base}, b)
	got, err := s.GetBatch(ctx, "bat")
	require.NoError(t, err)
	require.Equal(t, b, got)
	_, err = s.GetBatch(ctx, "nope")
	require.ErrorIs(t, err, store.ErrNotFound)

	sh, err := s.BatchShared(ctx, "bat")
	require.NoError(t, err)
	require.Equal(t, store.BatchShared{Kind: store.BatchFiles, Size: 3, Script: nb.Item.Script, Inputs: nb.Item.Inputs}, sh)
	_, err = s.BatchShared(ctx, "nope")
	require.ErrorIs(t, err, store.ErrNotFound)

	its := items(t, s, "bat")
	require.Len(t, its, 3)
	listed, err := s.ListJobs(ctx, store.ListJobsParams{BatchID: "bat"})
	require.NoError(t, err)
	require.Len(t, listed, 3, "the jobs list filtered by batch")
	require.Equal(t, its[2].ID, listed[0].ID, "newest first")
	for i, j := range its {
		require.Equal(t, nb.Items[i].ID, j.ID)
		require.Equal(t, store.StateQueued, j.State)
		require.Equal(t, "bat", j.BatchID)
		require.Equal(t, i, j.BatchIndex)
		require.Equal(t, nb.Items[i].Input, j.BatchInput)
		require.Equal(t, nb.Items[i].Args, j.Args)
		require.Equal(t, nb.Item.Env, j.Env)
		require.Equal(t, nb.Item.Limits, j.Limits)
		require.Equal(t, int64(len(nb.Item.Script)), j.ScriptSize, "the batch's script")
		stored, err := s.GetJob(ctx, j.ID)
		require.NoError(t, err)
		require.Equal(t, j, stored)
	}
	f, err := s.JobFiles(ctx, "bat-1")
	require.NoError(t, err)
	require.Equal(t, store.JobFiles{BatchID: "bat", Inputs: nb.Items[1].Inputs}, f, "an item stores only its own inputs")
	refs, err := s.BlobsReferenced(ctx, []string{"aa", "bb", "cc"})
	require.NoError(t, err)
	require.Equal(t, map[string]bool{"aa": true, "bb": true}, refs)

	// The items are claimed as jobs, with the batch's fields and no
	// script of their own (the server adds the batch's).
	claimed, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w", Max: 1, Now: at(1)})
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	require.Equal(t, "bat-0", claimed[0].ID)
	require.Equal(t, "bat", claimed[0].BatchID)
	require.Empty(t, claimed[0].Script)
	checkCounts(t, s, "bat", "after a claim")

	// A plain job is of no batch.
	plain, err := s.CreateJob(ctx, newJob("plain"))
	require.NoError(t, err)
	require.Empty(t, plain.BatchID)

	// An item's id is a job's: taken ids refuse the batch, whole.
	dup := newBatch("bat2", 2)
	dup.Items[1].ID = "plain"
	_, _, err = s.CreateBatch(ctx, dup)
	require.Error(t, err)
	_, err = s.GetBatch(ctx, "bat2")
	require.ErrorIs(t, err, store.ErrNotFound, "a refused batch stores nothing")
	_, err = s.GetJob(ctx, "bat2-0")
	require.ErrorIs(t, err, store.ErrNotFound)
}

// A resubmission under the same idempotency key stores nothing and
// returns the first batch, however far it got; another submission under
// the key is refused.
func testBatchIdempotent(t *testing.T, s store.Store) {
	ctx := t.Context()
	nb := newBatch("first", 4)
	nb.IdempotencyKey = "key-1"
	b := createBatch(t, s, nb)
	require.Equal(t, "key-1", b.IdempotencyKey)
	claimed, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w", Max: 1, Now: at(1)})
	require.NoError(t, err)
	_, err = s.FinishAttempt(ctx, store.FinishParams{JobID: claimed[0].ID, Attempt: 1, State: store.StateSucceeded,
		ExitCode: intp(0), Started: true, Now: at(2)})
	require.NoError(t, err)

	again := newBatch("second", 4) // new ids, as a retried request makes
	again.IdempotencyKey = "key-1"
	got, created, err := s.CreateBatch(ctx, again)
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, "first", got.ID)
	require.Equal(t, 1, got.Counts.Succeeded, "the succeeded item is not run again")
	_, err = s.GetJob(ctx, "second-0")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.GetBatch(ctx, "second")
	require.ErrorIs(t, err, store.ErrNotFound)

	other := newBatch("third", 5)
	other.IdempotencyKey = "key-1"
	_, _, err = s.CreateBatch(ctx, other)
	require.ErrorIs(t, err, store.ErrBatchKeyReused)

	// A day later the key makes a new batch.
	later := newBatch("later", 5)
	later.IdempotencyKey, later.CreatedAt = "key-1", base.Add(store.IdempotencyWindow+time.Second)
	got, created, err = s.CreateBatch(ctx, later)
	require.NoError(t, err)
	require.True(t, created, "a key older than the window is free again")
	require.Equal(t, "later", got.ID)

	// Concurrent submissions under one new key make one batch.
	var wg sync.WaitGroup
	results := make([]bool, 4)
	for i := range results {
		wg.Go(func() {
			nb := newBatch(fmt.Sprintf("race%d", i), 3)
			nb.IdempotencyKey = "key-2"
			_, c, err := s.CreateBatch(ctx, nb)
			require.NoError(t, err)
			results[i] = c
		})
	}
	wg.Wait()
	n := 0
	for _, c := range results {
		if c {
			n++
		}
	}
	require.Equal(t, 1, n, "one of the concurrent submissions made the batch")
}

func testBatchList(t *testing.T, s store.Store) {
	ctx := t.Context()
	for i := range 5 {
		createBatch(t, s, newBatch(fmt.Sprintf("b%d", i), 1))
	}
	page, err := s.ListBatches(ctx, store.ListBatchesParams{Limit: 3})
	require.NoError(t, err)
	require.Len(t, page, 3)
	require.Equal(t, []string{"b4", "b3", "b2"}, []string{page[0].ID, page[1].ID, page[2].ID})
	rest, err := s.ListBatches(ctx, store.ListBatchesParams{Limit: 3, BeforeSeq: page[2].Seq})
	require.NoError(t, err)
	require.Len(t, rest, 2)
	require.Equal(t, []string{"b1", "b0"}, []string{rest[0].ID, rest[1].ID})
	require.Equal(t, 1, rest[0].Counts.Queued)
}

func testBatchItems(t *testing.T, s store.Store) {
	ctx := t.Context()
	createBatch(t, s, newBatch("it", 10))
	_, err := s.RequestCancel(ctx, "it-3", at(1))
	require.NoError(t, err)
	_, err = s.RequestCancel(ctx, "it-8", at(1))
	require.NoError(t, err)
	page, err := s.ListBatchItems(ctx, store.ListBatchItemsParams{BatchID: "it", FromIndex: 4, Limit: 3})
	require.NoError(t, err)
	require.Equal(t, []string{"it-4", "it-5", "it-6"}, ids(page))
	canceled, err := s.ListBatchItems(ctx, store.ListBatchItemsParams{BatchID: "it", States: []store.State{store.StateCanceled}})
	require.NoError(t, err)
	require.Equal(t, []string{"it-3", "it-8"}, ids(canceled))
	later, err := s.ListBatchItems(ctx, store.ListBatchItemsParams{BatchID: "it", FromIndex: 4,
		States: []store.State{store.StateCanceled, store.StateRunning}})
	require.NoError(t, err)
	require.Equal(t, []string{"it-8"}, ids(later))
	none, err := s.ListBatchItems(ctx, store.ListBatchItemsParams{BatchID: "it", FromIndex: 10})
	require.NoError(t, err)
	require.Empty(t, none)
	_, err = s.ListBatchItems(ctx, store.ListBatchItemsParams{BatchID: "nope"})
	require.ErrorIs(t, err, store.ErrNotFound)
	checkCounts(t, s, "it", "after cancels of single items")
}

// A claim leases at most parallelism items of a batch, reads on past the
// rest to the jobs behind them, and follows a changed parallelism at once.
func testBatchParallelism(t *testing.T, s store.Store) {
	ctx := t.Context()
	nb := newBatch("par", 6)
	nb.Parallelism = 2
	createBatch(t, s, nb)
	_, err := s.CreateJob(ctx, newJob("behind"))
	require.NoError(t, err)
	claim := func(max int) []string {
		t.Helper()
		got, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w", Max: max, Now: at(1)})
		require.NoError(t, err)
		return ids(got)
	}
	// The claim asks for as many as it gets: the items past the cap do
	// not take the place of the job behind them.
	require.Equal(t, []string{"par-0", "par-1", "behind"}, claim(3))
	require.Empty(t, claim(10), "the batch is at its parallelism")
	checkCounts(t, s, "par", "at the cap")

	_, err = s.FinishAttempt(ctx, store.FinishParams{JobID: "par-0", Attempt: 1, State: store.StateSucceeded,
		ExitCode: intp(0), Started: true, Now: at(2)})
	require.NoError(t, err)
	require.Equal(t, []string{"par-2"}, claim(10), "a finished item frees its place")

	b, err := s.SetBatchParallelism(ctx, "par", 4)
	require.NoError(t, err)
	require.Equal(t, 4, b.Parallelism)
	require.Equal(t, []string{"par-3", "par-4"}, claim(10))
	b, err = s.SetBatchParallelism(ctx, "par", 1)
	require.NoError(t, err)
	require.Equal(t, 4, b.Counts.Running, "lowering the cap stops nothing")
	require.Empty(t, claim(10))
	b, err = s.SetBatchParallelism(ctx, "par", 0)
	require.NoError(t, err)
	require.Equal(t, []string{"par-5"}, claim(10), "0: no cap")
	_, err = s.SetBatchParallelism(ctx, "nope", 1)
	require.ErrorIs(t, err, store.ErrNotFound)
	checkCounts(t, s, "par", "at the end")
}

// Many claimers at once never lease more than parallelism items of a
// batch: each round, every claimer asks for more than the cap at the same
// moment, and the items leased, counted on the test's side, are exactly
// the cap until the batch runs out.
func testBatchParallelismConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const size, capacity, claimers = 40, 3, 8
	nb := newBatch("conc", size)
	nb.Parallelism = capacity
	createBatch(t, s, nb)
	other := newBatch("other", size) // a second batch claimed alongside
	other.Parallelism = 5
	createBatch(t, s, other)
	seen := map[string]bool{}
	for round := 0; len(seen) < size; round++ {
		var (
			mu      sync.Mutex
			wg      sync.WaitGroup
			leased  []store.Job
			start   = make(chan struct{})
			ofOther int
		)
		for w := range claimers {
			wg.Go(func() {
				<-start
				got, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: fmt.Sprintf("w%d", w), Max: 4, Now: at(1)})
				require.NoError(t, err)
				mu.Lock()
				defer mu.Unlock()
				for _, j := range got {
					if j.BatchID == "conc" {
						leased = append(leased, j)
					} else {
						ofOther++
					}
				}
			})
		}
		close(start)
		wg.Wait()
		require.Equal(t, min(capacity, size-len(seen)), len(leased), "round %d: items of the batch leased at once", round)
		require.LessOrEqual(t, ofOther, 5, "round %d: the other batch's cap", round)
		for _, j := range leased {
			require.False(t, seen[j.ID], "item %s leased twice", j.ID)
			seen[j.ID] = true
			_, err := s.FinishAttempt(ctx, store.FinishParams{JobID: j.ID, Attempt: j.Attempt, State: store.StateSucceeded,
				ExitCode: intp(0), Started: true, Now: at(2)})
			require.NoError(t, err)
		}
		c := checkCounts(t, s, "conc", fmt.Sprintf("round %d", round))
		require.Zero(t, c.Running)
		require.Less(t, round, size, "the batch does not drain")
	}
	checkCounts(t, s, "other", "the other batch")
}

// The counters stay those of the items' states through every transition:
// lease, start, finish (success, a failure retried, a failure that ends
// it, an infrastructure error), a lost worker (queued again, and lost for
// good), the server's time limit, cancels and a retry of the failed.
func testBatchCounters(t *testing.T, s store.Store) {
	ctx := t.Context()
	nb := newBatch("cnt", 12)
	nb.Item.MaxAttempts = 2
	nb.Item.Retries = 1
	nb.Item.Limits.TimeoutSeconds = 10
	createBatch(t, s, nb)
	check := func(when string) store.BatchCounts { t.Helper(); return checkCounts(t, s, "cnt", when) }
	check("created")
	claimed, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w1", Max: 8, Now: at(1)})
	require.NoError(t, err)
	require.Len(t, claimed, 8)
	check("leased")
	// cnt-0 … cnt-5 start, two at once through the batch path.
	refs := []store.AttemptRef{ref(claimed[0]), ref(claimed[1])}
	_, errs, err := s.StartAttempts(ctx, refs, at(2))
	require.NoError(t, err)
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	for _, j := range claimed[2:6] {
		_, err := s.StartAttempt(ctx, ref(j), at(2))
		require.NoError(t, err)
	}
	check("started")
	finish := func(j store.Job, st store.State, code int) store.Job {
		t.Helper()
		got, err := s.FinishAttempt(ctx, store.FinishParams{JobID: j.ID, Attempt: j.Attempt, State: st,
			ExitCode: intp(code), Started: true, Now: at(3)})
		require.NoError(t, err)
		return got
	}
	finish(claimed[0], store.StateSucceeded, 0)
	c := check("a success")
	require.Equal(t, 1, c.Succeeded)
	require.Equal(t, store.StateQueued, finish(claimed[1], store.StateFailed, 1).State, "retried once")
	c = check("a failure retried")
	require.Equal(t, 5, c.Queued)
	// Results through the batch path, one of which ends its job.
	_, errs, err = s.FinishAttempts(ctx, []store.FinishParams{
		{JobID: claimed[2].ID, Attempt: 1, State: store.StateError, Reason: "image", Started: true, Now: at(3)},
		{JobID: claimed[3].ID, Attempt: 1, State: store.StateOOMKilled, ExitCode: intp(137), Started: true, Now: at(3)},
	})
	require.NoError(t, err)
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	c = check("batched results")
	require.Equal(t, 1, c.Error)
	// cnt-4 runs past its limit; the server ends it.
	expired, err := s.ExpireOverdue(ctx, at(100), time.Second)
	require.NoError(t, err)
	require.NotEmpty(t, expired)
	c = check("expired")
	require.Positive(t, c.Failed)
	// cnt-6 (leased) is canceled while its worker is lost; the rest of
	// w1's attempts are lost and queued again.
	_, err = s.RequestCancel(ctx, claimed[6].ID, at(4))
	require.NoError(t, err)
	check("cancel requested")
	lost, err := s.LoseAttempts(ctx, store.LoseParams{WorkerID: "w1", Now: at(101)})
	require.NoError(t, err)
	require.NotEmpty(t, lost)
	c = check("worker lost")
	require.Equal(t, 1, c.Canceled)
	// Claim everything again and lose it once more: items with no attempts
	// left end lost.
	again, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w2", Max: 20, Now: at(102)})
	require.NoError(t, err)
	require.NotEmpty(t, again)
	check("claimed again")
	_, err = s.LoseAttempts(ctx, store.LoseParams{WorkerID: "w2", Now: at(103)})
	require.NoError(t, err)
	c = check("lost again")
	require.Positive(t, c.Error)
	// A queued item canceled alone, then the batch.
	q, err := s.ListBatchItems(ctx, store.ListBatchItemsParams{BatchID: "cnt", States: []store.State{store.StateQueued}})
	require.NoError(t, err)
	if len(q) > 0 {
		_, err = s.RequestCancel(ctx, q[0].ID, at(104))
		require.NoError(t, err)
		check("a queued item canceled")
	}
	before := check("before the retry")
	b, n, err := s.RetryBatch(ctx, "cnt")
	require.NoError(t, err)
	require.Equal(t, before.Failed+before.Error, n)
	require.Equal(t, before.Succeeded, b.Counts.Succeeded, "successes are kept")
	require.Equal(t, before.Canceled, b.Counts.Canceled, "cancels are kept")
	require.Zero(t, b.Counts.Failed+b.Counts.Error)
	check("retried")
	_, err = s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w3", Max: 3, Now: at(105)})
	require.NoError(t, err)
	check("claimed after the retry")
	b, active, err := s.CancelBatch(ctx, "cnt", at(106))
	require.NoError(t, err)
	require.True(t, b.Canceled)
	require.Len(t, active, 3)
	for _, j := range active {
		require.True(t, j.CancelRequested)
	}
	c = check("batch canceled")
	require.Zero(t, c.Queued)
	require.Equal(t, 3, c.Running, "running items are asked to stop, not ended")
	for _, j := range active {
		finish(j, store.StateCanceled, 143)
	}
	c = check("stopped")
	require.Equal(t, c.Total(), c.Done())
}

// An item whose worker is lost is queued again and run by another
// worker: nothing is lost and nothing succeeds twice.
func testBatchItemLost(t *testing.T, s store.Store) {
	ctx := t.Context()
	createBatch(t, s, newBatch("lose", 2))
	first, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "dead", Max: 2, Now: at(1)})
	require.NoError(t, err)
	require.Len(t, first, 2)
	_, err = s.StartAttempt(ctx, ref(first[0]), at(2))
	require.NoError(t, err)
	_, err = s.FinishAttempt(ctx, store.FinishParams{JobID: first[1].ID, Attempt: 1, State: store.StateSucceeded,
		ExitCode: intp(0), Started: true, Now: at(2)})
	require.NoError(t, err)
	lost, err := s.LoseAttempts(ctx, store.LoseParams{WorkerID: "dead", Now: at(3)})
	require.NoError(t, err)
	require.Equal(t, []string{"lose-0"}, ids(lost))
	require.Equal(t, store.StateQueued, lost[0].State)
	c := checkCounts(t, s, "lose", "lost")
	require.Equal(t, store.BatchCounts{Queued: 1, Succeeded: 1}, c)
	second, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "live", Max: 2, Now: at(4)})
	require.NoError(t, err)
	require.Equal(t, []string{"lose-0"}, ids(second), "the succeeded item is not run again")
	require.Equal(t, 2, second[0].Attempt)
	// The lost worker's late report is fenced off.
	_, err = s.FinishAttempt(ctx, store.FinishParams{JobID: "lose-0", Attempt: 1, State: store.StateSucceeded,
		ExitCode: intp(0), Started: true, Now: at(5)})
	require.ErrorIs(t, err, store.ErrStaleAttempt)
	_, err = s.FinishAttempt(ctx, store.FinishParams{JobID: "lose-0", Attempt: 2, State: store.StateSucceeded,
		ExitCode: intp(0), Started: true, Now: at(6)})
	require.NoError(t, err)
	c = checkCounts(t, s, "lose", "done")
	require.Equal(t, store.BatchCounts{Succeeded: 2}, c)
	atts, err := s.ListAttempts(ctx, "lose-0")
	require.NoError(t, err)
	require.Len(t, atts, 2)
	require.Equal(t, store.StateLost, atts[0].State)
	require.Equal(t, store.StateSucceeded, atts[1].State)
}

// A retry queues the failed items as new attempts of the same jobs: the
// ended attempt is kept as it ended and the budgets start afresh.
func testBatchRetry(t *testing.T, s store.Store) {
	ctx := t.Context()
	nb := newBatch("rt", 3)
	nb.Item.MaxAttempts = 1
	createBatch(t, s, nb)
	got, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w", Max: 3, Now: at(1)})
	require.NoError(t, err)
	require.Len(t, got, 3)
	_, err = s.FinishAttempt(ctx, store.FinishParams{JobID: "rt-0", Attempt: 1, State: store.StateSucceeded,
		ExitCode: intp(0), Started: true, Now: at(2)})
	require.NoError(t, err)
	_, err = s.FinishAttempt(ctx, store.FinishParams{JobID: "rt-1", Attempt: 1, State: store.StateFailed,
		ExitCode: intp(3), Message: "exit 3", Failure: `{"exception":"ValueError"}`, Started: true, Now: at(2)})
	require.NoError(t, err)
	_, err = s.LoseAttempts(ctx, store.LoseParams{WorkerID: "w", Message: "gone", Now: at(3)}) // rt-2 ends lost
	require.NoError(t, err)
	b, n, err := s.RetryBatch(ctx, "rt")
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Equal(t, store.BatchCounts{Queued: 2, Succeeded: 1}, b.Counts)
	for _, id := range []string{"rt-1", "rt-2"} {
		j, err := s.GetJob(ctx, id)
		require.NoError(t, err)
		require.Equal(t, store.StateQueued, j.State)
		require.Equal(t, 1, j.Attempt)
		require.Zero(t, j.ScriptFailures)
		require.Zero(t, j.LostAttempts)
		require.Nil(t, j.ExitCode)
		require.Empty(t, j.Failure)
		atts, err := s.ListAttempts(ctx, id)
		require.NoError(t, err)
		require.Len(t, atts, 1, "%s: the ended attempt is kept once", id)
	}
	atts, err := s.ListAttempts(ctx, "rt-1")
	require.NoError(t, err)
	require.Equal(t, store.StateFailed, atts[0].State)
	require.Equal(t, intp(3), atts[0].ExitCode)
	require.Equal(t, timep(at(2)), atts[0].FinishedAt)
	atts, err = s.ListAttempts(ctx, "rt-2")
	require.NoError(t, err)
	require.Equal(t, store.StateLost, atts[0].State)

	again, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w", Max: 3, Now: at(4)})
	require.NoError(t, err)
	require.Equal(t, []string{"rt-1", "rt-2"}, ids(again))
	require.Equal(t, 2, again[0].Attempt, "a new attempt of the same job")
	j0, err := s.GetJob(ctx, "rt-0")
	require.NoError(t, err)
	require.Equal(t, store.StateSucceeded, j0.State)
	require.Equal(t, 1, j0.Attempt)
	_, n, err = s.RetryBatch(ctx, "rt")
	require.NoError(t, err)
	require.Zero(t, n, "nothing has failed")
	_, _, err = s.RetryBatch(ctx, "nope")
	require.ErrorIs(t, err, store.ErrNotFound)
	checkCounts(t, s, "rt", "after the retry")
}

// Canceling a batch cancels its queued items at once, as RequestCancel
// does one, and asks its active ones to stop; a retry after it clears
// the mark.
func testBatchCancel(t *testing.T, s store.Store) {
	ctx := t.Context()
	createBatch(t, s, newBatch("cx", 5))
	createBatch(t, s, newBatch("keep", 1))
	got, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w", Max: 2, Now: at(1)})
	require.NoError(t, err)
	require.Len(t, got, 2)
	_, err = s.FinishAttempt(ctx, store.FinishParams{JobID: "cx-1", Attempt: 1, State: store.StateFailed,
		ExitCode: intp(1), Started: true, Now: at(2)})
	require.NoError(t, err)
	b, active, err := s.CancelBatch(ctx, "cx", at(3))
	require.NoError(t, err)
	require.True(t, b.Canceled)
	require.Equal(t, timep(at(3)), b.CanceledAt)
	require.Equal(t, []string{"cx-0"}, ids(active))
	require.Equal(t, store.BatchCounts{Running: 1, Failed: 1, Canceled: 3}, b.Counts)
	one, err := s.GetJob(ctx, "cx-2")
	require.NoError(t, err)
	// The same as canceling the queued job alone.
	alone, err := s.RequestCancel(ctx, "keep-0", at(3))
	require.NoError(t, err)
	require.Equal(t, alone.State, one.State)
	require.Equal(t, alone.Reason, one.Reason)
	require.Equal(t, alone.Message, one.Message)
	require.Equal(t, alone.FinishedAt, one.FinishedAt)
	stop, err := s.AttemptsToStop(ctx, "w")
	require.NoError(t, err)
	require.Equal(t, []store.AttemptRef{{JobID: "cx-0", Attempt: 1}}, stop)

	b, active, err = s.CancelBatch(ctx, "cx", at(9))
	require.NoError(t, err)
	require.Equal(t, timep(at(3)), b.CanceledAt, "canceled once")
	require.Len(t, active, 1)
	_, _, err = s.CancelBatch(ctx, "nope", at(9))
	require.ErrorIs(t, err, store.ErrNotFound)

	b, n, err := s.RetryBatch(ctx, "cx")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.False(t, b.Canceled)
	require.Nil(t, b.CanceledAt)
	checkCounts(t, s, "cx", "canceled and retried")
}

// A batch of 10,000 items is one call, well within the seconds a
// submission may take.
func testBatchLarge(t *testing.T, s store.Store) {
	nb := newBatch("big", 10_000)
	start := time.Now()
	b := createBatch(t, s, nb)
	took := time.Since(start)
	t.Logf("%s: 10,000 items stored in %s", s.Dialect(), took)
	if !raceEnabled {
		require.Less(t, took, 5*time.Second, "a submission of 10,000 items may take 5 s at most")
	}
	require.Equal(t, 10_000, b.Counts.Queued)
	last, err := s.GetJob(t.Context(), "big-9999")
	require.NoError(t, err)
	require.Equal(t, 9999, last.BatchIndex)
}
