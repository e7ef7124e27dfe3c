package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/rgrid/rgrid/internal/executor"
	"github.com/rgrid/rgrid/internal/executor/diskquota"
)

// outputGrace is how long Wait keeps reading the follow stream after the
// container has exited. The engine ends the stream when it closes the
// container's log, at once; catchUp then reads what the stream missed.
// This only guards against an engine that never ends it.
const outputGrace = 5 * time.Second

// sigkillExit is how a container killed by SIGKILL exits: 128 + 9.
const sigkillExit = 137

// errAbandoned is Wait's error after a handle let go of its container
// without ending it (a test's stand-in for the worker's death).
var errAbandoned = errors.New("docker executor: run abandoned")

// handle is one started or adopted container. A single goroutine (run)
// owns it until removal; Kill and the time limit only signal it.
type handle struct {
	e       *Executor
	id, dir string
	timeout time.Duration
	memory  int64
	// began is when the container started; the time limit and Duration
	// count from it. finished is set only for a container adopted after
	// its exit: when it ended.
	began, finished time.Time
	// collect is Spec.Collect: given the working directory once the run
	// has ended, before its removal.
	collect func(dir string)
	// warm: the container came from the warm pool (pool.go).
	warm bool
	// report is the exit FIFO our init reports the job's end on (nil
	// without it): an exit 0 reported there ends the run without waiting
	// for the engine's record of the exit (awaitExit). run closes it.
	report *os.File

	done chan struct{} // closed once res and err are final
	res  executor.Result
	err  error

	// oom is closed when the engine reports an OOM kill in the container.
	// The report can arrive after the exit (the engine then leaves
	// State.OOMKilled false), so the event is watched as well.
	oom       chan struct{}
	stopWatch func()
	// stop cancels the context of run's engine calls. Before the run has
	// ended it abandons the container: run returns and touches nothing.
	stop func()

	mu     sync.Mutex
	ended  bool             // the container has exited; killing it is over
	reason executor.Outcome // TimedOut or Killed once we have killed it
}

var _ executor.Handle = (*handle)(nil)

func (e *Executor) newHandle(id, dir string, timeout time.Duration, memory int64, collect func(string)) *handle {
	return &handle{
		e: e, id: id, dir: dir, timeout: timeout, memory: memory, collect: collect,
		done: make(chan struct{}), oom: make(chan struct{}),
	}
}

// run copies the output, applies the time limit, waits for the exit,
// records the result, hands the working directory to Spec.Collect and
// removes the container and the run directory. Cancelling ctx abandons
// the container: run returns and touches nothing, Collect included.
func (h *handle) run(ctx context.Context, src output, stdout, stderr io.Writer, skipOut, skipErr int64) {
	defer close(h.done)
	defer h.stop()
	if h.report != nil {
		defer h.report.Close()
	}
	out := &streamWriter{w: h.sink("stdout", stdout), from: skipOut}
	errw := &streamWriter{w: h.sink("stderr", stderr), from: skipErr}
	copied := make(chan struct{})
	exited := make(chan struct{})
	complete := false
	go func() {
		defer close(copied)
		complete = src.copy(out, errw, exited)
	}()

	var timer *time.Timer
	if h.timeout > 0 {
		// Already past for an adopted run that outlived its limit: then at once.
		timer = time.AfterFunc(time.Until(h.began.Add(h.timeout)), func() {
			ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
			defer cancel()
			if err := h.kill(ctx, executor.TimedOut); err != nil {
				h.e.log.Error("kill timed-out container", "container", h.id, "err", err)
			}
		})
	}

	fast, waitErr := h.awaitExit(ctx, exitReports(h.report))
	close(exited)
	duration := time.Since(h.began)
	if !h.finished.IsZero() {
		duration = h.finished.Sub(h.began)
	}
	if timer != nil {
		timer.Stop()
	}
	h.mu.Lock()
	h.ended = true
	reason := h.reason
	h.mu.Unlock()
	if ctx.Err() != nil {
		src.close()
		<-copied
		h.stopWatch()
		h.err = errAbandoned
		return
	}

	stalled := false
	grace := time.NewTimer(outputGrace)
	select {
	case <-copied:
	case <-grace.C:
		stalled = true
		h.e.log.Warn("container exited but its output stream stayed open; reading the rest from its log", "container", h.id)
	}
	grace.Stop()
	src.close()
	<-copied

	// Only now: the bound is for the engine calls after the exit, not the run.
	cctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if waitErr != nil {
		h.err = fmt.Errorf("wait for container %.12s: %w", h.id, waitErr)
	} else {
		if !complete || stalled {
			src.catchUp(cctx, h, out, errw)
		}
		if fast {
			h.res = executor.Result{Outcome: executor.Exited, Duration: duration}
		} else {
			h.res, h.err = h.result(cctx, reason, duration)
		}
	}
	h.stopWatch()
	work := filepath.Join(h.dir, runWork)
	if h.err == nil {
		// Before the unmount; the job's processes are gone with its
		// container, so the free space no longer changes.
		h.res.DiskFull = diskquota.Full(work)
	}
	if h.collect != nil && h.dir != "" {
		h.collect(work)
	}
	// The result is ready now; the container and the run directory go
	// after it (Executor.Close waits), holding the directory's lock so
	// that no sweep takes it meanwhile.
	h.e.removals.Add(1)
	go func() {
		defer h.e.removals.Done()
		// A bound of its own: Collect may have taken longer than cctx's.
		rctx, rcancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer rcancel()
		h.e.remove(rctx, h.id, h.dir)
	}()
}

