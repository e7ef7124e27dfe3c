package store

import (
	"testing"
	"time"
)

func TestBatchCountsOfStates(t *testing.T) {
	t.Parallel()
	var c BatchCounts
	for _, s := range []State{StateQueued, StateLeased, StateRunning, StateSucceeded, StateFailed,
		StateTimedOut, StateOOMKilled, StateCanceled, StateLost, StateError} {
		c.Add(s, 1)
	}
	want := BatchCounts{Queued: 1, Running: 2, Succeeded: 1, Failed: 3, Canceled: 1, Error: 2}
	if c != want {
		t.Errorf("counts %+v, want %+v", c, want)
	}
	if c.Total() != 10 || c.Done() != 7 {
		t.Errorf("total %d, done %d", c.Total(), c.Done())
	}
}

func TestChangeBatchDelta(t *testing.T) {
	t.Parallel()
	item := running(1)
	item.BatchID = "b"
	tests := []struct {
		name string
		c    Change
		id   string
		want BatchCounts
	}{
		{"a job of no batch", Change{From: StateRunning, Job: Job{State: StateSucceeded}}, "", BatchCounts{}},
		{"success", Change{From: StateRunning, Job: withState(item, StateSucceeded)}, "b", BatchCounts{Running: -1, Succeeded: 1}},
		{"start: the same counter", Change{From: StateLeased, Job: withState(item, StateRunning)}, "b", BatchCounts{}},
		{"queued again", Change{From: StateRunning, Job: withState(item, StateQueued)}, "b", BatchCounts{Running: -1, Queued: 1}},
		{"retry of a lost item", Change{From: StateLost, Job: withState(item, StateQueued)}, "b", BatchCounts{Error: -1, Queued: 1}},
		{"unchanged", Change{From: StateRunning, Job: withState(item, StateRunning), Unchanged: true}, "", BatchCounts{}},
	}
	for _, tc := range tests {
		id, got := tc.c.BatchDelta()
		if id != tc.id || got != tc.want {
			t.Errorf("%s: %q %+v, want %q %+v", tc.name, id, got, tc.id, tc.want)
		}
	}
}

func withState(j Job, s State) Job { j.State = s; return j }

func TestBatchRoom(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ parallelism, running, want, got int }{
		{0, 100, 5, 5}, {3, 0, 5, 3}, {3, 2, 5, 1}, {3, 3, 5, 0}, {3, 5, 5, 0}, {10, 2, 4, 4},
	} {
		if got := BatchRoom(tc.parallelism, tc.running, tc.want); got != tc.got {
			t.Errorf("BatchRoom(%d, %d, %d) = %d, want %d", tc.parallelism, tc.running, tc.want, got, tc.got)
		}
	}
}

func TestDecideRetry(t *testing.T) {
	t.Parallel()
	failed := running(2)
	failed.State, failed.ExitCode, failed.Reason, failed.Message = StateFailed, ip(3), "exit", "exited 3"
	failed.FinishedAt, failed.Failure = tp(t0.Add(time.Hour)), `{"exception":"E"}`
	failed.ScriptFailures, failed.LostAttempts, failed.Retries = 2, 1, 1
	c, ok := DecideRetry(failed)
	if !ok {
		t.Fatal("a failed job is retriable")
	}
	j := c.Job
	if j.State != StateQueued || j.Attempt != 2 || j.ScriptFailures != 0 || j.LostAttempts != 0 ||
		j.ExitCode != nil || j.FinishedAt != nil || j.StartedAt != nil || j.WorkerID != "" || j.Failure != "" {
		t.Errorf("retried job %+v", j)
	}
	a := c.Ended
	if a == nil || a.Number != 2 || a.State != StateFailed || *a.ExitCode != 3 || !a.FinishedAt.Equal(t0.Add(time.Hour)) || !c.EndedMayExist {
		t.Errorf("ended attempt %+v", a)
	}
	if c.From != StateFailed || c.Attempt != 2 {
		t.Errorf("from %s/%d", c.From, c.Attempt)
	}
	for _, s := range []State{StateQueued, StateLeased, StateRunning, StateSucceeded, StateCanceled} {
		if _, ok := DecideRetry(withState(running(1), s)); ok {
			t.Errorf("a %s job was retried", s)
		}
	}
	for _, s := range []State{StateFailed, StateTimedOut, StateOOMKilled, StateError, StateLost} {
		if _, ok := DecideRetry(withState(running(1), s)); !ok {
			t.Errorf("a %s job was not retried", s)
		}
	}
}
