package executortest

import (
	"testing"
	"time"

	"github.com/rgrid/rgrid/internal/executor"
)

// runStartTimes: Start fills Spec.Times: the stage and the container (or
// process) steps took some time, and the process's start lies within the
// call, its steps together no longer than the call.
func runStartTimes(t *testing.T, setup func(t *testing.T) executor.Executor, rt Runtime) {
	t.Run("StartTimes", func(t *testing.T) {
		ex := setup(t)
		var times executor.StartTimes
		spec := newSpec(t, rt, "print('x')\n", func(s *executor.Spec) { s.Times = &times })
		before := time.Now()
		r := start(t, ex, spec)
		after := time.Now()
		r.wait(t).wantExit(t, 0)
		if times.Stage <= 0 || times.Container <= 0 || times.Image < 0 {
			t.Errorf("times = %+v, want the stage and the container timed", times)
		}
		if times.Running.Before(before) || times.Running.After(after) {
			t.Errorf("the process ran at %s, outside Start's call (%s to %s)", times.Running, before, after)
		}
		if sum := times.Image + times.Stage + times.Container; sum > after.Sub(before) {
			t.Errorf("the steps add up to %s, more than Start's %s", sum, after.Sub(before))
		}
	})
}
