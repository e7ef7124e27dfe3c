package worker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/executor"
	"github.com/rgrid/rgrid/internal/pytrace"
	"github.com/rgrid/rgrid/internal/startstop"
	"github.com/rgrid/rgrid/internal/workdir"
)

type killReason int

const (
	killNone    killReason = iota
	killStopped            // the server asked: canceled or superseded
	killAborted            // the worker itself is stopping at once
	killLost               // the server has certainly given the lease away
	killIDTaken            // another worker process holds this worker's id
)

// attempt is one leased job on this worker.
type attempt struct {
	ref client.AttemptRef
	job client.LeasedJob

	mu      sync.Mutex
	handle  executor.Handle
	reason  killReason
	done    bool
	kills   sync.WaitGroup // kills under way; none starts once done
	killing bool           // a kill is under way, or succeeded
	outputs jobOutputs     // what Collect found, once the run ended
	staged  workdir.Staged // what Stage wrote, so that Collect need not read unchanged inputs
	clock   *startClock    // the start's phases; nil for a run adopted after a restart
}

func (a *attempt) markEnded() {
	a.mu.Lock()
	a.done = true
	a.mu.Unlock()
}

func (a *attempt) ended() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.done
}

func newAttempt(lj client.LeasedJob) *attempt {
	return &attempt{ref: client.AttemptRef{JobID: lj.Job.ID, Attempt: lj.Attempt}, job: lj}
}

// kill records why and stops the run if it has started; a kill that
// arrives before the start is applied as soon as there is a handle.
func (a *attempt) kill(r killReason) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.reason == killNone {
		a.reason = r
	}
	// In the background (callers hold the worker's lock), one at a time: a
	// kill that failed is tried again at the next call. supervise waits
	// for it once the run has ended.
	if h := a.handle; h != nil && !a.done && !a.killing {
		a.killing = true
		a.kills.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := h.Kill(ctx)
			a.mu.Lock()
			a.killing = err == nil // stays true once killed
			a.mu.Unlock()
		})
	}
}

func (a *attempt) setHandle(h executor.Handle) (killed bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.handle = h
	return a.reason != killNone
}

func (a *attempt) killReason() killReason {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.reason
}

// limits fills the job's unset limits from the worker's defaults.
func (w *Worker) limits(l client.Limits) executor.Limits {
	out := w.opts.Defaults
	if l.MemoryBytes > 0 {
		out.MemoryBytes = l.MemoryBytes
	}
	if l.CPUs > 0 {
		out.CPUs = l.CPUs
	}
	if l.Pids > 0 {
		out.Pids = l.Pids
	}
	if l.TimeoutSeconds > 0 {
		out.Timeout = time.Duration(l.TimeoutSeconds) * time.Second
	}
	if l.DiskBytes > 0 {
		out.DiskBytes = l.DiskBytes
	}
	return out
}

// logLimit is the most output stored for each attempt of j: the job's own
// limit (set by the server at submission), else the worker's.
func (w *Worker) logLimit(j client.Job) int64 {
	if j.LogLimit > 0 {
		return j.LogLimit
	}
	return w.opts.MaxLogBytes
}

