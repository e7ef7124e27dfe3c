package store

import (
	"errors"
	"fmt"
	"time"
)

// The job state machine. Every change of a job's state that means
// something (a result that ends the job or queues it again, an attempt
// lost with its worker, a job the server ends past its time limit, a
// cancel) is decided here, once, from the job's row as the driver read it
// under its lock. A driver only reads rows and writes the Change it is
// handed (see ApplyColumns); the fast statements a driver may keep for the
// hot path (claim, start, a result that cannot queue the job again) write
// exactly what these functions decide, and the conformance suite checks
// both paths against each other.

// ScriptFailure reports whether s is the script's own failure: it exited
// non-zero, ran past its time limit or out of memory. Only these are
// retried, and only when the job asked for retries.
func (s State) ScriptFailure() bool {
	return s == StateFailed || s == StateTimedOut || s == StateOOMKilled
}

// Active reports whether s is leased or running: an attempt holds the job.
func (s State) Active() bool { return s == StateLeased || s == StateRunning }

// Holds reports whether attempt is j's current attempt and still active:
// the condition every report of a worker is fenced on.
func (j Job) Holds(attempt int) bool { return j.Attempt == attempt && j.State.Active() }

// Change is one decided state change of a job.
type Change struct {
	// From is the state and attempt the change was decided on. A driver
	// writes the change only while the row still has both (it holds the
	// row locked, so it always has; the condition is a guard).
	From      State
	Attempt   int
	Job       Job      // the job after the change; ApplyColumns says which fields are written
	Ended     *Attempt // the attempt the change ended, when the job row does not keep it
	Outputs   *Outputs // the job's outputs, when the change records them
	Unchanged bool     // nothing to write (a repeated start report)
	// EndedMayExist: Ended may be recorded already (a retried job whose
	// last attempt was lost or expired); the driver keeps the record.
	EndedMayExist bool
}

// BatchDelta is how the change moves its batch's counts: one item out of
// From's counter and into the new state's. batchID is "" for a job of no
// batch, and d is zero when both states share a counter.
func (c Change) BatchDelta() (batchID string, d BatchCounts) {
	if c.Unchanged || c.Job.BatchID == "" {
		return "", d
	}
	d.Add(c.From, -1)
	d.Add(c.Job.State, 1)
	return c.Job.BatchID, d
}

// BatchRoom is how many of want queued items of a batch a claim may lease
// now, with running of its items leased or running and its parallelism
// (0: no cap). Drivers compute the same in SQL.
func BatchRoom(parallelism, running, want int) int {
	if parallelism <= 0 {
		return want
	}
	return max(0, min(want, parallelism-running))
}

// Retriable reports whether RetryBatch queues a job in state s again: the
// script's failures and the infrastructure's, not successes or cancels.
func (s State) Retriable() bool {
	return s.ScriptFailure() || s == StateError || s == StateLost
}

// DecideRetry queues an ended, retriable job again (a batch's "retry the
// failed items"): its last attempt is recorded apart, as it ended, and the
// next claim makes a new attempt of the same job, whose retries and
// infrastructure attempts count afresh. ok is false for a job that is not
// Retriable.
func DecideRetry(cur Job) (c Change, ok bool) {
	if !cur.State.Retriable() {
		return Change{}, false
	}
	c = Change{From: cur.State, Attempt: cur.Attempt, EndedMayExist: true}
	if cur.Attempt > 0 {
		end := leasedAt(cur)
		if cur.FinishedAt != nil {
			end = *cur.FinishedAt
		}
		c.Ended = endedAttempt(cur, cur.State, cur.ExitCode, cur.Reason, cur.Message, end)
	}
	next := requeued(cur)
	next.ScriptFailures, next.LostAttempts = 0, 0
	c.Job = next
	return c, true
}

// ErrChangedConcurrently: a driver found the row no longer in the state a
// change was decided on. It means a driver wrote a job without holding its
// lock: a bug, never a condition of the data.
var ErrChangedConcurrently = errors.New("job changed while its row was locked")

// ApplyColumns are the job's columns a Change writes, in this order: the
// fields of Change.Job a driver's apply statement sets. Everything else
// of a job is fixed once it is claimed.
const ApplyColumns = "state, worker_id, leased_at, cancel_requested, exit_code, reason, message, failure, started_at, finished_at, script_failures, lost_attempts"

