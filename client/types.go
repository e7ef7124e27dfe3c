// Package client is the public Go client of the RGrid API and its wire
// types. The CLI and the worker reach the server only through it. It imports
// the standard library only, so that programs embedding RGrid pull in nothing
// else.
package client

import (
	"strconv"
	"time"
)

// JobState is where a job is in its lifecycle.
type JobState string

// Job states. A job moves queued → leased → running → one terminal state.
const (
	StateQueued    JobState = "queued"
	StateLeased    JobState = "leased"
	StateRunning   JobState = "running"
	StateSucceeded JobState = "succeeded"
	StateFailed    JobState = "failed"
	StateTimedOut  JobState = "timed_out"
	StateOOMKilled JobState = "oom_killed"
	StateCanceled  JobState = "canceled"
	StateLost      JobState = "lost"
	StateError     JobState = "error"
)

// AllStates lists every job state in lifecycle order.
var AllStates = []JobState{
	StateQueued, StateLeased, StateRunning, StateSucceeded, StateFailed,
	StateTimedOut, StateOOMKilled, StateCanceled, StateLost, StateError,
}

// Terminal reports whether no further transition can happen.
func (s JobState) Terminal() bool {
	switch s {
	case StateSucceeded, StateFailed, StateTimedOut, StateOOMKilled,
		StateCanceled, StateLost, StateError:
		return true
	}
	return false
}

// Valid reports whether s is one of the known states.
func (s JobState) Valid() bool {
	for _, k := range AllStates {
		if s == k {
			return true
		}
	}
	return false
}

// Limits bound what a job may use. Zero means "the worker's default".
type Limits struct {
	MemoryBytes    int64   `json:"memory_bytes,omitempty"`
	CPUs           float64 `json:"cpus,omitempty"`
	Pids           int64   `json:"pids,omitempty"`
	TimeoutSeconds int64   `json:"timeout_seconds,omitempty"`
	DiskBytes      int64   `json:"disk_bytes,omitempty"`
}

// SubmitRequest is the body of POST /v1/jobs.
type SubmitRequest struct {
	// IdempotencyKey, when set, is sent as the Idempotency-Key header (not
	// in the body): see Client.Submit.
	IdempotencyKey string `json:"-"`
	// Script is the script's bytes, exactly as read from disk (base64 on the
	// wire, so any encoding survives).
	Script   []byte            `json:"script"`
	FileName string            `json:"file_name"`
	Args     []string          `json:"args,omitempty"`
	Runtime  string            `json:"runtime,omitempty"`
	Env      map[string]string `json:"env,omitempty"`
	// SecretEnv are environment variables whose values the server stores
	// encrypted and shows to no one but the worker that runs the job (the
	// job's views list their names only). A name is in Env or here, not
	// both.
	SecretEnv map[string]string `json:"secret_env,omitempty"`
	Limits    Limits            `json:"limits,omitempty"`
	Network   bool              `json:"network,omitempty"`
	// Retries is how many times the script's own failure (non-zero exit,
	// timeout, out of memory) queues the job again. Infrastructure failures
	// are retried regardless.
	Retries int `json:"retries,omitempty"`
	// Requirements is the text of a requirements.txt for the script, and
	// RequirementsName its name for messages. The server merges it with the
	// script's PEP 723 inline metadata unless NoDeps is set.
	Requirements     string `json:"requirements,omitempty"`
	RequirementsName string `json:"requirements_name,omitempty"`
	NoDeps           bool   `json:"no_deps,omitempty"`
	// LogLimit caps the bytes of output stored for each attempt; output
	// beyond it is not stored and the job goes on. 0: the server's default.
	LogLimit int64 `json:"log_limit,omitempty"`
	// Inputs, when set, is the job's working directory: the script is the
	// file FileName in it (a relative path), and Script its bytes. Every
	// file's blob must be on the server (see MissingBlobs).
	Inputs *Manifest `json:"inputs,omitempty"`
	// InputsSHA256 names the inputs manifest by the SHA-256 of its
	// canonical encoding (workdir.Manifest.SHA256). Sent with Inputs, it
	// must match them. Sent alone, it asks the server to take the
	// manifest from a job of the caller's that had it: an unchanged
	// project is not sent again. A server that has none answers
	// CodeManifestUnknown, and the client sends Inputs.
	InputsSHA256 string `json:"inputs_sha256,omitempty"`
	// Stdin, when set, is the blob the script reads on its stdin.
	Stdin *BlobRef `json:"stdin,omitempty"`
}