// runAttempt runs one leased job to the end and reports its result.
func (w *Worker) runAttempt(ctx context.Context, a *attempt) {
	defer w.untrack(a)
	log := w.log.With("job", a.ref.JobID, "attempt", a.ref.Attempt)
	ship := newShipper(w.c, a.ref, w.logLimit(a.job.Job), func() { a.kill(killStopped) })
	_ = ship.Start(ctx)
	defer ship.Stop()

	j := a.job
	a.clock = new(startClock)
	inputs, inputsKey, err := w.inputs.of(j)
	if err != nil {
		_ = ship.close()
		w.report(ctx, a, client.ResultReport{State: client.StateError, Reason: "invalid_inputs",
			Message: "the job's inputs manifest is not acceptable: " + err.Error()})
		return
	}
	spec := executor.Spec{
		JobID: j.Job.ID, Attempt: j.Attempt, WorkerID: w.opts.ID,
		Image: j.RuntimeImage, Command: j.RuntimeCommand,
		FileName: j.Job.FileName, Script: j.Script, Args: j.Job.Args, Env: jobEnv(j.Job.Env),
		Limits: w.limits(j.Job.Limits), Network: j.Job.Network, Requirements: j.Job.Requirements,
		Stdout: a.clock.writer(ship.writer(client.Stdout)), Stderr: a.clock.writer(ship.writer(client.Stderr)),
		System: ship.writer(client.System), Times: &a.clock.times,
		Collect: w.collector(ctx, a, inputs, false), CollectChanges: w.collector(ctx, a, inputs, true),
	}
	if j.Stdin != nil {
		rc, err := w.blobs.open(ctx, j.Stdin.SHA256)
		if err != nil {
			_ = ship.close()
			w.report(ctx, a, client.ResultReport{State: client.StateError, Reason: "input_stage_failed",
				Message: "the job's stdin could not be fetched: " + err.Error()})
			return
		}
		defer rc.Close()
		spec.Stdin = rc
	}
	if j.Inputs != nil {
		spec.InputsKey = inputsKey
		spec.Stage = func(dir string) error {
			if err := w.blobs.prefetch(ctx, inputs); err != nil {
				return &stageError{err}
			}
			staged, err := workdir.Stage(ctx, dir, inputs, w.blobs.open)
			if err != nil {
				return &stageError{err}
			}
			a.staged = staged
			return nil
		}
	}
	log.Info("starting job", "file", spec.FileName, "runtime", j.Job.Runtime)
	startAt := time.Now()
	h, err := w.opts.Executor.Start(ctx, spec)
	if err == nil {
		w.metrics.executorStarted(startAt)
	}
	if err != nil {
		log.Error("job could not start", "err", err)
		ship.system("rgrid: the job could not start: " + err.Error())
		_ = ship.close()
		reason := "start_failed"
		switch {
		case errors.Is(err, executor.ErrUnavailable):
			reason = "executor_unavailable"
		case errors.Is(err, executor.ErrImagePull):
			reason = "image_pull_failed"
		case errors.Is(err, executor.ErrDependencyInstall):
			reason = "dependency_install_failed"
		case errors.Is(err, executor.ErrDiskFull):
			reason = "disk_full"
		case errors.As(err, new(*stageError)):
			reason = "input_stage_failed"
		}
		msg := err.Error()
		var de *executor.DependencyError
		if errors.As(err, &de) {
			msg = "installing the job's requirements failed: " + de.Hint + "\npip's last lines:\n" + de.Output
		}
		w.report(ctx, a, client.ResultReport{State: client.StateError, Reason: reason, Message: msg})
		return
	}
	// Queued before the run can end, so the result finds it waiting (and
	// folds it in) or follows it.
	first := w.reporter.queueStart(a.ref)
	starting := startstop.Func(func(ctx context.Context) { w.reportStart(ctx, a, first) })
	_ = starting.Start(ctx)
	defer starting.Stop() // once the result is reported the start report is moot
	w.supervise(ctx, a, h, ship)
}

// reportStart tells the server the run has started (p: the report,
// already queued), queueing it again while the server cannot be reached;
// the run goes on meanwhile.
func (w *Worker) reportStart(ctx context.Context, a *attempt, p *pendingReport) {
	b := newBackoff()
	for {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		out, err := p.wait(cctx)
		cancel()
		switch {
		case a.ended():
			return // the result went or goes with the start (ResultReport.Started)
		case err == nil:
			if out.Stop {
				a.kill(killStopped)
			}
			return
		case client.IsCode(err, client.CodeStaleAttempt) || client.IsCode(err, client.CodeNotFound):
			a.kill(killStopped)
			return
		}
		if a.ended() || !b.wait(ctx) {
			return
		}
		p = w.reporter.queueStart(a.ref)
	}
}

// supervise waits for a started (or adopted) run, ships the rest of its
// output and reports its result. The result says the run started: the
// start report, queued before it in the reporter, goes first or folds into
// it, and if the start report was lost on the way the server still records
// the start.
func (w *Worker) supervise(ctx context.Context, a *attempt, h executor.Handle, ship *shipper) {
	log := w.log.With("job", a.ref.JobID, "attempt", a.ref.Attempt)
	if a.setHandle(h) {
		_ = h.Kill(ctx)
	}
	res, err := h.Wait(context.WithoutCancel(ctx))
	if a.clock != nil {
		a.clock.mark() // the exit, for a run that printed nothing
	}
	a.markEnded()
	a.kills.Wait()
	refused := ship.close()
	if refused != nil {
		log.Info("the server no longer accepts this attempt; not reporting", "err", refused)
		w.metrics.ended(outcomeRefused)
		return
	}
	switch a.killReason() {
	case killLost, killIDTaken:
		w.metrics.ended(outcomeAbandoned)
	}
	switch a.killReason() {
	case killLost:
		// Not reported: the server took the attempt back (or will, at the
		// next heartbeat, which no longer lists it).
		log.Warn("killed: the server has not acknowledged this worker for longer than its dead-after interval")
		return
	case killIDTaken:
		// Not reported: the attempt is the id's new holder's to keep or
		// (at its heartbeat, which does not list it) to take back.
		log.Warn("killed: another worker process holds this worker's id")
		return
	}
	if err != nil {
		w.report(ctx, a, client.ResultReport{State: client.StateError, Reason: "executor_failed",
			Message: "the worker lost track of the job: " + err.Error(), Started: true})
		return
	}
	r := w.resultReport(a, res)
	r.Started = true
	if r.State == client.StateFailed {
		if f, ok := pytrace.Parse(ship.stderrTail(), a.job.Job.FileName); ok {
			r.Failure = &f
		}
		if res.DiskFull {
			r.Reason = "disk_full"
			r.Message = fmt.Sprintf("exited with code %d with its working directory full (its disk limit)", res.ExitCode)
		}
	}
	w.withOutputs(a, &r)
	w.report(ctx, a, r)
}

