package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/rgrid/rgrid/internal/executor"
)

// outputGrace is how long Wait keeps reading output after the container
// has exited. The engine closes the stream when the container's last
// process is gone, which with an init process is at once; this only
// guards against an engine that never does.
const outputGrace = 5 * time.Second

// sigkillExit is how a container killed by SIGKILL exits: 128 + 9.
const sigkillExit = 137

// handle is one started container. A single goroutine (run) owns it from
// start to removal; Kill and the time limit only signal it.
type handle struct {
	e       *Executor
	id, dir string
	timeout time.Duration
	memory  int64

	done chan struct{} // closed once res and err are final
	res  executor.Result
	err  error

	// oom is closed when the engine reports an OOM kill in the container.
	// The report can arrive after the exit (the engine then leaves
	// State.OOMKilled false), so the event is watched as well.
	oom       chan struct{}
	stopWatch func()

	mu     sync.Mutex
	ended  bool             // the container has exited; killing it is over
	reason executor.Outcome // TimedOut or Killed once we have killed it
}

var _ executor.Handle = (*handle)(nil)

// run copies the output, applies the time limit, waits for the exit,
// records the result and removes the container and the run directory.
func (h *handle) run(attach client.HijackedResponse, stdout, stderr io.Writer, began time.Time) {
	defer close(h.done)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		// The writers swallow their own failures, so the stream is always
		// read to the end: an unread stream would block the job's writes.
		out, errw := h.sink("stdout", stdout), h.sink("stderr", stderr)
		if _, err := stdcopy.StdCopy(out, errw, attach.Reader); err != nil && !errors.Is(err, io.EOF) {
			h.e.log.Debug("container output stream ended", "container", h.id, "err", err)
		}
	}()

	var timer *time.Timer
	if h.timeout > 0 {
		timer = time.AfterFunc(h.timeout, func() {
			ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
			defer cancel()
			if err := h.kill(ctx, executor.TimedOut); err != nil {
				h.e.log.Error("kill timed-out container", "container", h.id, "err", err)
			}
		})
	}

	waitErr := h.awaitExit()
	duration := time.Since(began)
	// Only now: the bound is for the engine calls after the exit, not the run.
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if timer != nil {
		timer.Stop()
	}
	h.mu.Lock()
	h.ended = true
	reason := h.reason
	h.mu.Unlock()

	grace := time.NewTimer(outputGrace)
	select {
	case <-copied:
	case <-grace.C:
		h.e.log.Warn("container exited but its output stream stayed open; dropping the rest", "container", h.id)
	}
	grace.Stop()
	attach.Close()
	<-copied

	if waitErr != nil {
		h.err = fmt.Errorf("wait for container %.12s: %w", h.id, waitErr)
	} else {
		h.res, h.err = h.result(ctx, reason, duration)
	}
	if h.stopWatch != nil {
		h.stopWatch()
	}
	h.e.remove(ctx, h.id, h.dir)
}

// awaitExit blocks until the container is not running. It does not take
// the caller's context: the run is watched until it ends, whoever waits.
// A broken wait connection (an engine restart) is retried a few times.
func (h *handle) awaitExit() error {
	var err error
	for attempt := range 5 {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * time.Second)
		}
		w := h.e.cli.ContainerWait(context.Background(), h.id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
		select {
		case <-w.Result:
			return nil
		case err = <-w.Error:
		}
		if cerrdefs.IsNotFound(err) {
			return err // removed behind our back: nothing to wait for
		}
		h.e.log.Warn("waiting for container failed; retrying", "container", h.id, "err", err)
	}
	return err
}

// result reads how the container ended. OOM comes from the engine's
// record of the memory cgroup's kill, never from exit code 137 alone,
// which a plain `kill -9` also gives.
func (h *handle) result(ctx context.Context, reason executor.Outcome, d time.Duration) (executor.Result, error) {
	insp, err := h.e.cli.ContainerInspect(ctx, h.id, client.ContainerInspectOptions{})
	if err != nil {
		return executor.Result{}, fmt.Errorf("inspect finished container %.12s: %w", h.id, err)
	}
	st := insp.Container.State
	if st == nil {
		return executor.Result{}, fmt.Errorf("inspect finished container %.12s: no state", h.id)
	}
	if !st.OOMKilled && reason == "" && st.ExitCode == sigkillExit {
		// Killed, not by us: give a late OOM report a moment to arrive.
		t := time.NewTimer(oomReportGrace)
		select {
		case <-h.oom:
			st.OOMKilled = true
		case <-t.C:
		}
		t.Stop()
	}
	// With an init process the exit status already follows 128+signal.
	res := executor.Result{Outcome: executor.Exited, ExitCode: st.ExitCode, Duration: d}
	switch {
	case reason != "" && st.ExitCode == sigkillExit:
		// Our kill, unless the run ended by itself just before it.
		res.Outcome = reason
		if reason == executor.TimedOut {
			res.Message = "killed after " + seconds(h.timeout) + " s (the job's time limit)"
		} else {
			res.Message = "killed on request"
		}
	case st.OOMKilled && st.ExitCode != 0:
		// The flag covers any process of the container; a job that
		// survived a child's OOM kill and exited 0 simply succeeded.
		res.Outcome = executor.OOMKilled
		res.Message = "exceeded its memory limit of " + mebibytes(h.memory)
	}
	return res, nil
}

