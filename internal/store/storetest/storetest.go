// Package storetest is the conformance suite every store.Store passes. The
// sqlite and postgres packages run it from their tests:
//
//	storetest.Run(t, func(t *testing.T) store.Store { return testdb.OpenSQLite(t) })
//
// open must return a fresh, migrated, empty store each call; the suite
// closes nothing itself.
package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rgrid/rgrid/internal/store"
)

// base is the suite's clock: UTC, whole microseconds (PostgreSQL's
// precision), so stored times compare equal.
var base = time.Date(2025, 3, 4, 5, 6, 7, 891011000, time.UTC)

func at(sec int) time.Time { return base.Add(time.Duration(sec) * time.Second) }

// Run runs the suite against the stores open returns.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("Meta", func(t *testing.T) { t.Parallel(); testMeta(t, open(t)) })
	t.Run("LeaderLease", func(t *testing.T) { t.Parallel(); testLeaderLease(t, open(t)) })
	t.Run("LeaderLeaseConcurrent", func(t *testing.T) { t.Parallel(); testLeaderLeaseConcurrent(t, open(t)) })
	t.Run("CreateAndGet", func(t *testing.T) { t.Parallel(); testCreateAndGet(t, open(t)) })
	t.Run("CreateJobs", func(t *testing.T) { t.Parallel(); testCreateJobs(t, open(t)) })
	t.Run("ScriptBytes", func(t *testing.T) { t.Parallel(); testScriptBytes(t, open(t)) })
	t.Run("ListJobs", func(t *testing.T) { t.Parallel(); testListJobs(t, open(t)) })
	t.Run("ListJobsDefaultLimit", func(t *testing.T) { t.Parallel(); testListJobsDefaultLimit(t, open(t)) })
	t.Run("ListJobsFilters", func(t *testing.T) { t.Parallel(); testListJobsFilters(t, open(t)) })
	t.Run("ServerKey", func(t *testing.T) { t.Parallel(); testServerKey(t, open(t)) })
	t.Run("CancelQueued", func(t *testing.T) { t.Parallel(); testCancelQueued(t, open(t)) })
	t.Run("CancelActive", func(t *testing.T) { t.Parallel(); testCancelActive(t, open(t)) })
	t.Run("CancelFinished", func(t *testing.T) { t.Parallel(); testCancelFinished(t, open(t)) })
	t.Run("Claim", func(t *testing.T) { t.Parallel(); testClaim(t, open(t)) })
	t.Run("ClaimOnlyQueued", func(t *testing.T) { t.Parallel(); testClaimOnlyQueued(t, open(t)) })
	t.Run("ClaimConcurrent", func(t *testing.T) { t.Parallel(); testClaimConcurrent(t, open(t)) })
	t.Run("StartAttempt", func(t *testing.T) { t.Parallel(); testStartAttempt(t, open(t)) })
	t.Run("FinishAttempt", func(t *testing.T) { t.Parallel(); testFinishAttempt(t, open(t)) })
	t.Run("FinishFromLeased", func(t *testing.T) { t.Parallel(); testFinishFromLeased(t, open(t)) })
	t.Run("FinishStarted", func(t *testing.T) { t.Parallel(); testFinishStarted(t, open(t)) })
	t.Run("FinishConcurrent", func(t *testing.T) { t.Parallel(); testFinishConcurrent(t, open(t)) })
	t.Run("BatchReports", func(t *testing.T) { t.Parallel(); testBatchReports(t, open(t)) })
	t.Run("Fencing", func(t *testing.T) { t.Parallel(); testFencing(t, open(t)) })
	t.Run("AttemptsToStop", func(t *testing.T) { t.Parallel(); testAttemptsToStop(t, open(t)) })
	t.Run("Logs", func(t *testing.T) { t.Parallel(); testLogs(t, open(t)) })
	t.Run("LogsDedup", func(t *testing.T) { t.Parallel(); testLogsDedup(t, open(t)) })
	t.Run("LogsRacingRetry", func(t *testing.T) { t.Parallel(); testLogsRacingRetry(t, open(t)) })
	t.Run("LogsFencing", func(t *testing.T) { t.Parallel(); testLogsFencing(t, open(t)) })
	t.Run("LogsDefaultLimit", func(t *testing.T) { t.Parallel(); testLogsDefaultLimit(t, open(t)) })
	t.Run("LogOffsets", func(t *testing.T) { t.Parallel(); testLogOffsets(t, open(t)) })
	t.Run("LogLimitAndFailure", func(t *testing.T) { t.Parallel(); testLogLimitAndFailure(t, open(t)) })
	t.Run("UpsertWorker", func(t *testing.T) { t.Parallel(); testUpsertWorker(t, open(t)) })
	t.Run("WorkerHeartbeatAndState", func(t *testing.T) { t.Parallel(); testWorkerHeartbeatAndState(t, open(t)) })
	t.Run("DeleteWorker", func(t *testing.T) { t.Parallel(); testDeleteWorker(t, open(t)) })
	t.Run("ListWorkers", func(t *testing.T) { t.Parallel(); testListWorkers(t, open(t)) })
	t.Run("MarkDeadWorkers", func(t *testing.T) { t.Parallel(); testMarkDeadWorkers(t, open(t)) })
	t.Run("QueueStats", func(t *testing.T) { t.Parallel(); testQueueStats(t, open(t)) })
	t.Run("WorkerInstanceRegister", func(t *testing.T) { t.Parallel(); testWorkerInstanceRegister(t, open(t)) })
	t.Run("WorkerInstanceHeartbeat", func(t *testing.T) { t.Parallel(); testWorkerInstanceHeartbeat(t, open(t)) })
	t.Run("WorkerInstanceLegacy", func(t *testing.T) { t.Parallel(); testWorkerInstanceLegacy(t, open(t)) })
	t.Run("ClaimFits", func(t *testing.T) { t.Parallel(); testClaimFits(t, open(t)) })
	t.Run("ClaimFitsDisk", func(t *testing.T) { t.Parallel(); testClaimFitsDisk(t, open(t)) })
	t.Run("ClaimDefaults", func(t *testing.T) { t.Parallel(); testClaimDefaults(t, open(t)) })
	t.Run("RequirementsRoundTrip", func(t *testing.T) { t.Parallel(); testRequirementsRoundTrip(t, open(t)) })
	t.Run("SecretEnv", func(t *testing.T) { t.Parallel(); testSecretEnv(t, open(t)) })
	t.Run("Retries", func(t *testing.T) { t.Parallel(); testRetries(t, open(t)) })
	t.Run("RetriesOnlyScriptFailures", func(t *testing.T) { t.Parallel(); testRetriesOnlyScriptFailures(t, open(t)) })
	t.Run("LoseAttempts", func(t *testing.T) { t.Parallel(); testLoseAttempts(t, open(t)) })
	t.Run("LoseAttemptsSelect", func(t *testing.T) { t.Parallel(); testLoseAttemptsSelect(t, open(t)) })
	t.Run("LoseAttemptsEndsLost", func(t *testing.T) { t.Parallel(); testLoseAttemptsEndsLost(t, open(t)) })
	t.Run("LoseAttemptsCanceled", func(t *testing.T) { t.Parallel(); testLoseAttemptsCanceled(t, open(t)) })
	t.Run("LoseVersusFinish", func(t *testing.T) { t.Parallel(); testLoseVersusFinish(t, open(t)) })
	t.Run("NoActiveAttemptLeftBehind", func(t *testing.T) { t.Parallel(); testNoActiveAttemptLeftBehind(t, open(t)) })
	t.Run("StartTimes", func(t *testing.T) { t.Parallel(); testStartTimes(t, open(t)) })
	t.Run("ExpireOverdue", func(t *testing.T) { t.Parallel(); testExpireOverdue(t, open(t)) })
	t.Run("JobFiles", func(t *testing.T) { t.Parallel(); testJobFiles(t, open(t)) })
	t.Run("InputsByHash", func(t *testing.T) { t.Parallel(); testInputsByHash(t, open(t)) })
	t.Run("OutputsOnlyWhenTheJobEnds", func(t *testing.T) { t.Parallel(); testOutputsOnlyWhenTheJobEnds(t, open(t)) })
	t.Run("Users", func(t *testing.T) { t.Parallel(); testUsers(t, open(t)) })
	t.Run("Tokens", func(t *testing.T) { t.Parallel(); testTokens(t, open(t)) })
	t.Run("Audit", func(t *testing.T) { t.Parallel(); testAudit(t, open(t)) })
	t.Run("Owners", func(t *testing.T) { t.Parallel(); testOwners(t, open(t)) })
	t.Run("IdempotentCreate", func(t *testing.T) { t.Parallel(); testIdempotentCreate(t, open(t)) })
	t.Run("ClaimOwnerCap", func(t *testing.T) { t.Parallel(); testClaimOwnerCap(t, open(t)) })
	t.Run("ClaimRate", func(t *testing.T) { t.Parallel(); testClaimRate(t, open(t)) })
	t.Run("Charges", func(t *testing.T) { t.Parallel(); testCharges(t, open(t)) })
	t.Run("BatchCharges", func(t *testing.T) { t.Parallel(); testBatchCharges(t, open(t)) })
	t.Run("CostSums", func(t *testing.T) { t.Parallel(); testCostSums(t, open(t)) })
	t.Run("BudgetHolds", func(t *testing.T) { t.Parallel(); testBudgetHolds(t, open(t)) })
	t.Run("BudgetHoldsRace", func(t *testing.T) { t.Parallel(); testBudgetHoldsRace(t, open(t)) })
	t.Run("BudgetSpentAgrees", func(t *testing.T) { t.Parallel(); testBudgetSpentAgrees(t, open(t)) })
	t.Run("PoolBudgets", func(t *testing.T) { t.Parallel(); testPoolBudgets(t, open(t)) })
	t.Run("PoolBudgetsRace", func(t *testing.T) { t.Parallel(); testPoolBudgetsRace(t, open(t)) })
	t.Run("BatchCreate", func(t *testing.T) { t.Parallel(); testBatchCreate(t, open(t)) })
	t.Run("BatchIdempotent", func(t *testing.T) { t.Parallel(); testBatchIdempotent(t, open(t)) })
	t.Run("BatchList", func(t *testing.T) { t.Parallel(); testBatchList(t, open(t)) })
	t.Run("BatchItems", func(t *testing.T) { t.Parallel(); testBatchItems(t, open(t)) })
	t.Run("BatchParallelism", func(t *testing.T) { t.Parallel(); testBatchParallelism(t, open(t)) })
	t.Run("BatchParallelismConcurrent", func(t *testing.T) { t.Parallel(); testBatchParallelismConcurrent(t, open(t)) })
	t.Run("BatchCounters", func(t *testing.T) { t.Parallel(); testBatchCounters(t, open(t)) })
	t.Run("BatchItemLost", func(t *testing.T) { t.Parallel(); testBatchItemLost(t, open(t)) })
	t.Run("BatchRetry", func(t *testing.T) { t.Parallel(); testBatchRetry(t, open(t)) })
	t.Run("BatchCancel", func(t *testing.T) { t.Parallel(); testBatchCancel(t, open(t)) })
	t.Run("BatchLarge", func(t *testing.T) { t.Parallel(); testBatchLarge(t, open(t)) })
}

