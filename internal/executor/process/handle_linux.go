package process

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rgrid/rgrid/internal/executor"
)

// handle is one started run. A single goroutine (run) owns the process
// from start to reaping; Kill and the time limit only signal it.
type handle struct {
	pid     int // also the process group id (Setpgid)
	log     *slog.Logger
	timeout time.Duration

	done chan struct{} // closed once res and err are final
	res  executor.Result
	err  error

	mu     sync.Mutex
	ended  bool             // the leader has exited; signalling it is over
	reason executor.Outcome // TimedOut or Killed once we have sent SIGKILL
}

var _ executor.Handle = (*handle)(nil)

// start starts cmd with its output piped to spec's writers and a goroutine
// that sees the run to its end. finish runs after the last output is in,
// before Wait returns, with the result to complete (ok: there is one).
func start(cmd *exec.Cmd, spec executor.Spec, log *slog.Logger, grace time.Duration, finish func(res *executor.Result, ok bool)) (*handle, error) {
	// Our own pipes rather than exec's: exec's Wait reaps the leader before
	// it waits for output, and we must kill the group before reaping (see run).
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	cmd.Stdin = spec.Stdin // nil: /dev/null
	began := time.Now()
	err = cmd.Start()
	// The child has its own copies; ours would keep the pipes open forever.
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, err
	}

	h := &handle{pid: cmd.Process.Pid, log: log, timeout: spec.Limits.Timeout, done: make(chan struct{})}
	var copies sync.WaitGroup
	copies.Go(func() { h.copyOut("stdout", spec.Stdout, outR) })
	copies.Go(func() { h.copyOut("stderr", spec.Stderr, errR) })

	var timer *time.Timer
	if h.timeout > 0 {
		timer = time.AfterFunc(h.timeout, func() {
			if err := h.signal(executor.TimedOut); err != nil {
				h.log.Error("kill timed-out run", "pid", h.pid, "err", err)
			}
		})
	}
	go func() {
		defer close(h.done)
		h.run(cmd, began, timer)
		h.drain(&copies, grace, outR, errR)
		finish(&h.res, h.err == nil)
	}()
	return h, nil
}

// run waits for the leader to exit, kills what is left of its group and
// reaps it, recording the result.
func (h *handle) run(cmd *exec.Cmd, began time.Time, timer *time.Timer) {
	// Wait without reaping: while the leader is an unreaped zombie its pid,
	// which is the group id, cannot be reused, so every kill(-pid) below and
	// in signal reaches this run's processes and nobody else's.
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, h.pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EINTR) {
			h.log.Error("wait for run", "pid", h.pid, "err", err)
			break
		}
	}
	duration := time.Since(began)
	if timer != nil {
		timer.Stop()
	}
	h.mu.Lock()
	h.ended = true
	reason := h.reason
	h.mu.Unlock()

	// Like a container whose init exits: background children of a finished
	// job must neither outlive it nor hold its output open.
	if err := syscall.Kill(-h.pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		h.log.Warn("kill leftover processes", "pgid", h.pid, "err", err)
	}
	waitErr := cmd.Wait()
	h.res, h.err = result(cmd.ProcessState, waitErr, reason, h.timeout, duration)
}

// drain waits for the output copies to finish. Processes that left the
// group (setsid) may still hold the pipes; after grace we stop reading.
func (h *handle) drain(copies *sync.WaitGroup, grace time.Duration, pipes ...*os.File) {
	finished := make(chan struct{})
	go func() {
		copies.Wait()
		close(finished)
	}()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-finished:
	case <-t.C:
		h.log.Warn("run ended but its output is still held open; dropping the rest", "pid", h.pid)
	}
	for _, p := range pipes {
		p.Close() // unblocks a pending Read in copyOut
	}
	<-finished
}

// copyOut forwards one stream. If the destination fails we keep reading,
// so that the job does not block on a full pipe.
func (h *handle) copyOut(name string, w io.Writer, r *os.File) {
	if w == nil {
		w = io.Discard
	}
	if _, err := io.Copy(w, r); err != nil && !errors.Is(err, os.ErrClosed) {
		h.log.Warn("forward run output", "stream", name, "err", err)
		_, _ = io.Copy(io.Discard, r)
	}
}

// signal kills the run's process group for reason, unless the run has
// already ended or is already being killed.
func (h *handle) signal(reason executor.Outcome) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ended || h.reason != "" {
		return nil
	}
	h.reason = reason
	if err := syscall.Kill(-h.pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill process group %d: %w", h.pid, err)
	}
	return nil
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

// Kill implements executor.Handle. It returns once the run has ended, so
// that a caller can rely on nothing of it running any more.
func (h *handle) Kill(ctx context.Context) error {
	if err := h.signal(executor.Killed); err != nil {
		return err
	}
	select {
	case <-h.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func result(st *os.ProcessState, waitErr error, reason executor.Outcome, timeout, d time.Duration) (executor.Result, error) {
	var exitErr *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &exitErr) {
		return executor.Result{}, fmt.Errorf("wait for run: %w", waitErr)
	}
	res := executor.Result{Outcome: executor.Exited, ExitCode: st.ExitCode(), Duration: d}
	ws, _ := st.Sys().(syscall.WaitStatus)
	if !ws.Signaled() {
		return res, nil
	}
	res.ExitCode = 128 + int(ws.Signal()) // the shell convention users know
	// Only our SIGKILL makes a timeout or a kill; a run that ended on its
	// own just before we signalled it simply exited.
	if reason == "" || ws.Signal() != syscall.SIGKILL {
		return res, nil
	}
	res.Outcome = reason
	switch reason {
	case executor.TimedOut:
		res.Message = executor.TimeoutMessage(timeout)
	case executor.Killed:
		res.Message = executor.KilledMessage
	}
	return res, nil
}