// collector is the executor's Collect for attempt a: it gathers and
// uploads the outputs, unless the attempt will not be reported.
// With upper the directory is an overlay's upper directory over the
// inputs (Spec.CollectChanges).
func (w *Worker) collector(ctx context.Context, a *attempt, inputs workdir.Manifest, upper bool) func(dir string) {
	return func(dir string) {
		switch a.killReason() {
		case killLost, killIDTaken, killAborted:
			return // not reported: nobody would get them
		}
		a.outputs = w.collect(ctx, dir, inputs, a.staged, upper)
	}
}

// withOutputs puts the attempt's outputs into its result; a job whose
// outputs could not be stored ends error, saying why, rather than
// without them.
func (w *Worker) withOutputs(a *attempt, r *client.ResultReport) {
	o := a.outputs
	if o.err != nil {
		if r.State == client.StateCanceled {
			return
		}
		*r = client.ResultReport{State: client.StateError, Reason: "output_upload_failed", ExitCode: r.ExitCode,
			Message: "the job ran, but its outputs could not be stored: " + o.err.Error(), Started: true}
		return
	}
	if o.outputs != nil && (len(o.outputs.Entries) > 0 || len(o.skipped) > 0) {
		r.Outputs, r.OutputsSkipped = o.outputs, o.skipped
	}
}

// stageError: the job's inputs could not be staged.
type stageError struct{ err error }

func (e *stageError) Error() string { return "staging the job's inputs failed: " + e.err.Error() }
func (e *stageError) Unwrap() error { return e.err }

func (w *Worker) resultReport(a *attempt, res executor.Result) client.ResultReport {
	code := res.ExitCode
	switch res.Outcome {
	case executor.TimedOut:
		return client.ResultReport{State: client.StateTimedOut, Reason: "timeout", Message: res.Message}
	case executor.OOMKilled:
		return client.ResultReport{State: client.StateOOMKilled, Reason: "oom", Message: res.Message}
	case executor.Killed:
		if a.killReason() == killAborted {
			return client.ResultReport{State: client.StateLost, Reason: "worker_stopped",
				Message: fmt.Sprintf("worker %s was stopped before the job ended", w.opts.ID)}
		}
		return client.ResultReport{State: client.StateCanceled, Reason: "canceled", Message: "canceled on request"}
	}
	if code == 0 {
		return client.ResultReport{State: client.StateSucceeded, ExitCode: &code}
	}
	return client.ResultReport{State: client.StateFailed, ExitCode: &code, Reason: "exit_code",
		Message: fmt.Sprintf("exited with code %d", code)}
}

// report sends the result, retrying until the server records it or
// refuses it as stale.
func (w *Worker) report(ctx context.Context, a *attempt, r client.ResultReport) {
	b := newBackoff()
	for {
		if r.StartTimes == nil {
			r.StartTimes = a.clock.report()
		}
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		err := w.reporter.result(cctx, a.ref, r)
		cancel()
		if err == nil {
			w.log.Info("job finished", "job", a.ref.JobID, "attempt", a.ref.Attempt, "state", r.State)
			w.metrics.ended(string(r.State))
			return
		}
		if client.IsCode(err, client.CodeStaleAttempt) || client.IsCode(err, client.CodeNotFound) {
			w.log.Info("result refused: the attempt is no longer current", "job", a.ref.JobID, "attempt", a.ref.Attempt)
			w.metrics.ended(outcomeRefused)
			return
		}
		var apiErr *client.Error
		if errors.As(err, &apiErr) && apiErr.Status/100 == 4 && r.Outputs != nil {
			// The outputs were refused (a server without files, a blob
			// that did not arrive): the job ends error, saying so.
			w.log.Warn("the server refused the job's outputs", "job", a.ref.JobID, "err", err)
			r = client.ResultReport{State: client.StateError, Reason: "output_upload_failed", ExitCode: r.ExitCode,
				Message: "the job ran, but the server refused its outputs: " + apiErr.Message, Started: true}
			continue
		}
		w.log.Warn("could not report the result; retrying", "job", a.ref.JobID, "err", err)
		if !b.wait(ctx) {
			return
		}
	}
}

// jobEnv is the job's environment, with Python's bytecode cache off unless
// the job sets it: the cache's files would otherwise come back as outputs
// of every run.
func jobEnv(env map[string]string) map[string]string {
	if _, set := env["PYTHONDONTWRITEBYTECODE"]; set {
		return env
	}
	out := make(map[string]string, len(env)+1)
	maps.Copy(out, env)
	out["PYTHONDONTWRITEBYTECODE"] = "1"
	return out
}