func testMeta(t *testing.T, s store.Store) {
	require.Contains(t, []string{"sqlite", "postgres"}, s.Dialect())
	v, err := s.SchemaVersion(t.Context())
	require.NoError(t, err)
	require.GreaterOrEqual(t, v, int64(4), "the suite needs a migrated store")
}

// newJob is a job with every field set.
func newJob(id string) store.NewJob {
	return store.NewJob{
		ID:       id,
		Script:   []byte("print('hello " + id + "')\n"),
		FileName: id + ".py",
		Args:     []string{"--n", "3", "with space", "ünïcode"},
		Runtime:  "python3.11",
		Env:      map[string]string{"A": "1", "EMPTY": "", "QUOTE": `"x"`},
		Limits: store.Limits{MemoryBytes: 512 << 20, CPUs: 1.5, Pids: 256,
			TimeoutSeconds: 300},
		Network:     true,
		MaxAttempts: 3,
		CreatedAt:   base,
	}
}

// createJobs creates n jobs named prefix-0 … in that order.
func createJobs(t *testing.T, s store.Store, prefix string, n int) []store.Job {
	t.Helper()
	jobs := make([]store.Job, n)
	for i := range n {
		j, err := s.CreateJob(t.Context(), newJob(fmt.Sprintf("%s-%d", prefix, i)))
		require.NoError(t, err)
		jobs[i] = j
	}
	return jobs
}

