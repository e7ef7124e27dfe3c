package startstop

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// loop counts its runs and holds until its context ends; its return is
// delayed to show that Stop waits for it.
type loop struct {
	Base
	runs, returned atomic.Int32
}

func (l *loop) Start(ctx context.Context) error {
	ctx, ok, done := l.StartInit(ctx)
	if !ok {
		return nil
	}
	l.runs.Add(1)
	go func() {
		defer done()
		<-ctx.Done()
		time.Sleep(20 * time.Millisecond) // work after the cancel, that Stop must wait for
		l.returned.Add(1)
	}()
	return nil
}

func TestStopWaits(t *testing.T) {
	t.Parallel()
	l := &loop{}
	l.Stop() // before Start: nothing
	if l.Stopped() != nil {
		t.Fatal("Stopped before Start is not nil")
	}
	if err := l.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	_ = l.Start(t.Context()) // already running: nothing
	if got := l.runs.Load(); got != 1 {
		t.Fatalf("a second Start ran the loop again: %d runs", got)
	}
	l.Stop()
	if got := l.returned.Load(); got != 1 {
		t.Fatalf("Stop returned before the loop did (returned %d)", got)
	}
	l.Stop() // twice: nothing
	select {
	case <-l.Stopped():
	default:
		t.Fatal("Stopped not closed after Stop")
	}
	// A stopped service starts again.
	if err := l.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	l.Stop()
	if got := l.runs.Load(); got != 2 {
		t.Fatalf("restart: %d runs, want 2", got)
	}
}

func TestParentContextStops(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	l := &loop{}
	_ = l.Start(ctx)
	cancel()
	select {
	case <-l.Stopped():
	case <-time.After(5 * time.Second):
		t.Fatal("canceling the parent did not stop the service")
	}
	if l.returned.Load() != 1 {
		t.Fatal("Stopped closed before the loop returned")
	}
}

func TestGroupStopsInReverse(t *testing.T) {
	t.Parallel()
	var order []int
	var g Group
	for i := range 3 {
		g.Go(t.Context(), func(ctx context.Context) {
			<-ctx.Done()
			order = append(order, i) // Stop runs one at a time: no race
		})
	}
	g.Stop()
	if len(order) != 3 || order[0] != 2 || order[2] != 0 {
		t.Fatalf("stop order %v, want [2 1 0]", order)
	}
	g.Stop()
}

func TestFuncReturningOnItsOwn(t *testing.T) {
	t.Parallel()
	s := Func(func(context.Context) {})
	_ = s.Start(t.Context())
	s.Stop() // must not hang on a loop that already returned
}
