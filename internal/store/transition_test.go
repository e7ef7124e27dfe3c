package store

import (
	"errors"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func tp(t time.Time) *time.Time { return &t }

func ip(i int) *int { return &i }

// running is a job on its attempt-th attempt, started on worker w1.
func running(attempt int) Job {
	return Job{ID: "j", State: StateRunning, Attempt: attempt, WorkerID: "w1",
		LeasedAt: tp(t0), StartedAt: tp(t0.Add(time.Second)), MaxAttempts: 3, CreatedAt: t0.Add(-time.Minute),
		Limits: Limits{TimeoutSeconds: 60}}
}

func TestDecideFinish(t *testing.T) {
	t.Parallel()
	now := t0.Add(time.Minute)
	tests := []struct {
		name      string
		cur       func() Job
		p         FinishParams
		wantErr   error
		wantState State
		recorded  bool // the attempt is recorded apart
		failures  int
	}{
		{"success ends the job", func() Job { return running(1) },
			FinishParams{Attempt: 1, State: StateSucceeded, ExitCode: ip(0)}, nil, StateSucceeded, false, 0},
		{"a failure without retries ends it", func() Job { return running(1) },
			FinishParams{Attempt: 1, State: StateFailed, ExitCode: ip(2)}, nil, StateFailed, false, 1},
		{"a failure with a retry left queues it", func() Job { j := running(1); j.Retries = 1; return j },
			FinishParams{Attempt: 1, State: StateFailed, ExitCode: ip(2)}, nil, StateQueued, true, 1},
		{"the last retry used: ends", func() Job { j := running(2); j.Retries = 1; j.ScriptFailures = 1; return j },
			FinishParams{Attempt: 2, State: StateOOMKilled}, nil, StateOOMKilled, false, 2},
		{"a cancel requested: no retry", func() Job { j := running(1); j.Retries = 5; j.CancelRequested = true; return j },
			FinishParams{Attempt: 1, State: StateTimedOut}, nil, StateTimedOut, false, 1},
		{"a platform error is never retried", func() Job { j := running(1); j.Retries = 5; return j },
			FinishParams{Attempt: 1, State: StateError, Reason: "image_pull"}, nil, StateError, false, 0},
		{"an old attempt is stale", func() Job { return running(2) },
			FinishParams{Attempt: 1, State: StateSucceeded}, ErrStaleAttempt, "", false, 0},
		{"a finished job is stale", func() Job { j := running(1); j.State = StateSucceeded; return j },
			FinishParams{Attempt: 1, State: StateSucceeded}, ErrStaleAttempt, "", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.p.Now = now
			c, err := DecideFinish(tt.cur(), tt.p)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if c.Job.State != tt.wantState {
				t.Errorf("state = %s, want %s", c.Job.State, tt.wantState)
			}
			if (c.Ended != nil) != tt.recorded {
				t.Errorf("attempt recorded apart = %v, want %v", c.Ended != nil, tt.recorded)
			}
			if c.Job.ScriptFailures != tt.failures {
				t.Errorf("script failures = %d, want %d", c.Job.ScriptFailures, tt.failures)
			}
			if c.From != StateRunning || c.Attempt != tt.p.Attempt {
				t.Errorf("fenced on %s/%d, want running/%d", c.From, c.Attempt, tt.p.Attempt)
			}
			switch tt.wantState {
			case StateQueued:
				j := c.Job
				if j.WorkerID != "" || j.LeasedAt != nil || j.StartedAt != nil || j.FinishedAt != nil || j.ExitCode != nil {
					t.Errorf("a requeued job keeps its attempt's traces: %+v", j)
				}
				if a := c.Ended; a.State != tt.p.State || a.WorkerID != "w1" || !a.LeasedAt.Equal(t0) || *a.FinishedAt != now {
					t.Errorf("ended attempt = %+v", a)
				}
			default:
				if *c.Job.FinishedAt != now || c.Job.Reason != tt.p.Reason {
					t.Errorf("ended job = %+v", c.Job)
				}
			}
		})
	}
}