// claimOne creates a job and leases it to worker at at(1).
func claimOne(t *testing.T, s store.Store, id, worker string) store.Job {
	t.Helper()
	return claimAt(t, s, newJob(id), worker, 1)
}

// claimAt creates nj and leases it to worker at at(sec). No other job may
// be queued.
func claimAt(t *testing.T, s store.Store, nj store.NewJob, worker string, sec int) store.Job {
	t.Helper()
	_, err := s.CreateJob(t.Context(), nj)
	require.NoError(t, err)
	got, err := s.ClaimJobs(t.Context(), store.ClaimParams{WorkerID: worker, Max: 1, Now: at(sec)})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, nj.ID, got[0].ID)
	return got[0]
}

func ref(j store.Job) store.AttemptRef { return store.AttemptRef{JobID: j.ID, Attempt: j.Attempt} }

func intp(v int) *int { return &v }

func timep(t time.Time) *time.Time { return &t }

func ids(jobs []store.Job) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}

func testCreateAndGet(t *testing.T, s store.Store) {
	ctx := t.Context()
	nj := newJob("job-1")
	created, err := s.CreateJob(ctx, nj)
	require.NoError(t, err)
	want := store.Job{
		ID: nj.ID, Seq: created.Seq, State: store.StateQueued, FileName: nj.FileName,
		Args: nj.Args, Runtime: nj.Runtime, Env: nj.Env, Limits: nj.Limits,
		Network: true, ScriptSize: int64(len(nj.Script)), MaxAttempts: 3, LogLimit: store.DefaultLogLimit,
		CreatedAt: base,
	}
	require.Positive(t, created.Seq)
	require.Equal(t, want, created)

	got, err := s.GetJob(ctx, nj.ID)
	require.NoError(t, err)
	require.Equal(t, want, got)

	// A second job sorts after the first; no network, no args, no env.
	plain := store.NewJob{ID: "job-2", Script: []byte("x"), FileName: "x.sh", Runtime: "bash", MaxAttempts: 1, CreatedAt: at(1)}
	j2, err := s.CreateJob(ctx, plain)
	require.NoError(t, err)
	require.Greater(t, j2.Seq, created.Seq)
	require.False(t, j2.Network)
	require.Empty(t, j2.Args)
	require.Empty(t, j2.Env)

	_, err = s.GetJob(ctx, "nope")
	require.ErrorIs(t, err, store.ErrNotFound)

	_, err = s.CreateJob(ctx, newJob("job-1"))
	require.Error(t, err, "a second job with the same ID")
}