// BatchSubmitRequest is the body of POST /v1/jobs/batch: up to 1,000 jobs,
// stored all or none.
type BatchSubmitRequest struct {
	Jobs []SubmitRequest `json:"jobs"`
}

// BatchSubmitResponse lists the queued jobs in the order submitted.
type BatchSubmitResponse struct {
	Jobs []Job `json:"jobs"`
}

// Job is a submitted script and what became of it.
type Job struct {
	ID       string            `json:"id"`
	State    JobState          `json:"state"`
	FileName string            `json:"file_name"`
	Args     []string          `json:"args"`
	Runtime  string            `json:"runtime"`
	Env      map[string]string `json:"env,omitempty"`
	// SecretEnv names the job's secret environment variables; their
	// values are never shown (a leased job's Env holds them, for its
	// worker only).
	SecretEnv []string `json:"secret_env,omitempty"`
	Limits    Limits   `json:"limits"`
	Network   bool     `json:"network"`
	Retries   int      `json:"retries,omitempty"`
	// Requirements are the Python packages installed for the job,
	// validated and normalized.
	Requirements []string `json:"requirements,omitempty"`
	// ScriptSize is the script's length in bytes; the script itself is only
	// handed to the worker that leases the job.
	ScriptSize int64 `json:"script_size"`
	// LogLimit is the most output stored for each attempt, in bytes;
	// LogsTruncated says an attempt reached it and the rest was dropped.
	LogLimit      int64 `json:"log_limit"`
	LogsTruncated bool  `json:"logs_truncated,omitempty"`

	// BatchID is the batch the job is an item of, BatchIndex its position
	// in it (from 0), and BatchInput its input file's path or its array
	// index.
	BatchID    string `json:"batch_id,omitempty"`
	BatchIndex int    `json:"batch_index,omitempty"`
	BatchInput string `json:"batch_input,omitempty"`

	Attempt         int    `json:"attempt"`
	WorkerID        string `json:"worker_id,omitempty"`
	CancelRequested bool   `json:"cancel_requested,omitempty"`

	ExitCode *int   `json:"exit_code,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Message  string `json:"message,omitempty"`
	// Failure summarises a failed script's last Python traceback, when it
	// printed one.
	Failure *Failure `json:"failure,omitempty"`

	CreatedAt  time.Time  `json:"created_at"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`

	Attempts []Attempt `json:"attempts,omitempty"`
	// Cost is what the job's attempts cost, so far while one runs (only
	// from GET /v1/jobs/{id}; absent when no attempt was priced).
	Cost *Money `json:"cost,omitempty"`
	// Files counts the job's inputs and outputs (only from GET
	// /v1/jobs/{id}).
	Files *FilesSummary `json:"files,omitempty"`
}

// Failure is the exception that ended a script and where it was raised:
// the innermost frame in the script itself, else the innermost frame.
type Failure struct {
	Exception string `json:"exception"`          // "ZeroDivisionError"
	Message   string `json:"message,omitempty"`  // "division by zero"
	File      string `json:"file,omitempty"`     // "analysis.py"
	Line      int    `json:"line,omitempty"`     // 12
	Function  string `json:"function,omitempty"` // "main"
}

// Summary is one line: "ZeroDivisionError: division by zero at analysis.py line 12".
func (f Failure) Summary() string {
	s := f.Exception
	if f.Message != "" {
		s += ": " + f.Message
	}
	if f.File != "" {
		s += " at " + f.File
		if f.Line > 0 {
			s += " line " + strconv.Itoa(f.Line)
		}
	}
	return s
}

// Attempt is one lease of a job by a worker. Its number is the fencing token.
type Attempt struct {
	Number     int        `json:"number"`
	WorkerID   string     `json:"worker_id"`
	State      JobState   `json:"state"`
	ExitCode   *int       `json:"exit_code,omitempty"`
	Reason     string     `json:"reason,omitempty"`
	Message    string     `json:"message,omitempty"`
	LeasedAt   time.Time  `json:"leased_at"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	// RateMicrosPerHour is what the attempt is charged per hour of run
	// time (its worker's price times the job's share of the worker), Cost
	// what it cost (so far, while it runs); both absent on an unpriced
	// worker. An attempt that never started costs nothing.
	RateMicrosPerHour int64  `json:"rate_micros_per_hour,omitempty"`
	Cost              *Money `json:"cost,omitempty"`
	// Start is where the attempt's start went (only from GET
	// /v1/jobs/{id}).
	Start *StartTimes `json:"start,omitempty"`
}