// DecideStart moves the current, leased attempt to running. A report for
// an attempt already running changes nothing (the worker retried it).
func DecideStart(cur Job, attempt int, now time.Time) (Change, error) {
	if !cur.Holds(attempt) {
		return Change{}, ErrStaleAttempt
	}
	c := Change{From: cur.State, Attempt: attempt, Job: cur}
	if cur.State == StateRunning {
		c.Unchanged = true
		return c, nil
	}
	c.Job.State = StateRunning
	c.Job.StartedAt = &now
	return c, nil
}

// EndsJob reports whether a worker's result in state s always ends the job
// (when its attempt is current): every terminal state but a script
// failure, which queues the job again while it has retries, and lost,
// which does while it has attempts. Drivers use it to take such results
// through one statement that writes what DecideFinish would.
func EndsJob(s State) bool { return s.Terminal() && !s.ScriptFailure() && s != StateLost }

// Plain reports whether result p can take a driver's one-statement path:
// it ends the job (EndsJob) and records no outputs (which are written,
// with their blob references, apart).
func Plain(p FinishParams) bool { return EndsJob(p.State) && p.Outputs == nil }

// DecideFinish records a worker's result p for the current attempt of
// cur. A script failure queues the job again while its script failures,
// this one included, number at most its Retries and no cancel was
// requested (a job the user asked to stop is not run again; it ends with
// the failure); the ended attempt is then recorded apart. A worker that
// reports its attempt lost (it was stopped before the job ended) loses it
// as DecideLose does. Any other result ends the job, and the job row is
// the attempt's record.
func DecideFinish(cur Job, p FinishParams) (Change, error) {
	if !p.State.Terminal() {
		return Change{}, fmt.Errorf("state %q is not terminal", p.State)
	}
	if !cur.Holds(p.Attempt) {
		return Change{}, ErrStaleAttempt
	}
	now := p.Now
	next := cur
	if p.Started && next.StartedAt == nil {
		// The start report was folded into this result, or lost.
		next.StartedAt = &now
	}
	if p.State == StateLost {
		c, _ := DecideLose(next, LoseParams{Reason: p.Reason, Message: p.Message, Now: now})
		return c, nil
	}
	if p.State.ScriptFailure() {
		next.ScriptFailures++
	}
	c := Change{From: cur.State, Attempt: p.Attempt}
	if p.State.ScriptFailure() && !cur.CancelRequested && next.ScriptFailures <= cur.Retries {
		c.Ended = endedAttempt(next, p.State, p.ExitCode, p.Reason, p.Message, now)
		c.Job = requeued(next)
		return c, nil
	}
	next.State, next.ExitCode, next.Reason, next.Message = p.State, p.ExitCode, p.Reason, p.Message
	next.Failure, next.FinishedAt = p.Failure, &now
	c.Job = next
	c.Outputs = p.Outputs
	return c, nil
}

// CanceledWhileLost is the message of a job whose cancel was requested
// and whose worker was then lost.
const CanceledWhileLost = "canceled while its worker was lost"

// DecideLose ends the current, active attempt of cur as lost with p's
// reason and message. The job is then canceled if a cancel was requested,
// queued again while fewer than MaxAttempts of its attempts were lost,
// else ended lost with p's reason and message. ok is false when cur's
// attempt is not active (nothing to lose).
func DecideLose(cur Job, p LoseParams) (c Change, ok bool) {
	if !cur.State.Active() {
		return Change{}, false
	}
	p = p.WithDefaults()
	now := p.Now
	next := cur
	next.LostAttempts++
	c = Change{From: cur.State, Attempt: cur.Attempt,
		Ended: endedAttempt(cur, StateLost, nil, p.Reason, p.Message, now)}
	switch {
	case cur.CancelRequested:
		next.State, next.Reason, next.Message = StateCanceled, "canceled", CanceledWhileLost
		next.FinishedAt = &now
	case next.LostAttempts < cur.MaxAttempts:
		next = requeued(next)
	default:
		next.State, next.Reason, next.Message = StateLost, p.Reason, p.Message
		next.FinishedAt = &now
	}
	c.Job = next
	return c, true
}

