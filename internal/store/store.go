// Package store holds the domain types of RGrid and the Store interface
// that persists them. Two implementations live beside it, sqlite and
// postgres, and both pass the one conformance suite in storetest.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sentinel errors callers branch on.
var (
	// ErrNotFound: no row with that identity.
	ErrNotFound = errors.New("not found")
	// ErrStaleAttempt: the report names an attempt that is not the job's
	// current, active one (superseded, or the job already ended).
	ErrStaleAttempt = errors.New("attempt is not the job's current attempt")
	// ErrJobFinished: the job is already in a terminal state.
	ErrJobFinished = errors.New("job already finished")
	// ErrWorkerBusy: the worker still holds leased or running attempts.
	ErrWorkerBusy = errors.New("worker holds active attempts")
	// ErrWorkerInUse: the worker id is registered to another instance (a
	// different worker process); a *WorkerInUseError says which.
	ErrWorkerInUse = errors.New("worker id is held by another instance")
)

// WorkerInUseError is ErrWorkerInUse with the registration that holds the
// id, so the refusal can say where the other worker runs and when it was
// last heard from.
type WorkerInUseError struct {
	Holder Worker
}

func (e *WorkerInUseError) Error() string {
	return fmt.Sprintf("worker id %s is held by another instance on host %q, last heard from at %s",
		e.Holder.ID, e.Holder.Hostname, e.Holder.LastHeartbeat.UTC().Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrWorkerInUse) hold.
func (e *WorkerInUseError) Is(target error) bool { return target == ErrWorkerInUse }

// State is a job's or an attempt's state.
type State string

// States. Attempts use running and the terminal states; jobs use all.
const (
	StateQueued    State = "queued"
	StateLeased    State = "leased"
	StateRunning   State = "running"
	StateSucceeded State = "succeeded"
	StateFailed    State = "failed"
	StateTimedOut  State = "timed_out"
	StateOOMKilled State = "oom_killed"
	StateCanceled  State = "canceled"
	StateLost      State = "lost"
	StateError     State = "error"
)

// Terminal reports whether no further transition can happen.
func (s State) Terminal() bool {
	switch s {
	case StateSucceeded, StateFailed, StateTimedOut, StateOOMKilled,
		StateCanceled, StateLost, StateError:
		return true
	}
	return false
}

// Limits bound what a job may use. Zero means "the worker's default".
type Limits struct {
	MemoryBytes    int64
	CPUs           float64
	Pids           int64
	TimeoutSeconds int64
	DiskBytes      int64 // the job's working directory
}

// NewJob is what CreateJob stores.
type NewJob struct {
	ID string
	// Owner is the id of the user who submitted the job ("" on an open
	// grid, which has no users).
	Owner string
	// IdempotencyKey, when set, names the submission: CreateJob of a key
	// stored within IdempotencyWindow returns that job instead (the
	// server makes keys unique per user).
	IdempotencyKey string
	Script         []byte
	FileName       string
	Args           []string
	Runtime        string
	Env            map[string]string
	Limits         Limits
	Network        bool
	// MaxAttempts caps how many of the job's attempts may be lost to the
	// infrastructure (a worker that died or was cut off) before the job
	// ends lost.
	MaxAttempts int
	// Retries is how many times the script's own failure (failed,
	// timed_out, oom_killed) queues the job again. Zero: never.
	Retries int
	// Requirements are the job's Python dependencies, normalized PEP 508
	// strings; empty for none.
	Requirements []string
	// LogLimit caps the bytes of output stored for each attempt.
	LogLimit int64
	// Inputs is the manifest of the job's working directory (JSON, see
	// internal/workdir), nil for a script sent alone; Stdin is the blob
	// piped to its stdin, if any. Blobs lists every blob the two name:
	// the job references them (see BlobsReferenced).
	Inputs []byte
	// InputsSHA256 is the SHA-256 of Inputs (lowercase hex; "" without
	// inputs): what InputsByHash finds the manifest by. A manifest with
	// a hash is stored once however many jobs have it, not in each
	// job's record; Inputs nil with InputsSHA256 set names one stored
	// already (InputsByHash found it). InputsBlobs are
	// the blobs Inputs names, recorded once per InputsSHA256 rather than
	// per job (the first job with a manifest records them; the job
	// references them as it does Blobs). Without InputsSHA256, Blobs
	// lists them.
	InputsSHA256 string
	InputsBlobs  []string
	Stdin        BlobRef
	Blobs        []string
	CreatedAt    time.Time
	// SecretEnv is the job's secret environment, sealed by the server
	// (internal/secrets): opaque bytes to the store, nil for none.
	SecretEnv []byte
}

// BlobRef names a blob of the blob store by its SHA-256 (hex) and size.
// The zero BlobRef is none.
type BlobRef struct {
	SHA256 string
	Size   int64
}

// Outputs is what a job's working directory held when it ended, as its
// worker collected it: the manifest (JSON, see internal/workdir), what was
// left out and why (JSON), and the blobs the manifest names.
type Outputs struct {
	Manifest []byte
	Skipped  []byte
	Blobs    []string
}

// JobFiles are a job's inputs and outputs (JSON documents, nil for none)
// and its stdin.
type JobFiles struct {
	// BatchID is the batch of an item, whose shared inputs Inputs lack.
	BatchID        string
	Inputs         []byte
	Outputs        []byte
	OutputsSkipped []byte
	Stdin          BlobRef
}

// Job is a stored job. Script and Inputs are filled only by ClaimJobs.
type Job struct {
	ID           string
	Owner        string // the submitting user's id; "" on an open grid
	Seq          int64  // insertion order; newest-first listing and paging use it
	State        State
	FileName     string
	Args         []string
	Runtime      string
	Env          map[string]string
	Limits       Limits
	Network      bool
	ScriptSize   int64
	Script       []byte
	Inputs       []byte
	Stdin        BlobRef
	MaxAttempts  int
	Retries      int
	Requirements []string
	LogLimit     int64
	// LogsTruncated: an attempt's output reached LogLimit and the rest was
	// not stored.
	LogsTruncated bool

	// BatchID is the batch the job is an item of ("" for none), BatchIndex
	// its position in it, BatchInput its input file's path or its array
	// index.
	BatchID    string
	BatchIndex int
	BatchInput string

	Attempt  int // number of the current (latest) attempt; 0 if never leased
	WorkerID string
	// LeasedAt is when the current attempt was leased (nil while queued).
	LeasedAt        *time.Time
	CancelRequested bool
	// ScriptFailures and LostAttempts count the job's attempts that ended
	// as the script's failure (failed, timed_out, oom_killed) and as lost:
	// what Retries and MaxAttempts are checked against.
	ScriptFailures int
	LostAttempts   int

	ExitCode *int
	Reason   string
	Message  string
	// Failure is the worker's summary of a failed script (a JSON object),
	// or "".
	Failure string

	CreatedAt  time.Time
	StartedAt  *time.Time
	FinishedAt *time.Time

	// SecretEnv is NewJob.SecretEnv as stored (sealed; nil for none).
	SecretEnv []byte

	// RateMicros and Currency are what the current attempt is charged:
	// micro-units of Currency per hour of run time (see Rate), set when it
	// is claimed; 0 on an unpriced worker.
	RateMicros int64
	Currency   string
}

// Attempt is one lease of a job. Its number is the fencing token.
type Attempt struct {
	JobID      string
	Number     int
	WorkerID   string
	State      State // leased, running, or terminal
	ExitCode   *int
	Reason     string
	Message    string
	LeasedAt   time.Time
	StartedAt  *time.Time
	FinishedAt *time.Time
	// RateMicros and Currency are the attempt's charge per hour of run
	// time (Job.RateMicros when it was claimed).
	RateMicros int64
	Currency   string
}

// AttemptRef names one attempt of one job.
type AttemptRef struct {
	JobID   string
	Attempt int
}

// LogChunk is a piece of one stream of one attempt.
type LogChunk struct {
	ID      int64 // assigned by the store; orders a job's chunks
	JobID   string
	Attempt int
	Stream  string
	Seq     int64 // the worker's sequence number within (attempt, stream)
	Time    time.Time
	Data    []byte
}

// LogOffset is how much of one stream of an attempt is stored.
type LogOffset struct {
	Bytes   int64 // total length of the stored chunks
	LastSeq int64 // highest sequence number stored
}

// Worker is a registered worker agent.
type Worker struct {
	ID            string
	Name          string
	Hostname      string
	Version       string
	Executor      string
	Slots         int
	State         string // "active", "draining", "dead"
	RegisteredAt  time.Time
	LastHeartbeat time.Time
	// Max is the most a job may ask of this worker; a zero field has no
	// maximum. ClaimJobs hands the worker only jobs that fit.
	Max        Limits
	SlotsInUse int // filled by ListWorkers: attempts leased or running
	// Instance is the nonce of the worker process holding the id: a
	// worker makes one at start, so that two processes that share an id
	// (two on one data directory, machines cloned from one image) are told
	// apart. "" is a worker from before instances: nothing to compare.
	Instance string
	// TokenID is the worker token the worker registered with ("" on an
	// open grid or with the old shared token): every later call of the
	// worker, and every report on its attempts, must come with it.
	TokenID string
	// Pricing is what the worker costs (zero: unpriced).
	Pricing Pricing
	// Warm is how many warm containers the worker had waiting at its
	// last heartbeat that said (rgrid worker --warm).
	Warm int
}

// QueueStats are the queue's size and its first job's submission time
// (nil when the queue is empty). A job queued again keeps its place, and
// so its submission time.
type QueueStats struct {
	Queued          int64
	OldestCreatedAt *time.Time
}

// ListJobsParams selects a page of jobs, newest first.
type ListJobsParams struct {
	States []State // empty: all
	// BeforeSeq, when non-zero, returns only jobs older than that Seq.
	BeforeSeq int64
	// Owner, when OwnerSet, limits the list to that owner's jobs.
	Owner    string
	OwnerSet bool
	// Runtime and BatchID, when not "", limit the list to jobs of that
	// runtime (as submitted) and of that batch.
	Runtime string
	BatchID string
	Limit   int
}

// ClaimParams asks for up to Max queued jobs for one worker.
type ClaimParams struct {
	WorkerID string
	Max      int
	// Fits, when a field is non-zero, skips jobs asking for more than it
	// (a job's zero limit always fits).
	Fits Limits
	// Defaults fill the claimed jobs' zero limits, so that each job records
	// the limits it runs with.
	Defaults Limits
	// OwnerCap is, for the owners it names, how many of their jobs may be
	// leased or running at once (their running limit): the claim leases
	// an owner's jobs only within it, and passes over an owner at it.
	// Owners it does not name have no cap.
	OwnerCap map[string]int
	// Pricing and Slots are the claiming worker's: each claimed job's
	// attempt is charged Rate(Pricing, Slots, its limits as claimed).
	Pricing Pricing
	Slots   int
	// Pool is the claiming worker's pool ("" for none). When the pool has
	// a budget, the claim leases only jobs whose worst case (HoldMicros of
	// their rate and time limit) fits what is left of it this month, and
	// holds it, in one transaction that no other claim of the pool passes.
	Pool string
	Now  time.Time
}

// LoseParams ends a worker's active attempts as lost.
type LoseParams struct {
	WorkerID string
	// Keep lists attempts to leave alone (the ones the worker reports it
	// still runs).
	Keep []AttemptRef
	// LeasedBefore, when set, limits the loss to attempts leased before it
	// (so a lease still on its way to the worker is not taken back).
	LeasedBefore time.Time
	// OnlyLeased limits the loss to attempts that never started.
	OnlyLeased bool
	Reason     string // e.g. "worker_lost"
	Message    string // for the attempt, and for the job if it ends lost
	Now        time.Time
}

// FinishParams is a worker's result for one attempt.
type FinishParams struct {
	JobID    string
	Attempt  int
	State    State // terminal
	ExitCode *int
	Reason   string
	Message  string
	Failure  string // JSON summary of a failed script, or ""
	// Started: the run started. An attempt still leased (its start report
	// was folded into this result, or lost) is recorded as started at Now.
	Started bool
	// Outputs, when set, are the files the run left; they are the job's
	// if the result ends it.
	Outputs *Outputs
	Now     time.Time
}

// ReadLogsParams selects a job's chunks after a cursor, oldest first.
type ReadLogsParams struct {
	JobID   string
	Streams []string // empty: all
	AfterID int64
	Limit   int
}

// Store persists jobs, attempts, logs and workers. Every method is safe for
// concurrent use, and every state change is a single transaction. What a
// state change means is decided by the Decide functions of this package
// (transition.go); an implementation reads and writes rows.
type Store interface {
	BatchStore
	AuthStore
	LeaderStore
	CostStore
	CostSumStore
	BudgetStore
	PoolBudgetStore
	StartTimesStore

	// CreateJob stores a queued job.
	CreateJob(ctx context.Context, j NewJob) (Job, error)
	// CreateJobs stores queued jobs in one transaction, in order: all of
	// them or none.
	CreateJobs(ctx context.Context, js []NewJob) ([]Job, error)
	// GetJob returns a job without its script, or ErrNotFound.
	GetJob(ctx context.Context, id string) (Job, error)
	// ListJobs returns jobs newest first.
	ListJobs(ctx context.Context, p ListJobsParams) ([]Job, error)
	// ListAttempts returns a job's attempts, oldest first.
	ListAttempts(ctx context.Context, jobID string) ([]Attempt, error)

	// RequestCancel cancels a queued job at once (state canceled) and marks
	// a leased or running one with CancelRequested, for its worker to stop.
	// A finished job gives ErrJobFinished with the job.
	RequestCancel(ctx context.Context, id string, now time.Time) (Job, error)

	// ClaimJobs leases up to Max queued jobs, oldest first, to a worker:
	// each gets a new attempt (state leased) and comes back with its script.
	// Two concurrent claims never return the same job.
	ClaimJobs(ctx context.Context, p ClaimParams) ([]Job, error)
	// StartAttempt moves the current attempt and its job to running.
	// ErrStaleAttempt if (jobID, attempt) is not current and active.
	StartAttempt(ctx context.Context, ref AttemptRef, now time.Time) (Job, error)
	// StartAttempts is StartAttempt for many attempts at once: jobs[i]
	// and errs[i] are what StartAttempt would return for refs[i]. err is
	// for a failure of the whole call.
	StartAttempts(ctx context.Context, refs []AttemptRef, now time.Time) (jobs []Job, errs []error, err error)
	// FinishAttempts is FinishAttempt for many attempts at once, answered
	// the same way.
	FinishAttempts(ctx context.Context, ps []FinishParams) (jobs []Job, errs []error, err error)
	// FinishAttempt records the result of the current attempt as
	// DecideFinish decides: it ends the job, but a script failure with
	// retries left, or an attempt the worker reports lost with attempts
	// left, queues the job again. ErrStaleAttempt if (jobID, attempt) is
	// not current and active; a repeated identical report is also
	// ErrStaleAttempt, so exactly one result is ever recorded per attempt.
	FinishAttempt(ctx context.Context, p FinishParams) (Job, error)
	// LoseAttempts ends a worker's active attempts (leased or running) as
	// lost, as selected by p, and settles each job as DecideLose decides:
	// canceled if a cancel was requested, queued again while fewer than
	// MaxAttempts of its attempts were lost, else ended lost with
	// p.Message. Returns the affected jobs as they are now.
	LoseAttempts(ctx context.Context, p LoseParams) ([]Job, error)
	// ExpireOverdue ends running jobs whose start lies more than their
	// timeout plus grace before now (jobs without a timeout never expire):
	// attempt and job become timed_out with reason "server_timeout" and a
	// message saying the server ended it. Returns them.
	ExpireOverdue(ctx context.Context, now time.Time, grace time.Duration) ([]Job, error)
	// AttemptsToStop returns the worker's attempts that are still active but
	// whose job has CancelRequested or has moved to a later attempt.
	AttemptsToStop(ctx context.Context, workerID string) ([]AttemptRef, error)

	// AppendLogs stores chunks of the current active attempt. A chunk whose
	// (attempt, stream, seq) is already stored is skipped, so uploads can be
	// retried. ErrStaleAttempt if the attempt is not current and active.
	AppendLogs(ctx context.Context, ref AttemptRef, chunks []LogChunk) error
	// ReadLogs returns chunks with ID > AfterID, oldest first.
	ReadLogs(ctx context.Context, p ReadLogsParams) ([]LogChunk, error)
	// MarkLogsTruncated records that the attempt's output reached the
	// job's log limit. ErrStaleAttempt if it is not the current attempt.
	MarkLogsTruncated(ctx context.Context, ref AttemptRef) error
	// LogOffsets says how much of each stream of an attempt is stored: a
	// restarted worker resumes from there. Streams with nothing stored are
	// absent.
	LogOffsets(ctx context.Context, ref AttemptRef) (map[string]LogOffset, error)

	// UpsertWorker registers a worker or refreshes its registration; it
	// counts as a heartbeat. An id belongs to the instance that registered
	// it while that one lives (not dead, heard from at or after
	// aliveAfter): another instance's registration, a legacy one without
	// an instance included, is refused with a *WorkerInUseError. A row
	// without an instance is taken over, as before instances existed.
	UpsertWorker(ctx context.Context, w Worker, aliveAfter time.Time) (Worker, error)
	// Heartbeat records that the worker is alive, or ErrNotFound; a
	// *WorkerInUseError if another instance has registered the id since,
	// alive or not (the caller may register again). instance "" (a worker
	// from before instances) is not checked; a row without an instance is
	// claimed by the first instance heard from.
	Heartbeat(ctx context.Context, workerID, instance string, now time.Time) error
	// SetWorkerState sets a worker's state ("active", "draining", "dead").
	SetWorkerState(ctx context.Context, workerID, state string) error
	// SetWorkerWarm records how many warm containers the worker has
	// waiting (its heartbeat's count).
	SetWorkerWarm(ctx context.Context, workerID string, warm int) error
	// DeleteWorker removes a worker's registration (its jobs keep its id):
	// ErrNotFound if unknown, ErrWorkerBusy while it holds leased or
	// running attempts, which would then never be taken back.
	DeleteWorker(ctx context.Context, workerID string) error
	// MarkDeadWorkers sets state dead on every worker not already dead
	// whose last heartbeat is before cutoff, and returns them.
	MarkDeadWorkers(ctx context.Context, cutoff time.Time) ([]Worker, error)
	// ListWorkers returns all workers, most recently heard from first.
	ListWorkers(ctx context.Context) ([]Worker, error)
	// QueueStats counts the queued jobs and finds the first queued one
	// (by Seq), through the queue's partial index: the metrics read it
	// once per interval.
	QueueStats(ctx context.Context) (QueueStats, error)

	// JobFiles returns a job's inputs, outputs and stdin, or ErrNotFound.
	JobFiles(ctx context.Context, id string) (JobFiles, error)
	// BlobsReferenced returns which of hashes some job references.
	BlobsReferenced(ctx context.Context, hashes []string) (map[string]bool, error)

	// SchemaVersion is the applied migration version.
	SchemaVersion(ctx context.Context) (int64, error)
	// Dialect names the database: "sqlite" or "postgres".
	Dialect() string
	Close() error
}