// StartTimes is where an attempt's start went, phase by phase, each a
// duration in nanoseconds. A phase is absent (zero) when the attempt did
// not reach it, its executor has no such step (no image for host
// processes) or its worker did not measure it (an older worker, a run
// adopted after a restart of the worker).
type StartTimes struct {
	// Lease: from the job being queued (submitted, or queued again after
	// the previous attempt) to this attempt's lease by a worker. The
	// server measures it; a worker's report leaves it out.
	Lease time.Duration `json:"lease_ns,omitempty"`
	// Image: the image (and the requirements' environment) made ready on
	// the worker, pulled or built if missing.
	Image time.Duration `json:"image_ns,omitempty"`
	// Stage: the script and the job's inputs written into its working
	// directory.
	Stage time.Duration `json:"stage_ns,omitempty"`
	// Container: the container created and started, until the job's
	// process runs.
	Container time.Duration `json:"container_ns,omitempty"`
	// FirstByte: from the process running to its first byte of output,
	// or to its exit when it printed nothing.
	FirstByte time.Duration `json:"first_byte_ns,omitempty"`
}

// JobList is one page of GET /v1/jobs, newest first.
type JobList struct {
	Jobs []Job `json:"jobs"`
	// Next is the cursor for the following (older) page; empty on the last.
	Next string `json:"next,omitempty"`
}

// Stream names an output stream of a job.
type Stream string

// Streams of a job's log. System lines come from RGrid itself (install
// output, truncation notices) and are never mixed into the script's own.
const (
	Stdout Stream = "stdout"
	Stderr Stream = "stderr"
	System Stream = "system"
)

// LogChunk is a piece of one stream of one attempt.
type LogChunk struct {
	// ID orders the chunks of a job; pass the last one seen as "after" to
	// resume without losing or repeating a byte. Set by the server.
	ID      int64  `json:"id,omitempty"`
	Attempt int    `json:"attempt"`
	Stream  Stream `json:"stream"`
	// Seq is the worker's sequence number within (attempt, stream); a chunk
	// sent twice with the same Seq is stored once.
	Seq  int64     `json:"seq"`
	Time time.Time `json:"time"`
	Data []byte    `json:"data"`
}

// LogPage is the body of GET /v1/jobs/{id}/logs.
type LogPage struct {
	Chunks []LogChunk `json:"chunks"`
	// Next is the cursor to pass as "after" for the following page.
	Next int64 `json:"next"`
	// State is the job's state when the page was read. When it is terminal
	// and Chunks is empty, the log is complete.
	State JobState `json:"state"`
}

// LogEnd is the last message of a log stream (SSE event "end", WebSocket
// message type "end"): the job has ended and every chunk was sent.
type LogEnd struct {
	State JobState `json:"state"`
	// Next is the id of the last chunk sent (or the cursor the stream
	// started from, if it sent none).
	Next int64 `json:"next"`
}

// Runtime is one entry of the runtime table.
type Runtime struct {
	Name       string   `json:"name"`
	Image      string   `json:"image"`
	Command    []string `json:"command"`
	Extensions []string `json:"extensions,omitempty"`
	AliasOf    string   `json:"alias_of,omitempty"`
	Default    bool     `json:"default,omitempty"`
}

// Worker is a registered worker agent as the server sees it.
type Worker struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Hostname   string `json:"hostname"`
	Version    string `json:"version"`
	Executor   string `json:"executor"`
	Slots      int    `json:"slots"`
	SlotsInUse int    `json:"slots_in_use"`
	// Warm is how many warm containers the worker has waiting.
	Warm          int       `json:"warm"`
	Max           Limits    `json:"max,omitempty"`
	State         string    `json:"state"`
	RegisteredAt  time.Time `json:"registered_at"`
	LastHeartbeat time.Time `json:"last_heartbeat"`
	Pricing       *Pricing  `json:"pricing,omitempty"`
}

// Pricing is what a worker costs: its price per hour in integer
// micro-units of Currency (an ISO 4217 code: 0.02 EUR is 20000), the CPUs
// and memory a job's share of it is taken of, and how its provider bills
// (BillingSeconds: the granularity of paid time; 0 for per second).
type Pricing struct {
	PriceMicrosPerHour int64   `json:"price_micros_per_hour"`
	Currency           string  `json:"currency"`
	CPUs               float64 `json:"cpus,omitempty"`
	MemoryBytes        int64   `json:"memory_bytes,omitempty"`
	BillingSeconds     int64   `json:"billing_seconds,omitempty"`
}

