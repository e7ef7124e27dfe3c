package worker

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/executor"
)

// reconcilingExecutor records the sweeps asked of it.
type reconcilingExecutor struct {
	mu     sync.Mutex
	calls  int
	before time.Time
	kept   map[string]bool // of the jobs "running", "gone": what keep said
	swept  chan struct{}
}

func (f *reconcilingExecutor) Name() string { return "docker" }

func (f *reconcilingExecutor) Start(context.Context, executor.Spec) (executor.Handle, error) {
	panic("not used")
}

func (f *reconcilingExecutor) RemoveOrphansBefore(_ context.Context, keep func(string, int) bool, before time.Time) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.before = before
	f.kept = map[string]bool{"running": keep("running", 1), "gone": keep("gone", 1), "running-old-attempt": keep("running", 0)}
	select {
	case f.swept <- struct{}{}:
	default:
	}
	return 1, nil
}

func TestReconcileKeepsRunningAttemptsAndSparesNewRuns(t *testing.T) {
	t.Parallel()
	ex := &reconcilingExecutor{swept: make(chan struct{}, 1)}
	c, err := client.New("http://127.0.0.1:1", "")
	if err != nil {
		t.Fatal(err)
	}
	w, err := New(c, Options{ID: "w1", Slots: 1, Executor: ex, ReconcileInterval: 10 * time.Millisecond, ReconcileGrace: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	w.track(client.LeasedJob{Job: client.Job{ID: "running"}, Attempt: 1})

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	started := time.Now()
	go func() { defer close(done); w.reconcileLoop(ctx) }()
	for range 2 { // periodic: at least twice
		select {
		case <-ex.swept:
		case <-time.After(10 * time.Second):
			t.Fatal("the reconciler never swept")
		}
	}
	cancel()
	<-done

	ex.mu.Lock()
	defer ex.mu.Unlock()
	if !ex.kept["running"] || ex.kept["gone"] || ex.kept["running-old-attempt"] {
		t.Errorf("keep said %v; want only the running attempt kept", ex.kept)
	}
	if lo, hi := started.Add(-time.Minute-time.Second), time.Now().Add(-time.Minute); ex.before.Before(lo) || ex.before.After(hi) {
		t.Errorf("cut-off %v; want a minute (the grace) before the sweep", ex.before)
	}
}

func TestReconcileOff(t *testing.T) {
	t.Parallel()
	ex := &reconcilingExecutor{swept: make(chan struct{}, 1)}
	c, _ := client.New("http://127.0.0.1:1", "")
	w, err := New(c, Options{ID: "w1", Slots: 1, Executor: ex, ReconcileInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	w.reconcileLoop(t.Context()) // returns at once when off
	if ex.calls != 0 {
		t.Errorf("swept %d times with the reconciler off", ex.calls)
	}
}
