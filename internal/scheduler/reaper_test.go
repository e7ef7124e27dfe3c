package scheduler_test

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rgrid/rgrid/internal/scheduler"
	"github.com/rgrid/rgrid/internal/store"
	"github.com/rgrid/rgrid/internal/testdb"
)

// clock is a settable time source, so the reaper is tested without sleeping.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type bundle struct {
	st    store.Store
	clock *clock
	sched *scheduler.Scheduler
}

func setup(t *testing.T) bundle {
	t.Helper()
	st := testdb.OpenSQLite(t)
	c := &clock{now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	return bundle{st: st, clock: c, sched: scheduler.New(st, scheduler.NewNotifier(), slog.New(slog.DiscardHandler), c.Now)}
}

func (b bundle) leased(t *testing.T, id, worker string, maxAttempts int) {
	t.Helper()
	ctx := t.Context()
	if _, err := b.st.UpsertWorker(ctx, store.Worker{ID: worker, Slots: 1, LastHeartbeat: b.clock.Now()}, b.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.st.CreateJob(ctx, store.NewJob{ID: id, FileName: "x.py", Runtime: "python3.11", MaxAttempts: maxAttempts, CreatedAt: b.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	l, err := b.sched.Lease(ctx, scheduler.LeaseParams{WorkerID: worker, Max: 1})
	if err != nil || len(l.Jobs) != 1 || l.Jobs[0].ID != id {
		t.Fatalf("lease %s to %s: %v %+v", id, worker, err, l)
	}
}

func TestReaperRequeuesDeadWorkersJobsAfterItsGrace(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	r := b.sched.NewReaper(scheduler.ReaperOptions{DeadAfter: 15 * time.Second})
	b.leased(t, "j1", "w1", 3)
	started := b.clock.Now()
	r.Begin(started)

	// Silent for 20 s, but the server itself started only 10 s ago: no
	// worker is declared dead yet.
	b.clock.Add(10 * time.Second)
	if err := r.Reap(ctx); err != nil {
		t.Fatal(err)
	}
	if j, _ := b.st.GetJob(ctx, "j1"); j.State != store.StateLeased {
		t.Fatalf("reaped during the start grace: %s", j.State)
	}
	b.clock.Add(6 * time.Second)
	if err := r.Reap(ctx); err != nil {
		t.Fatal(err)
	}
	j, _ := b.st.GetJob(ctx, "j1")
	if j.State != store.StateQueued {
		t.Fatalf("state %s, want queued again", j.State)
	}
	atts, _ := b.st.ListAttempts(ctx, "j1")
	if len(atts) != 1 || atts[0].State != store.StateLost || !strings.Contains(atts[0].Message, "worker w1 stopped responding") {
		t.Fatalf("attempts = %+v", atts)
	}
}

func TestReaperEndsJobLostWhenNoAttemptsRemain(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	r := b.sched.NewReaper(scheduler.ReaperOptions{DeadAfter: 15 * time.Second})
	r.Begin(b.clock.Now())
	b.leased(t, "j1", "w1", 1)
	b.clock.Add(16 * time.Second)
	if err := r.Reap(ctx); err != nil {
		t.Fatal(err)
	}
	j, _ := b.st.GetJob(ctx, "j1")
	if j.State != store.StateLost || !strings.Contains(j.Message, "stopped responding") || !strings.Contains(j.Message, "last heard from") {
		t.Fatalf("job = %s %q", j.State, j.Message)
	}
}

func TestReaperSparesLiveWorkers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	r := b.sched.NewReaper(scheduler.ReaperOptions{DeadAfter: 15 * time.Second})
	r.Begin(b.clock.Now())
	b.leased(t, "j1", "w1", 3)
	for range 5 {
		b.clock.Add(10 * time.Second)
		if err := b.st.Heartbeat(ctx, "w1", "", b.clock.Now()); err != nil {
			t.Fatal(err)
		}
		if err := r.Reap(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if j, _ := b.st.GetJob(ctx, "j1"); j.State != store.StateLeased {
		t.Fatalf("a heartbeating worker lost its job: %s", j.State)
	}
}

func TestReconcileTakesBackOnlyOldUnlistedLeases(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	b.leased(t, "old", "w1", 3)
	b.clock.Add(30 * time.Second)
	b.leased(t, "young", "w1", 3)
	b.leased(t, "listed", "w1", 3)
	listed := []store.AttemptRef{{JobID: "listed", Attempt: 1}}
	b.clock.Add(5 * time.Second)
	if err := b.sched.Reconcile(ctx, "w1", listed, b.clock.Now().Add(-15*time.Second)); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]store.State{"old": store.StateQueued, "young": store.StateLeased, "listed": store.StateLeased} {
		if j, _ := b.st.GetJob(ctx, id); j.State != want {
			t.Errorf("%s: %s, want %s", id, j.State, want)
		}
	}
}