func testScriptBytes(t *testing.T, s store.Store) {
	ctx := t.Context()
	script := []byte{0xff, 0xfe, 0, 1, 2, '\n', 0x80}
	nj := newJob("bin")
	nj.Script = script
	created, err := s.CreateJob(ctx, nj)
	require.NoError(t, err)
	require.Equal(t, int64(len(script)), created.ScriptSize)
	require.Nil(t, created.Script, "only ClaimJobs returns the script")

	got, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w", Max: 1, Now: at(1)})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, script, got[0].Script)
	require.Equal(t, nj.Args, got[0].Args)
	require.Equal(t, nj.Env, got[0].Env)
}

func testListJobs(t *testing.T, s store.Store) {
	ctx := t.Context()
	jobs := createJobs(t, s, "j", 7)
	_, err := s.RequestCancel(ctx, "j-2", at(1))
	require.NoError(t, err)
	_, err = s.RequestCancel(ctx, "j-5", at(1))
	require.NoError(t, err)

	page1, err := s.ListJobs(ctx, store.ListJobsParams{Limit: 3})
	require.NoError(t, err)
	require.Equal(t, []string{"j-6", "j-5", "j-4"}, ids(page1))
	for _, j := range page1 {
		require.Nil(t, j.Script)
	}
	page2, err := s.ListJobs(ctx, store.ListJobsParams{Limit: 3, BeforeSeq: page1[2].Seq})
	require.NoError(t, err)
	require.Equal(t, []string{"j-3", "j-2", "j-1"}, ids(page2))
	page3, err := s.ListJobs(ctx, store.ListJobsParams{Limit: 3, BeforeSeq: page2[2].Seq})
	require.NoError(t, err)
	require.Equal(t, []string{"j-0"}, ids(page3))
	none, err := s.ListJobs(ctx, store.ListJobsParams{BeforeSeq: jobs[0].Seq})
	require.NoError(t, err)
	require.Empty(t, none)

	canceled, err := s.ListJobs(ctx, store.ListJobsParams{States: []store.State{store.StateCanceled}})
	require.NoError(t, err)
	require.Equal(t, []string{"j-5", "j-2"}, ids(canceled))
	both, err := s.ListJobs(ctx, store.ListJobsParams{
		States: []store.State{store.StateCanceled, store.StateQueued}, Limit: 2, BeforeSeq: jobs[5].Seq,
	})
	require.NoError(t, err)
	require.Equal(t, []string{"j-4", "j-3"}, ids(both))
	running, err := s.ListJobs(ctx, store.ListJobsParams{States: []store.State{store.StateRunning}})
	require.NoError(t, err)
	require.Empty(t, running)

	// Runtime and batch filters.
	other := newJob("j-r")
	other.Runtime = "python3.12"
	_, err = s.CreateJob(ctx, other)
	require.NoError(t, err)
	byRuntime, err := s.ListJobs(ctx, store.ListJobsParams{Runtime: "python3.12"})
	require.NoError(t, err)
	require.Equal(t, []string{"j-r"}, ids(byRuntime))
	byRuntime, err = s.ListJobs(ctx, store.ListJobsParams{Runtime: "python3.11", Limit: 2})
	require.NoError(t, err)
	require.Equal(t, []string{"j-6", "j-5"}, ids(byRuntime))
	noBatch, err := s.ListJobs(ctx, store.ListJobsParams{BatchID: "bat_none"})
	require.NoError(t, err)
	require.Empty(t, noBatch)
}

