package cli

import (
	"runtime/debug"
	"testing"
)

// lessGC raises the collector's target for the submission's burst and
// puts back what was set, and leaves a user's GOGC as it is.
func TestLessGC(t *testing.T) {
	t.Setenv("GOGC", "")
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)
	done := lessGC()
	if got := debug.SetGCPercent(400); got != 400 {
		t.Errorf("during: GC percent %d, want 400", got)
	}
	done()
	done()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("after: GC percent %d, want 100 back", got)
	}
	t.Setenv("GOGC", "50")
	debug.SetGCPercent(50)
	lessGC()()
	if got := debug.SetGCPercent(100); got != 50 {
		t.Errorf("with GOGC=50: GC percent %d, want it left at 50", got)
	}
}