// oomReportGrace is how long a SIGKILLed container's OOM report may lag
// behind its exit.
const oomReportGrace = 2 * time.Second

// watchOOM follows the engine's events for this container's OOM kills; the
// returned func stops following.
func (h *handle) watchOOM() func() {
	ctx, cancel := context.WithCancel(context.Background())
	ev := h.e.cli.Events(ctx, client.EventsListOptions{
		Filters: make(client.Filters).Add("container", h.id).Add("event", "oom"),
	})
	go func() {
		select {
		case <-ev.Messages:
			close(h.oom)
		case <-ev.Err:
		case <-ctx.Done():
		}
	}()
	return cancel
}

// kill sends SIGKILL for reason unless the container has ended or is
// already being killed.
func (h *handle) kill(ctx context.Context, reason executor.Outcome) error {
	h.mu.Lock()
	if h.ended || h.reason != "" {
		h.mu.Unlock()
		return nil
	}
	h.reason = reason
	h.mu.Unlock()
	_, err := h.e.cli.ContainerKill(ctx, h.id, client.ContainerKillOptions{Signal: "KILL"})
	if err == nil {
		return nil
	}
	h.mu.Lock()
	h.reason = "" // not killed by us: whatever ended it is the outcome
	h.mu.Unlock()
	if cerrdefs.IsConflict(err) || cerrdefs.IsNotFound(err) {
		return nil // not running any more
	}
	return fmt.Errorf("kill container %.12s: %w", h.id, err)
}

// Wait implements executor.Handle.
func (h *handle) Wait(ctx context.Context) (executor.Result, error) {
	select {
	case <-h.done:
		return h.res, h.err
	case <-ctx.Done():
		return executor.Result{}, ctx.Err()
	}
}

// Kill implements executor.Handle. It returns once the container has
// stopped and is removed, so that nothing of the run is left.
func (h *handle) Kill(ctx context.Context) error {
	if err := h.kill(ctx, executor.Killed); err != nil {
		return err
	}
	select {
	case <-h.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// remove deletes a container and its run directory. A failure is logged,
// not returned: RemoveOrphans will find the container again.
func (e *Executor) remove(ctx context.Context, id, dir string) {
	_, err := e.cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		e.log.Warn("remove container", "container", id, "err", err)
	}
	e.removeRunDir(dir)
}

// sink wraps a destination of the job's output so that its failure is
// logged once and the rest of the output discarded.
func (h *handle) sink(stream string, w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return &stickyWriter{w: w, fail: func(err error) {
		h.e.log.Warn("forward container output", "container", h.id, "stream", stream, "err", err)
	}}
}

type stickyWriter struct {
	w      io.Writer
	failed bool
	fail   func(error)
}

func (s *stickyWriter) Write(p []byte) (int, error) {
	if !s.failed {
		if _, err := s.w.Write(p); err != nil {
			s.failed = true
			s.fail(err)
		}
	}
	return len(p), nil
}

// seconds formats d for people: "300", "1.5", never "5m0s".
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Round(time.Millisecond).Seconds(), 'f', -1, 64)
}

// mebibytes formats a memory limit as users set it: "512 MiB", "1.5 GiB".
func mebibytes(n int64) string {
	const mib, gib = 1 << 20, 1 << 30
	switch {
	case n >= gib && n%(gib/2) == 0:
		return strconv.FormatFloat(float64(n)/gib, 'f', -1, 64) + " GiB"
	case n%mib == 0:
		return strconv.FormatInt(n/mib, 10) + " MiB"
	default:
		return strconv.FormatFloat(float64(n)/mib, 'f', 1, 64) + " MiB"
	}
}