func testListJobsDefaultLimit(t *testing.T, s store.Store) {
	createJobs(t, s, "d", 53)
	got, err := s.ListJobs(t.Context(), store.ListJobsParams{})
	require.NoError(t, err)
	require.Len(t, got, 50)
	require.Equal(t, "d-52", got[0].ID)
}

// testCreateJobs: a batch is stored in order, each job as CreateJob would
// store it, and a batch with one bad job stores none.
func testCreateJobs(t *testing.T, s store.Store) {
	ctx := t.Context()
	var batch []store.NewJob
	for i := range 50 {
		nj := newJob(fmt.Sprintf("b-%02d", i))
		nj.Retries, nj.LogLimit, nj.Requirements = i%3, int64(i+1)<<20, []string{"numpy==1.26.4"}
		if i%2 == 0 {
			nj.Args, nj.Env, nj.Script = nil, nil, nil
		}
		batch = append(batch, nj)
	}
	got, err := s.CreateJobs(ctx, batch)
	require.NoError(t, err)
	require.Len(t, got, len(batch))
	for i, j := range got {
		require.Equal(t, batch[i].ID, j.ID)
		if i > 0 {
			require.Greater(t, j.Seq, got[i-1].Seq, "stored in order")
		}
		stored, err := s.GetJob(ctx, j.ID)
		require.NoError(t, err)
		require.Equal(t, stored, j)
		require.Equal(t, store.StateQueued, j.State)
		require.Equal(t, int64(len(batch[i].Script)), j.ScriptSize)
		require.Equal(t, batch[i].Retries, j.Retries)
		require.Equal(t, batch[i].LogLimit, j.LogLimit)
		require.Equal(t, batch[i].Args, j.Args)
		require.Equal(t, batch[i].Requirements, j.Requirements)
	}
	none, err := s.CreateJobs(ctx, nil)
	require.NoError(t, err)
	require.Empty(t, none)

	bad := []store.NewJob{newJob("c-1"), newJob("b-07")} // b-07 exists
	_, err = s.CreateJobs(ctx, bad)
	require.Error(t, err)
	_, err = s.GetJob(ctx, "c-1")
	require.ErrorIs(t, err, store.ErrNotFound, "a failed batch stores nothing")
}
