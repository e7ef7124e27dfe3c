package server_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/server"
)

// clock is a settable time source.
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

// requireInUse checks that err is the 409 that names the worker id, the
// holder's host and when it was last heard from, with the fix as its hint.
func requireInUse(t *testing.T, what string, err error, id, host, ago string) {
	t.Helper()
	e, ok := err.(*client.Error)
	if !ok || e.Status != http.StatusConflict || e.Code != client.CodeWorkerIDInUse {
		t.Fatalf("%s: %v (%T), want 409 %s", what, err, err, client.CodeWorkerIDInUse)
	}
	for _, want := range []string{"worker id " + id + " ", "on " + host + ",", "last heard from " + ago + " ago"} {
		if !strings.Contains(e.Message, want) {
			t.Errorf("%s: message %q does not say %q", what, e.Message, want)
		}
	}
	if !strings.Contains(e.Hint, "--worker-id") || !strings.Contains(e.Hint, "cloned machines") {
		t.Errorf("%s: hint %q does not name the fix", what, e.Hint)
	}
	if e.Details["hostname"] != host || e.Details["worker_id"] != id {
		t.Errorf("%s: details %v, want hostname %s and worker_id %s", what, e.Details, host, id)
	}
}

// A worker id belongs to one worker process: another one's registration is
// refused while the first lives and taken once it is dead; from then on the
// first one's heartbeats, leases and releases are refused, so it neither
// leases nor hands back the new holder's jobs.
func TestWorkerIDBelongsToOneInstance(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Date(2025, 6, 7, 8, 9, 10, 0, time.UTC)}
	b := setup(t, server.Options{Now: clk.Now, DeadAfter: 15 * time.Second})
	ctx := t.Context()
	first, second := b.c.WithWorkerInstance("first-1"), b.c.WithWorkerInstance("second-2")
	reg := func(c *client.Client, host string) error {
		_, err := c.Register(ctx, client.RegisterRequest{ID: "w", Hostname: host, Slots: 1, Executor: "process"})
		return err
	}
	if err := reg(first, "host-a"); err != nil {
		t.Fatal(err)
	}
	clk.Add(3 * time.Second)
	requireInUse(t, "a second instance registering", reg(second, "host-b"), "w", "host-a", "3s")
	requireInUse(t, "a worker without an instance registering", reg(b.c, "host-c"), "w", "host-a", "3s")
	if err := reg(first, "host-a"); err != nil {
		t.Fatalf("the holder registering again: %v", err)
	}
	ws, err := b.c.Workers(ctx)
	if err != nil || len(ws) != 1 || ws[0].Hostname != "host-a" {
		t.Fatalf("workers %+v, %v; want w on host-a alone", ws, err)
	}

	// The holder falls silent past dead-after: another instance takes the id.
	clk.Add(16 * time.Second)
	if err := reg(second, "host-b"); err != nil {
		t.Fatalf("taking over the id of a dead instance: %v", err)
	}
	j, err := b.c.Submit(ctx, client.SubmitRequest{FileName: "x.py", Script: []byte("print(1)")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = first.Lease(ctx, "w", client.LeaseRequest{Max: 1})
	requireInUse(t, "the old instance leasing", err, "w", "host-b", "0s")
	_, err = first.Heartbeat(ctx, "w", client.HeartbeatRequest{})
	requireInUse(t, "the old instance heartbeating", err, "w", "host-b", "0s")
	l, err := second.Lease(ctx, "w", client.LeaseRequest{Max: 1})
	if err != nil || len(l.Jobs) != 1 || l.Jobs[0].Job.ID != j.ID {
		t.Fatalf("the new holder's lease: %+v, %v", l, err)
	}
	requireInUse(t, "the old instance releasing", first.Release(ctx, "w", client.ReleaseRequest{}), "w", "host-b", "0s")
	if got := getJob(t, b.c, j.ID); got.State != client.StateLeased || got.Attempt != 1 {
		t.Errorf("job %s attempt %d after the old instance's release, want leased, attempt 1", got.State, got.Attempt)
	}
	if _, err := second.Heartbeat(ctx, "w", client.HeartbeatRequest{Running: []client.AttemptRef{{JobID: j.ID, Attempt: 1}}}); err != nil {
		t.Errorf("the holder's heartbeat: %v", err)
	}
}

func TestWorkerInstanceHeaderIsChecked(t *testing.T) {
	t.Parallel()
	b := setup(t, server.Options{})
	for _, bad := range []string{strings.Repeat("a", 65), "has space", "semi;colon"} {
		_, err := b.c.WithWorkerInstance(bad).Register(t.Context(), client.RegisterRequest{ID: "w", Slots: 1})
		if status, code := apiCode(err); status != http.StatusBadRequest || code != client.CodeInvalidRequest {
			t.Errorf("instance %q: %d %s (%v), want 400 %s", bad, status, code, err, client.CodeInvalidRequest)
		}
	}
}

func getJob(t *testing.T, c *client.Client, id string) client.Job {
	t.Helper()
	j, err := c.Job(t.Context(), id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return j
}

// The holder's host name is what a worker said; it reaches another
// worker's terminal quoted unless it looks like a host name.
func TestWorkerInUseQuotesAStrangeHostName(t *testing.T) {
	t.Parallel()
	b := setup(t, server.Options{})
	req := client.RegisterRequest{ID: "w", Hostname: "evil\x1b[2J\nhost", Slots: 1}
	if _, err := b.c.WithWorkerInstance("one").Register(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	_, err := b.c.WithWorkerInstance("two").Register(t.Context(), req)
	e, ok := err.(*client.Error)
	if !ok || e.Code != client.CodeWorkerIDInUse || !strings.Contains(e.Message, `on "evil\x1b[2J\nhost",`) {
		t.Fatalf("%v, want the host name quoted", err)
	}
}