// DecideExpire ends a running job whose start lies more than its timeout
// plus grace before now (its worker stopped reporting): job and attempt
// become timed_out with reason server_timeout. ok is false for a job that
// is not overdue.
func DecideExpire(cur Job, now time.Time, grace time.Duration) (c Change, ok bool) {
	if !Overdue(cur, now, grace) {
		return Change{}, false
	}
	msg := OverdueMessage(now.Sub(*cur.StartedAt), cur.Limits.TimeoutSeconds, grace)
	next := cur
	next.ScriptFailures++
	next.State, next.Reason, next.Message, next.FinishedAt = StateTimedOut, "server_timeout", msg, &now
	return Change{From: cur.State, Attempt: cur.Attempt, Job: next,
		Ended: endedAttempt(cur, StateTimedOut, nil, "server_timeout", msg, now)}, true
}

// Overdue reports whether j runs past its time limit plus grace at now.
// Drivers select candidates with the same condition in SQL.
func Overdue(j Job, now time.Time, grace time.Duration) bool {
	if j.State != StateRunning || j.StartedAt == nil || j.Limits.TimeoutSeconds <= 0 {
		return false
	}
	deadline := j.StartedAt.Add(time.Duration(j.Limits.TimeoutSeconds)*time.Second + grace)
	return deadline.Before(now)
}

// CanceledBeforeStart is the message of a job canceled while queued.
const CanceledBeforeStart = "canceled before it started"

// DecideCancel cancels a queued job at once and flags an active one for
// its worker to stop. A finished job gives ErrJobFinished.
func DecideCancel(cur Job, now time.Time) (Change, error) {
	c := Change{From: cur.State, Attempt: cur.Attempt, Job: cur}
	switch {
	case cur.State == StateQueued:
		c.Job.State, c.Job.Reason, c.Job.Message = StateCanceled, "canceled", CanceledBeforeStart
		c.Job.FinishedAt = &now
	case cur.State.Terminal():
		return Change{}, ErrJobFinished
	case cur.CancelRequested:
		c.Unchanged = true
	default:
		c.Job.CancelRequested = true
	}
	return c, nil
}

// requeued is j back in the queue, as if never leased but for its attempt
// number and counters: the next claim makes attempt+1.
func requeued(j Job) Job {
	j.State, j.WorkerID, j.LeasedAt, j.CancelRequested = StateQueued, "", nil, false
	j.ExitCode, j.Reason, j.Message, j.Failure = nil, "", "", ""
	j.StartedAt, j.FinishedAt = nil, nil
	return j
}

// endedAttempt is the record of j's current attempt, ended now in state s.
func endedAttempt(j Job, s State, exit *int, reason, message string, now time.Time) *Attempt {
	return &Attempt{JobID: j.ID, Number: j.Attempt, WorkerID: j.WorkerID, State: s,
		ExitCode: exit, Reason: reason, Message: message,
		LeasedAt: leasedAt(j), StartedAt: j.StartedAt, FinishedAt: &now,
		RateMicros: j.RateMicros, Currency: j.Currency}
}

// leasedAt is when j's current attempt was leased; a row from before the
// lease time was kept on the job has only its start or creation time.
func leasedAt(j Job) time.Time {
	switch {
	case j.LeasedAt != nil:
		return *j.LeasedAt
	case j.StartedAt != nil:
		return *j.StartedAt
	}
	return j.CreatedAt
}

// Attempts is every attempt of j, oldest first: those recorded apart
// (recorded, oldest first, as job_attempts holds them) and the latest when
// j's row is its record (the attempt is active, or ended with the result
// that ended the job, and job_attempts does not have it).
func Attempts(j Job, recorded []Attempt) []Attempt {
	if len(recorded) == 0 {
		recorded = nil // none is nil, whatever the driver's rows gave
	}
	if j.Attempt == 0 || j.State == StateQueued {
		return recorded
	}
	for _, a := range recorded {
		if a.Number == j.Attempt {
			return recorded
		}
	}
	return append(recorded, Attempt{JobID: j.ID, Number: j.Attempt, WorkerID: j.WorkerID, State: j.State,
		ExitCode: j.ExitCode, Reason: j.Reason, Message: j.Message,
		LeasedAt: leasedAt(j), StartedAt: j.StartedAt, FinishedAt: j.FinishedAt,
		RateMicros: j.RateMicros, Currency: j.Currency})
}
