package server

import (
	"context"
	"time"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/store"
)

// startTimesOf is what the store keeps of a result's start times (nil:
// the worker sent none). The lease is the server's own figure: a
// worker's is ignored. A negative phase is refused.
func startTimesOf(ref store.AttemptRef, t *client.StartTimes) (*store.StartTimes, *apiError) {
	if t == nil {
		return nil, nil
	}
	for name, d := range map[string]time.Duration{"image_ns": t.Image, "stage_ns": t.Stage,
		"container_ns": t.Container, "first_byte_ns": t.FirstByte} {
		if d < 0 {
			return nil, errorf(client.CodeInvalidRequest, "send each phase as a duration of 0 or more nanoseconds",
				"start_times.%s of attempt %d of job %s is negative (%d)", name, ref.Attempt, ref.JobID, d).with("field", "start_times."+name)
		}
	}
	return &store.StartTimes{JobID: ref.JobID, Attempt: ref.Attempt,
		Image: t.Image, Stage: t.Stage, Container: t.Container, FirstByte: t.FirstByte}, nil
}

// recordStartTimes stores the start times of results about to be
// recorded, before them, so that whoever sees the job finished sees its
// start too (the times of a result then refused as stale are still that
// attempt's). A failure is logged, not answered: the results stand, and
// the times are for people to read.
func (s *Server) recordStartTimes(ctx context.Context, ts []store.StartTimes) {
	if len(ts) == 0 {
		return
	}
	if err := s.store.RecordStartTimes(ctx, ts); err != nil {
		s.log.Warn("could not store the attempts' start times", "attempts", len(ts), "err", err)
	}
}

// withStartTimes fills the Start of j's attempts: the lease from the job's
// and the attempts' times (an attempt waited from the job's submission,
// or from the end of the attempt before it, which queued the job again),
// the other phases from what their workers reported (ts).
func withStartTimes(j client.Job, ts []store.StartTimes) client.Job {
	byAttempt := make(map[int]store.StartTimes, len(ts))
	for _, t := range ts {
		byAttempt[t.Attempt] = t
	}
	queued := &j.CreatedAt
	for i := range j.Attempts {
		a := &j.Attempts[i]
		var st client.StartTimes
		if queued != nil {
			st.Lease = max(a.LeasedAt.Sub(*queued), 0)
		}
		if t, ok := byAttempt[a.Number]; ok {
			st.Image, st.Stage, st.Container, st.FirstByte = t.Image, t.Stage, t.Container, t.FirstByte
		}
		if st != (client.StartTimes{}) {
			a.Start = &st
		}
		queued = a.FinishedAt
	}
	return j
}
