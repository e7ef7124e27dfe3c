package storetest

import (
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rgrid/rgrid/internal/store"
)

func ptr[T any](v T) *T { return &v }

func testUsers(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, err := s.CreateUser(ctx, store.User{ID: "usr_a", Name: "alice", Role: store.RoleAdmin, CreatedAt: at(1)})
	require.NoError(t, err)
	require.Equal(t, store.User{ID: "usr_a", Name: "alice", Role: store.RoleAdmin, CreatedAt: at(1)}, a)
	_, err = s.CreateUser(ctx, store.User{ID: "usr_b", Name: "bob", Role: store.RoleUser, MaxQueued: ptr(5), CreatedAt: at(2)})
	require.NoError(t, err)
	_, err = s.CreateUser(ctx, store.User{ID: "usr_c", Name: "alice", Role: store.RoleUser, CreatedAt: at(3)})
	require.ErrorIs(t, err, store.ErrUserExists)

	got, err := s.GetUserByName(ctx, "bob")
	require.NoError(t, err)
	require.Equal(t, "usr_b", got.ID)
	require.Equal(t, ptr(5), got.MaxQueued)
	require.Nil(t, got.MaxRunning)
	_, err = s.GetUser(ctx, "usr_nobody")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.GetUserByName(ctx, "nobody")
	require.ErrorIs(t, err, store.ErrNotFound)

	got, err = s.SetUserLimits(ctx, "usr_b", nil, ptr(0))
	require.NoError(t, err)
	require.Nil(t, got.MaxQueued)
	require.Equal(t, ptr(0), got.MaxRunning)
	_, err = s.SetUserLimits(ctx, "usr_nobody", nil, nil)
	require.ErrorIs(t, err, store.ErrNotFound)

	list, err := s.ListUsers(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, []string{"alice", "bob"}, []string{list[0].Name, list[1].Name})
}

