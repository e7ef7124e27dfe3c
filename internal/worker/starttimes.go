package worker

import (
	"io"
	"sync"
	"time"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/executor"
)

// startClock measures one attempt's start: the executor fills times as it
// starts the run, and the first byte the script writes (or its exit)
// ends the wait for its output.
type startClock struct {
	times executor.StartTimes

	mu    sync.Mutex
	first time.Time // the first byte of stdout or stderr, or the exit
}

// mark records now as the first byte's time, if none is yet.
func (c *startClock) mark() {
	c.mu.Lock()
	if c.first.IsZero() {
		c.first = time.Now()
	}
	c.mu.Unlock()
}

// writer is w, marking the first byte written through it.
func (c *startClock) writer(w io.Writer) io.Writer { return &firstByteWriter{w: w, c: c} }

type firstByteWriter struct {
	w    io.Writer
	c    *startClock
	seen bool // written from one goroutine at a time (executor.Spec)
}

func (f *firstByteWriter) Write(p []byte) (int, error) {
	if !f.seen && len(p) > 0 {
		f.seen = true
		f.c.mark()
	}
	return f.w.Write(p)
}

// report is the start's phases for the server, or nil when none was
// measured (a nil clock: a run adopted after a restart). A first byte
// written before the executor knew the process ran counts as 0.
func (c *startClock) report() *client.StartTimes {
	if c == nil {
		return nil
	}
	t := c.times
	out := client.StartTimes{Image: nonNegative(t.Image), Stage: nonNegative(t.Stage), Container: nonNegative(t.Container)}
	c.mu.Lock()
	if !t.Running.IsZero() && !c.first.IsZero() {
		out.FirstByte = nonNegative(c.first.Sub(t.Running))
	}
	c.mu.Unlock()
	if out == (client.StartTimes{}) {
		return nil
	}
	return &out
}

func nonNegative(d time.Duration) time.Duration { return max(d, 0) }
