package store

import (
	"context"
	"time"
)

// StartTimes is where one attempt's start went, as its worker measured
// it. A zero duration is a step the attempt did not reach (its start
// failed before it) or that its executor does not have (no image for host
// processes).
type StartTimes struct {
	JobID   string
	Attempt int
	// Image: the image (and the requirements' environment) made ready,
	// pulled or built if missing.
	Image time.Duration
	// Stage: the script and the job's inputs written into its working
	// directory.
	Stage time.Duration
	// Container: the container created and started, until the process
	// runs.
	Container time.Duration
	// FirstByte: from the process running to its first output byte, or
	// to its exit if it printed nothing.
	FirstByte time.Duration
}

// StartTimesStore keeps the attempts' start times.
type StartTimesStore interface {
	// RecordStartTimes stores attempts' start times in one transaction.
	// An attempt's first record stays: a repeated one is ignored.
	RecordStartTimes(ctx context.Context, ts []StartTimes) error
	// StartTimes returns the start times recorded for a job's attempts,
	// by attempt number (none: an empty list, also for an unknown job).
	StartTimes(ctx context.Context, jobID string) ([]StartTimes, error)
}