func hashOf(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

func testTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	n, err := s.CountTokens(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
	exp := at(100)
	tok := store.Token{ID: "rgu_aaaa", Kind: store.TokenUser, UserID: "usr_a", Name: "laptop",
		Hash: hashOf("secret-a"), CreatedBy: "usr_a", CreatedAt: at(1), ExpiresAt: &exp}
	require.NoError(t, s.CreateToken(ctx, tok))
	require.NoError(t, s.CreateToken(ctx, store.Token{ID: "rgw_bbbb", Kind: store.TokenWorker, Pool: "gpu",
		Hash: hashOf("secret-b"), CreatedAt: at(2)}))
	require.Error(t, s.CreateToken(ctx, store.Token{ID: "rgu_cccc", Kind: store.TokenUser, UserID: "usr_a",
		Hash: hashOf("secret-a"), CreatedAt: at(3)}), "two tokens of one hash")

	got, err := s.TokenByHash(ctx, hashOf("secret-a"))
	require.NoError(t, err)
	require.Equal(t, tok, got)
	require.True(t, got.Valid(at(99)))
	require.False(t, got.Valid(at(100)), "expired at its expiry")
	_, err = s.TokenByHash(ctx, hashOf("secret-x"))
	require.ErrorIs(t, err, store.ErrNotFound)

	require.NoError(t, s.TouchToken(ctx, "rgu_aaaa", at(5)))
	rev, err := s.RevokeToken(ctx, "rgu_aaaa", at(6))
	require.NoError(t, err)
	require.Equal(t, at(6), *rev.RevokedAt)
	require.Equal(t, at(5), *rev.LastUsedAt)
	require.False(t, rev.Valid(at(7)))
	rev, err = s.RevokeToken(ctx, "rgu_aaaa", at(8))
	require.NoError(t, err)
	require.Equal(t, at(6), *rev.RevokedAt, "revoking again keeps the first time")
	_, err = s.RevokeToken(ctx, "rgu_zzzz", at(8))
	require.ErrorIs(t, err, store.ErrNotFound)

	mine, err := s.ListTokens(ctx, "usr_a")
	require.NoError(t, err)
	require.Len(t, mine, 1)
	require.Equal(t, "rgu_aaaa", mine[0].ID)
	all, err := s.ListTokens(ctx, "")
	require.NoError(t, err)
	require.Equal(t, []string{"rgw_bbbb", "rgu_aaaa"}, []string{all[0].ID, all[1].ID}, "newest first")
	n, err = s.CountTokens(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, n)
}

func testAudit(t *testing.T, s store.Store) {
	ctx := t.Context()
	for i := range 5 {
		require.NoError(t, s.AppendAudit(ctx, store.AuditEntry{Time: at(i), Actor: "alice",
			Action: "token.create", Target: fmt.Sprintf("rgu_%d", i), Detail: "laptop"}))
	}
	page, err := s.ListAudit(ctx, store.ListAuditParams{Limit: 3})
	require.NoError(t, err)
	require.Len(t, page, 3)
	require.Equal(t, "rgu_4", page[0].Target)
	require.Equal(t, at(4), page[0].Time)
	rest, err := s.ListAudit(ctx, store.ListAuditParams{BeforeID: page[2].ID})
	require.NoError(t, err)
	require.Equal(t, []string{"rgu_1", "rgu_0"}, []string{rest[0].Target, rest[1].Target})
}

// testOwners: jobs and batches keep their owner, lists filter by it, and
// the counts authorization and limits read are per owner.
func testOwners(t *testing.T, s store.Store) {
	ctx := t.Context()
	for i, owner := range []string{"usr_a", "usr_b", "usr_a", ""} {
		nj := newJob(fmt.Sprintf("j%d", i))
		nj.Owner, nj.CreatedAt = owner, at(i)
		nj.Blobs = []string{fmt.Sprintf("%064d", i)}
		_, err := s.CreateJob(ctx, nj)
		require.NoError(t, err)
	}
	j, err := s.GetJob(ctx, "j1")
	require.NoError(t, err)
	require.Equal(t, "usr_b", j.Owner)

	ids := func(p store.ListJobsParams) []string {
		js, err := s.ListJobs(ctx, p)
		require.NoError(t, err)
		var out []string
		for _, j := range js {
			out = append(out, j.ID)
		}
		return out
	}
	require.Equal(t, []string{"j2", "j0"}, ids(store.ListJobsParams{Owner: "usr_a", OwnerSet: true}))
	require.Equal(t, []string{"j3"}, ids(store.ListJobsParams{Owner: "", OwnerSet: true}))
	require.Equal(t, []string{"j3", "j2", "j1", "j0"}, ids(store.ListJobsParams{}))
	require.Equal(t, []string{"j0"}, ids(store.ListJobsParams{Owner: "usr_a", OwnerSet: true, BeforeSeq: mustSeq(t, s, "j2")}))

	n, err := s.CountJobs(ctx, "usr_a", []store.State{store.StateQueued})
	require.NoError(t, err)
	require.Equal(t, 2, n)

	owned, err := s.BlobsOwned(ctx, "usr_a", []string{fmt.Sprintf("%064d", 0), fmt.Sprintf("%064d", 1), fmt.Sprintf("%064d", 2)})
	require.NoError(t, err)
	require.Equal(t, map[string]bool{fmt.Sprintf("%064d", 0): true, fmt.Sprintf("%064d", 2): true}, owned)

	// A batch's shared blobs are its owner's, and held by the worker
	// running one of its items.
	nb := store.NewBatch{ID: "b1", Owner: "usr_b", Name: "sweep", Kind: store.BatchArray, CreatedAt: at(10),
		Item: newJob("item"), Items: []store.NewBatchItem{{ID: "b1-0", Input: "0"}, {ID: "b1-1", Input: "1"}}}
	nb.Item.Blobs = []string{fmt.Sprintf("%064d", 9)}
	b, _, err := s.CreateBatch(ctx, nb)
	require.NoError(t, err)
	require.Equal(t, "usr_b", b.Owner)
	item, err := s.GetJob(ctx, "b1-0")
	require.NoError(t, err)
	require.Equal(t, "usr_b", item.Owner, "items are the batch owner's")
	bs, err := s.ListBatches(ctx, store.ListBatchesParams{Owner: "usr_a", OwnerSet: true})
	require.NoError(t, err)
	require.Empty(t, bs)
	bs, err = s.ListBatches(ctx, store.ListBatchesParams{Owner: "usr_b", OwnerSet: true})
	require.NoError(t, err)
	require.Len(t, bs, 1)
	owned, err = s.BlobsOwned(ctx, "usr_b", []string{fmt.Sprintf("%064d", 9)})
	require.NoError(t, err)
	require.True(t, owned[fmt.Sprintf("%064d", 9)])

	// Held: only while a worker registered with the token runs the job.
	w := worker("w1", 20)
	w.TokenID = "rgw_1"
	reg, err := s.UpsertWorker(ctx, w, at(0))
	require.NoError(t, err)
	require.Equal(t, "rgw_1", reg.TokenID)
	gotW, err := s.GetWorker(ctx, "w1")
	require.NoError(t, err)
	require.Equal(t, reg, gotW)
	_, err = s.GetWorker(ctx, "nope")
	require.ErrorIs(t, err, store.ErrNotFound)
	other := worker("w2", 20)
	other.TokenID = "rgw_2"
	_, err = s.UpsertWorker(ctx, other, at(0))
	require.NoError(t, err)
	claimed, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w1", Max: 1, Now: at(21)})
	require.NoError(t, err)
	require.Equal(t, "j0", claimed[0].ID)
	held, err := s.BlobsHeld(ctx, "rgw_1", []string{fmt.Sprintf("%064d", 0), fmt.Sprintf("%064d", 1)})
	require.NoError(t, err)
	require.Equal(t, map[string]bool{fmt.Sprintf("%064d", 0): true}, held)
	held, err = s.BlobsHeld(ctx, "rgw_2", []string{fmt.Sprintf("%064d", 0)})
	require.NoError(t, err)
	require.Empty(t, held, "another token's worker does not hold it")

	holders, err := s.AttemptHolders(ctx, []store.AttemptRef{{JobID: "j0", Attempt: 1}, {JobID: "j0", Attempt: 2}, {JobID: "j1", Attempt: 1}, {JobID: "nope", Attempt: 1}})
	require.NoError(t, err)
	require.Equal(t, []string{"w1", "", "", ""}, holders)

	active, err := s.ActiveByOwner(ctx)
	require.NoError(t, err)
	require.Equal(t, []store.OwnerCount{{Owner: "usr_a", Jobs: 1}}, active)

	_, err = s.FinishAttempt(ctx, store.FinishParams{JobID: "j0", Attempt: 1, State: store.StateSucceeded, ExitCode: ptr(0), Started: true, Now: at(22)})
	require.NoError(t, err)
	held, err = s.BlobsHeld(ctx, "rgw_1", []string{fmt.Sprintf("%064d", 0)})
	require.NoError(t, err)
	require.Empty(t, held, "an ended job's blobs are no longer held")
}

func mustSeq(t *testing.T, s store.Store, id string) int64 {
	t.Helper()
	j, err := s.GetJob(t.Context(), id)
	require.NoError(t, err)
	return j.Seq
}

// testIdempotentCreate: a key finds the job it made within the window,
// and makes a new one after it.
func testIdempotentCreate(t *testing.T, s store.Store) {
	ctx := t.Context()
	nj := newJob("k1")
	nj.IdempotencyKey, nj.Owner, nj.CreatedAt = "usr_a:key", "usr_a", at(0)
	first, err := s.CreateJob(ctx, nj)
	require.NoError(t, err)
	require.Equal(t, "k1", first.ID)

	again := newJob("k2")
	again.IdempotencyKey, again.Owner, again.CreatedAt = "usr_a:key", "usr_a", at(3600)
	got, err := s.CreateJob(ctx, again)
	require.NoError(t, err)
	require.Equal(t, "k1", got.ID, "the same key within the window finds the first job")
	_, err = s.GetJob(ctx, "k2")
	require.ErrorIs(t, err, store.ErrNotFound, "and stores no second one")

	late := newJob("k3")
	late.IdempotencyKey, late.Owner = "usr_a:key", "usr_a"
	late.CreatedAt = at(0).Add(store.IdempotencyWindow + 1e9)
	got, err = s.CreateJob(ctx, late)
	require.NoError(t, err)
	require.Equal(t, "k3", got.ID, "after the window the key makes a new job")

	other := newJob("k4")
	other.IdempotencyKey, other.Owner, other.CreatedAt = "usr_b:key", "usr_b", at(1)
	got, err = s.CreateJob(ctx, other)
	require.NoError(t, err)
	require.Equal(t, "k4", got.ID, "keys of other owners do not meet")
}

// testClaimOwnerCap: a claim leases an owner's jobs only within their
// running cap, passes over an owner at it to the jobs behind, and leaves
// uncapped owners alone.
func testClaimOwnerCap(t *testing.T, s store.Store) {
	ctx := t.Context()
	var njs []store.NewJob
	for i := range 6 {
		nj := newJob(fmt.Sprintf("a%d", i))
		nj.Owner, nj.CreatedAt = "usr_a", at(i)
		njs = append(njs, nj)
	}
	for i := range 2 {
		nj := newJob(fmt.Sprintf("b%d", i))
		nj.Owner, nj.CreatedAt = "usr_b", at(10+i)
		njs = append(njs, nj)
	}
	_, err := s.CreateJobs(ctx, njs)
	require.NoError(t, err)
	caps := map[string]int{"usr_a": 2}
	got, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w1", Max: 10, OwnerCap: caps, Now: at(20)})
	require.NoError(t, err)
	var ids []string
	for _, j := range got {
		ids = append(ids, j.ID)
	}
	require.Equal(t, []string{"a0", "a1", "b0", "b1"}, ids, "two of a's (its cap), then b's behind them")

	got, err = s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w1", Max: 10, OwnerCap: caps, Now: at(21)})
	require.NoError(t, err)
	require.Empty(t, got, "a is at its cap")

	_, err = s.FinishAttempt(ctx, store.FinishParams{JobID: "a0", Attempt: 1, State: store.StateSucceeded, ExitCode: ptr(0), Started: true, Now: at(22)})
	require.NoError(t, err)
	got, err = s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w1", Max: 10, OwnerCap: caps, Now: at(23)})
	require.NoError(t, err)
	require.Len(t, got, 1, "one ended, one more may run")
	require.Equal(t, "a2", got[0].ID)

	got, err = s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w1", Max: 10, Now: at(24)})
	require.NoError(t, err)
	require.Len(t, got, 3, "without caps the rest go")
}