func TestDecideFinishFoldsStart(t *testing.T) {
	t.Parallel()
	cur := running(1)
	cur.State, cur.StartedAt = StateLeased, nil
	now := t0.Add(time.Minute)
	c, err := DecideFinish(cur, FinishParams{Attempt: 1, State: StateSucceeded, Started: true, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if c.From != StateLeased || c.Job.StartedAt == nil || *c.Job.StartedAt != now {
		t.Errorf("a result with Started from a leased attempt: from %s, started %v", c.From, c.Job.StartedAt)
	}
	c, err = DecideFinish(cur, FinishParams{Attempt: 1, State: StateError, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if c.Job.StartedAt != nil {
		t.Errorf("a result without Started set a start time")
	}
	if _, err := DecideFinish(cur, FinishParams{Attempt: 1, State: StateRunning, Now: now}); err == nil {
		t.Errorf("a result that is not terminal was taken")
	}
}

func TestDecideLose(t *testing.T) {
	t.Parallel()
	now := t0.Add(time.Minute)
	p := LoseParams{Message: "gone", Now: now}
	c, ok := DecideLose(running(1), p)
	if !ok || c.Job.State != StateQueued || c.Job.LostAttempts != 1 || c.Ended.State != StateLost || c.Ended.Reason != "worker_lost" {
		t.Errorf("first loss of three allowed: %+v %+v", c.Job, c.Ended)
	}
	last := running(3)
	last.LostAttempts = 2
	c, _ = DecideLose(last, p)
	if c.Job.State != StateLost || c.Job.Message != "gone" || *c.Job.FinishedAt != now {
		t.Errorf("third loss of three: %+v", c.Job)
	}
	canceled := running(1)
	canceled.CancelRequested = true
	c, _ = DecideLose(canceled, p)
	if c.Job.State != StateCanceled || c.Job.Message != CanceledWhileLost {
		t.Errorf("canceled while lost: %+v", c.Job)
	}
	done := running(1)
	done.State = StateSucceeded
	if _, ok := DecideLose(done, p); ok {
		t.Errorf("a finished job's attempt was lost")
	}
}

func TestDecideExpire(t *testing.T) {
	t.Parallel()
	j := running(1) // started t0+1s, 60 s limit
	grace := 30 * time.Second
	if _, ok := DecideExpire(j, t0.Add(91*time.Second), grace); ok {
		t.Errorf("expired at its deadline")
	}
	c, ok := DecideExpire(j, t0.Add(92*time.Second), grace)
	if !ok || c.Job.State != StateTimedOut || c.Job.Reason != "server_timeout" || c.Ended == nil || c.Ended.State != StateTimedOut {
		t.Fatalf("past deadline: %v %+v", ok, c)
	}
	if want := OverdueMessage(91*time.Second, 60, grace); c.Job.Message != want {
		t.Errorf("message %q, want %q", c.Job.Message, want)
	}
	j.Limits.TimeoutSeconds = 0
	if _, ok := DecideExpire(j, t0.Add(time.Hour), grace); ok {
		t.Errorf("a job without a time limit expired")
	}
}

func TestDecideCancelAndStart(t *testing.T) {
	t.Parallel()
	q := Job{ID: "j", State: StateQueued}
	c, err := DecideCancel(q, t0)
	if err != nil || c.Job.State != StateCanceled || c.Job.Message != CanceledBeforeStart {
		t.Errorf("cancel queued: %+v %v", c.Job, err)
	}
	c, err = DecideCancel(running(1), t0)
	if err != nil || c.Job.State != StateRunning || !c.Job.CancelRequested {
		t.Errorf("cancel running: %+v %v", c.Job, err)
	}
	done := running(1)
	done.State = StateFailed
	if _, err := DecideCancel(done, t0); !errors.Is(err, ErrJobFinished) {
		t.Errorf("cancel finished: %v", err)
	}

	leased := running(1)
	leased.State, leased.StartedAt = StateLeased, nil
	c, err = DecideStart(leased, 1, t0)
	if err != nil || c.Job.State != StateRunning || *c.Job.StartedAt != t0 {
		t.Errorf("start leased: %+v %v", c.Job, err)
	}
	c, err = DecideStart(running(1), 1, t0.Add(time.Hour))
	if err != nil || !c.Unchanged {
		t.Errorf("a repeated start changed the job: %+v %v", c, err)
	}
	if _, err := DecideStart(running(2), 1, t0); !errors.Is(err, ErrStaleAttempt) {
		t.Errorf("start of an old attempt: %v", err)
	}
}

func TestAttempts(t *testing.T) {
	t.Parallel()
	lost := Attempt{JobID: "j", Number: 1, State: StateLost}
	j := running(2)
	got := Attempts(j, []Attempt{lost})
	if len(got) != 2 || got[1].Number != 2 || got[1].State != StateRunning || !got[1].LeasedAt.Equal(t0) {
		t.Errorf("the job row's attempt is not listed: %+v", got)
	}
	requeued := Job{ID: "j", State: StateQueued, Attempt: 1}
	if got := Attempts(requeued, []Attempt{lost}); len(got) != 1 {
		t.Errorf("a queued job listed its row: %+v", got)
	}
	expired := running(1)
	expired.State = StateTimedOut
	if got := Attempts(expired, []Attempt{{JobID: "j", Number: 1, State: StateTimedOut}}); len(got) != 1 {
		t.Errorf("an attempt recorded apart was listed twice: %+v", got)
	}
	if got := Attempts(Job{ID: "j", State: StateCanceled}, nil); len(got) != 0 {
		t.Errorf("a job canceled before its first lease has attempts: %+v", got)
	}
}