// Money is an amount in integer micro-units of a currency.
type Money struct {
	Micros   int64  `json:"micros"`
	Currency string `json:"currency"`
}

// RegisterRequest is the body of POST /v1/workers.
type RegisterRequest struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Hostname string `json:"hostname"`
	Version  string `json:"version"`
	Executor string `json:"executor"`
	Slots    int    `json:"slots"`
	// Max is the most a job may ask of this worker (zero: no maximum).
	Max Limits `json:"max,omitempty"`
	// Pricing is what the worker costs; nil for an unpriced worker, whose
	// jobs cost nothing.
	Pricing *Pricing `json:"pricing,omitempty"`
}

// RegisterResponse tells a worker how often to heartbeat, and after how
// long without one the server gives its jobs to other workers.
type RegisterResponse struct {
	Worker                   Worker `json:"worker"`
	HeartbeatIntervalSeconds int    `json:"heartbeat_interval_seconds"`
	DeadAfterSeconds         int    `json:"dead_after_seconds"`
}

// AttemptRef names one attempt of one job.
type AttemptRef struct {
	JobID   string `json:"job_id"`
	Attempt int    `json:"attempt"`
}

// HeartbeatRequest lists the attempts the worker is running. The server
// takes back attempts leased to the worker that it does not list (a lease
// lost on the way, or a restart that could not adopt them).
type HeartbeatRequest struct {
	Running []AttemptRef `json:"running"`
	// Draining says the worker takes no new jobs and will exit once its
	// running ones have finished.
	Draining bool `json:"draining,omitempty"`
	// Warm is how many warm containers the worker has waiting (rgrid
	// worker --warm); nil from a worker that keeps none.
	Warm *int `json:"warm,omitempty"`
}

// ReleaseRequest hands all of a worker's attempts back to the queue: a
// worker stopping at once gives its running jobs to other workers.
type ReleaseRequest struct {
	Message string `json:"message,omitempty"`
}

// LogOffset is how much of one stream of an attempt the server has.
type LogOffset struct {
	Bytes   int64 `json:"bytes"`
	LastSeq int64 `json:"last_seq"`
}

// AttemptLog says how much of an attempt's output the server has, so a
// restarted worker resumes shipping where its earlier process stopped.
type AttemptLog struct {
	Streams map[Stream]LogOffset `json:"streams"`
}

// HeartbeatResponse lists attempts the worker must stop: canceled by a user
// or no longer the job's current attempt.
type HeartbeatResponse struct {
	Stop []AttemptRef `json:"stop"`
}

// LeaseRequest is the body of POST /v1/workers/{id}/lease.
type LeaseRequest struct {
	// Max is how many jobs the worker can take now (its free slots). Zero
	// asks only for attempts to stop.
	Max int `json:"max"`
	// WaitSeconds is how long the server may hold the request when there is
	// nothing to hand out.
	WaitSeconds int `json:"wait_seconds"`
	// Defaults are the worker's limits for jobs that set none; the server
	// records them on each job it hands out, so the job shows the limits
	// it actually ran with.
	Defaults Limits `json:"defaults,omitempty"`
	// Fits: only jobs whose limits fit within these are handed out (the
	// worker's maxima; zero: no bound).
	Fits Limits `json:"fits,omitempty"`
	// KnownInputs are the SHA-256s (lowercase hex) of inputs manifests,
	// as leases sent them, that the worker holds decoded (at most
	// MaxKnownInputs): a job leased with one of them comes with its
	// InputsSHA256 and without Inputs, so that a project run again and
	// again is not sent to the worker, nor read by it, every time.
	// Client.Lease fills it.
	KnownInputs []string `json:"known_inputs,omitempty"`
}

// MaxKnownInputs bounds LeaseRequest.KnownInputs.
const MaxKnownInputs = 64

// LeasedJob is a job handed to a worker, with everything needed to run it.
type LeasedJob struct {
	Job     Job    `json:"job"`
	Attempt int    `json:"attempt"`
	Script  []byte `json:"script"`
	// RuntimeImage and RuntimeCommand are resolved by the server from the
	// runtime table, so that every worker runs the same thing.
	RuntimeImage   string   `json:"runtime_image"`
	RuntimeCommand []string `json:"runtime_command"`
	// Inputs is the job's working directory to stage (nil: the script
	// alone), Stdin the blob to give the script on its stdin.
	Inputs *Manifest `json:"inputs,omitempty"`
	Stdin  *BlobRef  `json:"stdin,omitempty"`
	// InputsSHA256 is the SHA-256 of the inputs' encoding, set (by a
	// server that reads KnownInputs) when the request listed any: with
	// Inputs left out on the wire, it names the one of them the job has.
	InputsSHA256 string `json:"inputs_sha256,omitempty"`
	// InputsDigest is the SHA-256 of Inputs as the server sent it, set by
	// Client.Lease (not on the wire; zero without Inputs). Jobs leased
	// with the same digest share one Inputs, decoded once: read it only.
	InputsDigest [32]byte `json:"-"`
}

