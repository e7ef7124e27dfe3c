package worker

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/executor"
)

// poolExecutor is an executor with a warm pool whose count the test sets.
type poolExecutor struct {
	warm    atomic.Int64
	changes chan struct{}
}

func (f *poolExecutor) Name() string { return "docker" }

func (f *poolExecutor) Start(context.Context, executor.Spec) (executor.Handle, error) {
	panic("not used")
}

func (f *poolExecutor) Warm() int                    { return int(f.warm.Load()) }
func (f *poolExecutor) WarmChanged() <-chan struct{} { return f.changes }

func (f *poolExecutor) set(n int) {
	f.warm.Store(int64(n))
	select {
	case f.changes <- struct{}{}:
	default:
	}
}

// TestWarmCountReportedWhenItChanges: a change in the pool's count
// reaches the server soon after, not at the next heartbeat (an hour away
// here), so rgrid workers never shows a count a heartbeat old.
func TestWarmCountReportedWhenItChanges(t *testing.T) {
	t.Parallel()
	reported := make(chan int, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/workers/w1/heartbeat" {
			http.NotFound(w, r)
			return
		}
		var req client.HeartbeatRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if req.Warm != nil {
			reported <- *req.Warm
		}
		_ = json.NewEncoder(w).Encode(client.HeartbeatResponse{})
	}))
	defer srv.Close()
	c, err := client.New(srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	ex := &poolExecutor{changes: make(chan struct{}, 1)}
	w, err := New(c, Options{ID: "w1", Slots: 2, Executor: ex})
	if err != nil {
		t.Fatal(err)
	}
	w.heartbeat = time.Hour
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); w.heartbeatLoop(ctx) }()
	defer func() { cancel(); <-done }()

	for _, n := range []int{2, 1, 0} {
		ex.set(n)
		select {
		case got := <-reported:
			if got != n {
				t.Fatalf("reported %d warm containers; want %d", got, n)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("a change to %d warm containers was not reported within 10 s", n)
		}
	}
}
