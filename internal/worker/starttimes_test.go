package worker

import (
	"bytes"
	"testing"
	"time"

	"github.com/rgrid/rgrid/client"
)

// TestStartClock: the first byte counts from the process's start to the
// first byte through stdout or stderr (an empty write is none), or to the
// exit; a byte the executor passed on before it knew the process ran
// counts as 0; an adopted run (no clock) reports nothing.
func TestStartClock(t *testing.T) {
	t.Parallel()
	if (*startClock)(nil).report() != nil {
		t.Error("a run without a clock reports start times")
	}
	c := new(startClock)
	if c.report() != nil {
		t.Error("a clock that measured nothing reports start times")
	}
	c.times.Image, c.times.Stage, c.times.Container = time.Millisecond, 2*time.Millisecond, 3*time.Millisecond
	c.times.Running = time.Now()
	var buf bytes.Buffer
	w := c.writer(&buf)
	if _, err := w.Write(nil); err != nil {
		t.Fatal(err)
	}
	if r := c.report(); r.FirstByte != 0 {
		t.Errorf("an empty write marked the first byte: %+v", r)
	}
	if _, err := w.Write([]byte("x")); err != nil || buf.String() != "x" {
		t.Fatalf("write: %v %q", err, buf.String())
	}
	marked := c.first
	c.mark() // the exit, later: the first byte stays
	if c.first != marked {
		t.Error("the exit moved the first byte")
	}
	r := c.report()
	want := client.StartTimes{Image: time.Millisecond, Stage: 2 * time.Millisecond, Container: 3 * time.Millisecond,
		FirstByte: marked.Sub(c.times.Running)}
	if *r != want {
		t.Errorf("report = %+v, want %+v", *r, want)
	}

	early := &startClock{}
	early.mark()
	early.times.Running = early.first.Add(time.Millisecond)
	if r := early.report(); r != nil {
		t.Errorf("a byte before the process ran: %+v, want nothing measured", r)
	}
}
