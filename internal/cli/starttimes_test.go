package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/rgrid/rgrid/client"
)

// TestStatusStartTimes: status --verbose shows one row per attempt, each
// phase in milliseconds and their total, "-" for a phase not reached.
func TestStatusStartTimes(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	printStartTimes(&out, client.Job{ID: "job_1", Attempts: []client.Attempt{
		{Number: 1, Start: &client.StartTimes{Lease: 2 * time.Millisecond, Image: 1500 * time.Millisecond}},
		{Number: 2, Start: &client.StartTimes{Lease: 2500 * time.Microsecond, Image: 3 * time.Millisecond, Stage: 1200 * time.Microsecond,
			Container: 310 * time.Millisecond, FirstByte: 42 * time.Millisecond}},
		{Number: 3},
	}})
	want := []string{
		"Start (ms):",
		"  #  LEASE   IMAGE  STAGE  CONTAINER  FIRST BYTE   TOTAL",
		"  1    2.0  1500.0      -          -           -  1502.0",
		"  2    2.5     3.0    1.2      310.0        42.0   358.7",
		"  3      -       -      -          -           -       -",
	}
	got := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	for i := range got {
		got[i] = strings.TrimRight(got[i], " ")
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("status --verbose:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	out.Reset()
	printStartTimes(&out, client.Job{ID: "job_2"})
	if out.Len() != 0 {
		t.Errorf("a job without attempts shows start times:\n%s", out.String())
	}
}