// awaitExit blocks until the container is not running or ctx (the
// handle's, not a caller's) ends: the run is watched until it ends,
// whoever waits. A broken wait connection (an engine restart) is retried a
// few times.
//
// With reported (the init's report of the job's exit status), an exit 0
// ends the wait at once (fast): the init has killed and reaped whatever
// the job left and written all of its output to the spools, so the job
// has ended as surely as with the engine's record, which lags the exit
// by a tenth of a second or more. Any other status waits for the engine,
// whose record alone says whether the memory limit killed a process.
func (h *handle) awaitExit(ctx context.Context, reported <-chan int) (fast bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // a fast end leaves no wait open
	for attempt := range 5 {
		if attempt > 0 {
			select {
			case <-time.After(time.Duration(attempt) * time.Second):
			case <-ctx.Done():
				return false, ctx.Err()
			}
		}
		w := h.e.cli.ContainerWait(ctx, h.id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	waiting:
		for {
			select {
			case <-w.Result:
				return false, nil
			case err = <-w.Error:
				break waiting
			case code := <-reported:
				if code == 0 {
					h.e.log.Debug("the init reported the job's exit", "container", h.id, "code", code)
					return true, nil
				}
				reported = nil
			}
		}
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		if cerrdefs.IsNotFound(err) {
			return false, err // removed behind our back: nothing to wait for
		}
		h.e.log.Warn("waiting for container failed; retrying", "container", h.id, "err", err)
	}
	return false, err
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
			res.Message = executor.TimeoutMessage(h.timeout)
		} else {
			res.Message = executor.KilledMessage
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

// watchOOM follows the engine's events for this container's OOM kills,
// from since on if it is set (the engine keeps recent events); the
// returned func stops following.
func (h *handle) watchOOM(since time.Time) func() {
	ctx, cancel := context.WithCancel(context.Background())
	opts := client.EventsListOptions{
		Filters: make(client.Filters).Add("container", h.id).Add("event", "oom"),
	}
	if !since.IsZero() {
		opts.Since = strconv.FormatInt(since.Unix(), 10)
	}
	ev := h.e.cli.Events(ctx, opts)
	go func() {
		select {
		case <-ev.Messages:
			close(h.oom)
		case err := <-ev.Err:
			if ctx.Err() == nil {
				// State.OOMKilled still tells most OOM kills.
				h.e.log.Debug("watching for OOM events stopped", "container", h.id, "err", err)
			}
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