// LeaseResponse is what a lease request returns.
type LeaseResponse struct {
	Jobs []LeasedJob  `json:"jobs"`
	Stop []AttemptRef `json:"stop,omitempty"`
}

// LogUpload is the body of POST /v1/jobs/{id}/attempts/{n}/logs.
type LogUpload struct {
	Chunks []LogChunk `json:"chunks"`
	// Truncated says the attempt's output reached the job's log limit: the
	// worker stores no more of it.
	Truncated bool `json:"truncated,omitempty"`
}

// AttemptStatus is returned to a worker for each report on an attempt; Stop
// tells it to kill the attempt (the user canceled the job).
type AttemptStatus struct {
	Stop bool `json:"stop"`
}

// ResultReport is the body of POST /v1/jobs/{id}/attempts/{n}/result.
type ResultReport struct {
	State    JobState `json:"state"`
	ExitCode *int     `json:"exit_code,omitempty"`
	Reason   string   `json:"reason,omitempty"`
	Message  string   `json:"message,omitempty"`
	Failure  *Failure `json:"failure,omitempty"`
	// Started says the run did start (false when it could not): the
	// server records the start now if no start report has reached it,
	// so a worker may fold a start report still waiting to be sent into
	// its result.
	Started bool `json:"started,omitempty"`
	// Outputs are the files the run left in its working directory (every
	// blob uploaded first), and OutputsSkipped what collection left out.
	Outputs        *Manifest       `json:"outputs,omitempty"`
	OutputsSkipped []SkippedOutput `json:"outputs_skipped,omitempty"`
	// StartTimes is how long the steps of the attempt's start took, as
	// the worker measured them (Lease left out); nil when it did not.
	StartTimes *StartTimes `json:"start_times,omitempty"`
}

// ReportsRequest is the body of POST /v1/workers/{id}/reports: a worker's
// start and result reports on several attempts in one request. Each is
// handled as the single-attempt endpoints would, and answered apart.
type ReportsRequest struct {
	Starts  []AttemptRef    `json:"starts,omitempty"`
	Results []AttemptResult `json:"results,omitempty"`
}

// AttemptResult is one attempt's result in a ReportsRequest.
type AttemptResult struct {
	AttemptRef
	ResultReport
}

// ReportsResponse answers a ReportsRequest, one outcome per report, in
// order.
type ReportsResponse struct {
	Starts  []ReportOutcome `json:"starts"`
	Results []ReportOutcome `json:"results"`
}

// ReportOutcome is the answer to one report: Stop as in AttemptStatus, or
// the error the single-attempt endpoint would have answered (e.g.
// stale_attempt).
type ReportOutcome struct {
	Stop  bool   `json:"stop,omitempty"`
	Error *Error `json:"error,omitempty"`
}

// Health is the body of GET /v1/health.
type Health struct {
	Status        string `json:"status"`
	Version       string `json:"version"`
	SchemaVersion int64  `json:"schema_version"`
	Database      string `json:"database"`
}

// CostReport is GET /v1/cost: what jobs cost in a period, summed by a key
// (user, batch, pool, worker or day), per currency.
type CostReport struct {
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	By    string    `json:"by"`
	Rows  []CostRow `json:"rows"`
	// Idle is, for an admin, each pool's paid capacity no job used: its
	// workers' time over the period (rounded up to their billing period)
	// at their price, less what their jobs were charged. It includes
	// attempts that never started, which cost their users nothing.
	Idle []CostRow `json:"idle,omitempty"`
	// Total is the rows' sum, per currency (idle not included).
	Total []Money `json:"total"`
}

// CostRow is one key's jobs and what they cost.
type CostRow struct {
	Key        string  `json:"key"`
	Jobs       int     `json:"jobs"`
	Attempts   int     `json:"attempts"`
	RunSeconds float64 `json:"run_seconds"`
	Cost       Money   `json:"cost"`
}
