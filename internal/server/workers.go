package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/blob"
	"github.com/rgrid/rgrid/internal/scheduler"
	"github.com/rgrid/rgrid/internal/store"
)

// Worker protocol. Every report on an attempt names (job, attempt); one for
// an attempt that is no longer the job's current, active one is refused with
// 409 stale_attempt, and the worker kills what it runs for it.
//
// A worker id belongs to one worker process at a time: each process sends
// its instance (a nonce, client.WorkerInstanceHeader), and while the
// instance holding an id is alive another one's registration is refused
// with 409 worker_id_in_use. Heartbeats, leases and releases from an
// instance that no longer holds the id get the same answer, so a process
// whose id was taken over neither leases nor hands back the new holder's
// jobs. Reports on attempts are fenced by the attempt alone: a result for
// an attempt that is still current is the true one, whoever sends it. A
// worker that sends no instance (one from before instances) is not checked,
// and cannot take an id from an instance that is alive.

func (s *Server) listWorkers(w http.ResponseWriter, r *http.Request) {
	ws, err := s.store.ListWorkers(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]client.Worker, 0, len(ws))
	for _, x := range ws {
		out = append(out, workerToAPI(x))
	}
	writeJSON(w, http.StatusOK, map[string]any{"workers": out})
}

func (s *Server) registerWorker(w http.ResponseWriter, r *http.Request) {
	var req client.RegisterRequest
	if err := decodeJSON(w, r, 1<<20, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.ID == "" || len(req.ID) > 200 {
		s.writeError(w, r, errorf(client.CodeInvalidRequest,
			"the worker sends a stable id (--worker-id)", "worker id is required and at most 200 bytes"))
		return
	}
	if req.Slots < 1 {
		s.writeError(w, r, errorf(client.CodeInvalidRequest,
			"start the worker with --slots 1 or more", "slots must be at least 1, got %d", req.Slots))
		return
	}
	pricing, err := checkPricing(req.Pricing)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	instance, err := workerInstance(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	tokenID := caller(r).workerToken()
	if err := s.takeOver(r, req.ID, tokenID); err != nil {
		s.writeError(w, r, err)
		return
	}
	now := s.opts.Now().UTC()
	wk, err := s.store.UpsertWorker(r.Context(), store.Worker{
		ID: req.ID, Name: req.Name, Hostname: req.Hostname, Version: req.Version,
		Executor: req.Executor, Slots: req.Slots, State: "active", RegisteredAt: now, LastHeartbeat: now,
		Max: store.Limits(req.Max), Instance: instance, TokenID: tokenID, Pricing: pricing,
	}, now.Add(-s.opts.DeadAfter))
	if err != nil {
		s.writeError(w, r, s.workerInUse(r, fmt.Errorf("register worker %s: %w", req.ID, err)))
		return
	}
	s.pricing.put(wk, now)
	s.log.Info("worker registered", "worker", wk.ID, "host", wk.Hostname, "slots", wk.Slots, "executor", wk.Executor)
	writeJSON(w, http.StatusOK, client.RegisterResponse{
		Worker:                   workerToAPI(wk),
		HeartbeatIntervalSeconds: int(s.opts.HeartbeatInterval / time.Second),
		DeadAfterSeconds:         int(s.opts.DeadAfter / time.Second),
	})
}

func (s *Server) workerNotFound(id string) *apiError {
	return errorf(client.CodeNotFound, "register again", "worker %s is not registered", id)
}

// maxInstance is the longest instance nonce taken.
const maxInstance = 64

// leaseAnswerTimeout bounds what a lease reads after its claim (the
// leased jobs' scripts, secrets and batch files) once the request's own
// context no longer does: within the 10 s a stopping replica gives
// requests in flight.
const leaseAnswerTimeout = 5 * time.Second

// workerInstance is the instance a worker process sent, "" if none (a
// worker from before instances).
func workerInstance(r *http.Request) (string, error) {
	v := r.Header.Get(client.WorkerInstanceHeader)
	if len(v) > maxInstance || strings.ContainsFunc(v, func(c rune) bool {
		return (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' && c != '_'
	}) {
		return "", errorf(client.CodeInvalidRequest, "send a nonce of letters, digits, '-' and '_' (the worker agent makes one)",
			"header %s must be at most %d letters, digits, '-' or '_'", client.WorkerInstanceHeader, maxInstance)
	}
	return v, nil
}

// workerInUse turns a store refusal of a worker's instance into the API's
// answer, and leaves any other error as it is.
func (s *Server) workerInUse(r *http.Request, err error) error {
	var iu *store.WorkerInUseError
	if !errors.As(err, &iu) {
		return err
	}
	h := iu.Holder
	host := h.Hostname
	switch {
	case host == "":
		host = "an unnamed host"
	case len(host) > 253 || strings.ContainsFunc(host, func(c rune) bool {
		return (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' && c != '.' && c != '_'
	}):
		host = strconv.Quote(host) // what a worker says its host is, not shown raw to another
	}
	ago := max(s.opts.Now().Sub(h.LastHeartbeat), 0).Round(time.Second)
	s.log.Warn("refused a worker process: its id belongs to another", "worker", h.ID,
		"path", r.URL.Path, "holder_host", h.Hostname, "holder_last_heartbeat", h.LastHeartbeat)
	return errorf(client.CodeWorkerIDInUse,
		"give each worker its own --worker-id; cloned machines must not share a data directory's worker-id file",
		"worker id %s belongs to another worker process, on %s, last heard from %s ago (at %s)",
		h.ID, host, ago, h.LastHeartbeat.UTC().Format(time.TimeOnly+" MST")).
		with("worker_id", h.ID).with("hostname", h.Hostname).with("last_heartbeat", h.LastHeartbeat.UTC())
}

// heardFrom records a heartbeat of worker id from the request's instance,
// or says why not: not registered, or held by another instance.
func (s *Server) heardFrom(r *http.Request, id string, now time.Time) error {
	if err := s.checkWorker(r, id); err != nil {
		return err
	}
	instance, err := workerInstance(r)
	if err != nil {
		return err
	}
	err = s.store.Heartbeat(r.Context(), id, instance, now)
	if errors.Is(err, store.ErrNotFound) {
		return s.workerNotFound(id)
	}
	return s.workerInUse(r, err)
}

func (s *Server) heartbeat(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var req client.HeartbeatRequest
	if err := decodeJSON(w, r, 1<<20, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	now := s.opts.Now().UTC()
	err := s.heardFrom(r, id, now)
	if err == nil && req.Draining {
		err = s.store.SetWorkerState(r.Context(), id, "draining")
	}
	if err == nil && req.Warm != nil {
		err = s.store.SetWorkerWarm(r.Context(), id, max(0, *req.Warm))
	}
	if err == nil {
		// Attempts leased a while ago that the worker does not run are
		// taken back; younger ones may still be on their way to it.
		running := make([]store.AttemptRef, 0, len(req.Running))
		for _, a := range req.Running {
			running = append(running, store.AttemptRef{JobID: a.JobID, Attempt: a.Attempt})
		}
		err = s.sched.Reconcile(r.Context(), id, running, now.Add(-2*s.opts.HeartbeatInterval-5*time.Second))
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	stop, err := s.store.AttemptsToStop(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, client.HeartbeatResponse{Stop: refsToAPI(stop)})
}

func (s *Server) lease(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var req client.LeaseRequest
	if err := decodeJSON(w, r, 1<<20, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.Max < 0 || req.Max > 1000 {
		s.writeError(w, r, errorf(client.CodeInvalidRequest, "ask for 0 to 1000 jobs", "max %d is out of range", req.Max))
		return
	}
	known, err := knownInputs(req.KnownInputs)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// A lease counts as a heartbeat, and tells an unregistered worker (or
	// one whose id another process holds now) so.
	if err := s.heardFrom(r, id, s.opts.Now().UTC()); err != nil {
		s.writeError(w, r, err)
		return
	}
	wait := min(time.Duration(req.WaitSeconds)*time.Second, s.opts.MaxLeaseWait)
	if wk, err := s.store.GetWorker(r.Context(), id); err == nil && wk.State == "draining" {
		s.drainedLease(w, r, id, wait)
		return
	}
	caps, err := s.ownerCaps(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	pricing, slots, err := s.pricingOf(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	pool := ""
	if p := caller(r); p.kind == asWorker {
		pool = p.token.Pool
	}
	defaults := store.Limits(req.Defaults)
	budgeted, err := s.poolBudgeted(r.Context(), pool)
	switch {
	case err != nil:
		s.writeError(w, r, err)
		return
	case !budgeted:
		pool = "" // the claims of a pool without a budget look none up
	case defaults.TimeoutSeconds == 0:
		defaults.TimeoutSeconds = int64(s.opts.BudgetJobTimeout / time.Second) // a worst case to hold
	}
	l, err := s.sched.Lease(r.Context(), scheduler.LeaseParams{
		WorkerID: id, Max: req.Max, Wait: wait, Fits: store.Limits(req.Fits), Defaults: defaults,
		OwnerCap: caps, Pricing: pricing, Slots: slots, Pool: pool,
	})
	if err != nil {
		s.writeError(w, r, fmt.Errorf("lease for worker %s: %w", id, err))
		return
	}
	// The claim is committed: the answer must reach the worker even when
	// a shutdown of this replica ends the request's context now, or the
	// attempts wait for the worker's next report to be taken back and
	// leased again.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), leaseAnswerTimeout)
	defer cancel()
	resp := leaseResponse{Jobs: []leaseJob{}, Stop: refsToAPI(l.Stop)}
	for _, j := range l.Jobs {
		lj, err := s.leasedJob(ctx, j)
		var soe *secretOpenError
		if errors.As(err, &soe) {
			s.endUnopened(ctx, j, soe)
			continue
		}
		if err != nil {
			s.writeError(w, r, fmt.Errorf("lease job %s: %w", j.ID, err))
			return
		}
		if len(known) > 0 && len(lj.Inputs) > 0 {
			sum := sha256.Sum256(lj.Inputs)
			if lj.InputsSHA256 = hex.EncodeToString(sum[:]); known[sum] {
				lj.Inputs = nil // the worker holds them
			}
		}
		resp.Jobs = append(resp.Jobs, lj)
		s.log.Info("job leased", "job", j.ID, "attempt", j.Attempt, "worker", id)
	}
	writeJSON(w, http.StatusOK, resp)
}

// knownInputs reads client.LeaseRequest.KnownInputs.
func knownInputs(hashes []string) (map[[32]byte]bool, error) {
	if len(hashes) > client.MaxKnownInputs {
		return nil, errorf(client.CodeInvalidRequest, fmt.Sprintf("list at most %d manifests", client.MaxKnownInputs),
			"known_inputs lists %d manifests", len(hashes)).with("field", "known_inputs")
	}
	known := make(map[[32]byte]bool, len(hashes))
	for _, h := range hashes {
		var sum [32]byte
		if n, err := hex.Decode(sum[:], []byte(h)); err != nil || n != len(sum) || !blob.ValidHash(h) {
			return nil, errorf(client.CodeInvalidRequest, "list each manifest by its SHA-256, in lowercase hex",
				"known_inputs: %q is not a sha256", h).with("field", "known_inputs")
		}
		known[sum] = true
	}
	return known, nil
}

// leaseResponse is client.LeaseResponse as the server writes it, with
// leaseJob for client.LeasedJob.
type leaseResponse struct {
	Jobs []leaseJob          `json:"jobs"`
	Stop []client.AttemptRef `json:"stop,omitempty"`
}

// leaseJob is client.LeasedJob, field for field and in the same order,
// with the inputs manifest as JSON already encoded: a job's stored
// manifest (the canonical encoding, as ParseManifest checked it) goes to
// the worker byte for byte, instead of being decoded and encoded again
// for every lease. The wire bytes are client.LeasedJob's (a test holds
// it).
type leaseJob struct {
	Job            client.Job      `json:"job"`
	Attempt        int             `json:"attempt"`
	Script         []byte          `json:"script"`
	RuntimeImage   string          `json:"runtime_image"`
	RuntimeCommand []string        `json:"runtime_command"`
	Inputs         json.RawMessage `json:"inputs,omitempty"`
	Stdin          *client.BlobRef `json:"stdin,omitempty"`
	InputsSHA256   string          `json:"inputs_sha256,omitempty"`
}

// drainedLease answers the lease of a worker marked draining (by the
// autoscaler, before it stops the machine, or by the worker itself): no
// jobs, after the wait asked for, so that the worker does not ask again
// at once; attempts to stop are still told.
func (s *Server) drainedLease(w http.ResponseWriter, r *http.Request, id string, wait time.Duration) {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
		s.shuttingDown(w, r)
		return
	}
	stop, err := s.store.AttemptsToStop(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, client.LeaseResponse{Jobs: []client.LeasedJob{}, Stop: refsToAPI(stop)})
}

func attemptRef(r *http.Request) (store.AttemptRef, error) {
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 1 {
		return store.AttemptRef{}, errorf(client.CodeInvalidRequest,
			"attempt numbers start at 1", "attempt %q is not valid", r.PathValue("n"))
	}
	return store.AttemptRef{JobID: r.PathValue("id"), Attempt: n}, nil
}

// staleOrMissing turns a store error on an attempt into the API's answer.
func (s *Server) staleOrMissing(r *http.Request, ref store.AttemptRef, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		_, err2 := s.loadJob(r, ref.JobID)
		if err2 != nil {
			return err2
		}
	}
	if errors.Is(err, store.ErrStaleAttempt) || errors.Is(err, store.ErrNotFound) {
		return errorf(client.CodeStaleAttempt,
			"stop this attempt: the job has moved on without it",
			"attempt %d of job %s is no longer current", ref.Attempt, ref.JobID).
			with("job_id", ref.JobID).with("attempt", ref.Attempt)
	}
	return err
}

func (s *Server) startAttempt(w http.ResponseWriter, r *http.Request) {
	ref, err := attemptRef(r)
	if err == nil {
		err = s.holdsAttempt(r, ref)
	}
	if err == nil {
		var j store.Job
		now := s.opts.Now().UTC()
		j, err = s.store.StartAttempt(r.Context(), ref, now)
		if err == nil {
			s.metrics.started(j, now)
			s.sched.JobChanged(ref.JobID)
			writeJSON(w, http.StatusOK, client.AttemptStatus{Stop: j.CancelRequested})
			return
		}
		err = s.staleOrMissing(r, ref, err)
	}
	s.writeError(w, r, err)
}

func (s *Server) uploadLogs(w http.ResponseWriter, r *http.Request) {
	ref, err := attemptRef(r)
	if err == nil {
		err = s.holdsAttempt(r, ref)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	req, err := decodeLogUpload(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	chunks := make([]store.LogChunk, 0, len(req.Chunks))
	for i, c := range req.Chunks {
		switch c.Stream {
		case client.Stdout, client.Stderr, client.System:
		default:
			s.writeError(w, r, errorf(client.CodeInvalidRequest,
				"streams are stdout, stderr and system", "chunk %d has unknown stream %q", i, c.Stream))
			return
		}
		if c.Attempt != 0 && c.Attempt != ref.Attempt {
			s.writeError(w, r, errorf(client.CodeInvalidRequest,
				"send each attempt's chunks to its own URL", "chunk %d is for attempt %d, not %d", i, c.Attempt, ref.Attempt))
			return
		}
		chunks = append(chunks, store.LogChunk{
			JobID: ref.JobID, Attempt: ref.Attempt, Stream: string(c.Stream), Seq: c.Seq, Time: c.Time.UTC(), Data: c.Data,
		})
	}
	if err := s.store.AppendLogs(r.Context(), ref, chunks); err != nil {
		s.writeError(w, r, s.staleOrMissing(r, ref, err))
		return
	}
	stored := 0
	for _, c := range chunks {
		stored += len(c.Data)
	}
	s.metrics.logBytes.Add(float64(stored))
	if req.Truncated {
		if err := s.store.MarkLogsTruncated(r.Context(), ref); err != nil {
			s.writeError(w, r, s.staleOrMissing(r, ref, err))
			return
		}
	}
	s.sched.JobChanged(ref.JobID)
	j, err := s.store.GetJob(r.Context(), ref.JobID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, client.AttemptStatus{Stop: j.CancelRequested})
}

func (s *Server) reportResult(w http.ResponseWriter, r *http.Request) {
	ref, err := attemptRef(r)
	if err == nil {
		err = s.holdsAttempt(r, ref)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req client.ResultReport
	if err := decodeJSON(w, r, 1<<20, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if !req.State.Terminal() {
		s.writeError(w, r, errorf(client.CodeInvalidRequest,
			"report one of the terminal states", "state %q is not a terminal state", req.State))
		return
	}
	failure, err := encodeFailure(req.Failure)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	outputs, err := s.outputs(r.Context(), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	times, bad := startTimesOf(ref, req.StartTimes)
	if bad != nil {
		s.writeError(w, r, bad)
		return
	}
	p := store.FinishParams{
		JobID: ref.JobID, Attempt: ref.Attempt, State: store.State(req.State), ExitCode: req.ExitCode,
		Reason: req.Reason, Message: req.Message, Failure: failure, Started: req.Started, Outputs: outputs,
		Now: s.opts.Now().UTC(),
	}
	if times != nil {
		s.recordStartTimes(r.Context(), []store.StartTimes{*times})
	}
	j, err := s.store.FinishAttempt(r.Context(), p)
	if err != nil {
		s.writeError(w, r, s.staleOrMissing(r, ref, err))
		return
	}
	s.resultRecorded(j, p, false)
	s.log.Info("job finished", "job", j.ID, "attempt", ref.Attempt, "state", j.State, "reason", j.Reason)
	writeJSON(w, http.StatusOK, jobToAPI(j, nil))
}

func (s *Server) release(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var req client.ReleaseRequest
	if err := decodeJSON(w, r, 1<<20, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	// A process whose id another one holds now must not hand back that
	// one's jobs. An unknown worker has nothing to release.
	err := s.checkWorker(r, id)
	if apiErr := (*apiError)(nil); errors.As(err, &apiErr) && apiErr.code == client.CodeNotFound {
		err = nil
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	instance, err := workerInstance(r)
	if err == nil {
		err = s.store.Heartbeat(r.Context(), id, instance, s.opts.Now().UTC())
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.writeError(w, r, s.workerInUse(r, err))
		return
	}
	msg := req.Message
	if msg == "" {
		msg = fmt.Sprintf("worker %s stopped before the job ended", id)
	}
	jobs, err := s.sched.Release(r.Context(), id, msg)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("release the attempts of worker %s: %w", id, err))
		return
	}
	s.log.Info("worker handed its jobs back", "worker", id, "jobs", len(jobs))
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) attemptLog(w http.ResponseWriter, r *http.Request) {
	ref, err := attemptRef(r)
	if err == nil {
		err = s.holdsAttempt(r, ref)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if _, err := s.loadJob(r, ref.JobID); err != nil {
		s.writeError(w, r, err)
		return
	}
	offs, err := s.store.LogOffsets(r.Context(), ref)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := client.AttemptLog{Streams: map[client.Stream]client.LogOffset{}}
	for st, o := range offs {
		out.Streams[client.Stream(st)] = client.LogOffset{Bytes: o.Bytes, LastSeq: o.LastSeq}
	}
	writeJSON(w, http.StatusOK, out)
}

// maxReports is the most reports one POST /v1/workers/{id}/reports takes.
const maxReports = 1000

// reports takes a worker's start and result reports on several attempts
// at once: one request, one statement for the common cases, and one
// outcome per report, each what the single-attempt endpoint would have
// answered.
func (s *Server) reports(w http.ResponseWriter, r *http.Request) {
	var req client.ReportsRequest
	if err := decodeJSON(w, r, 16<<20, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if n := len(req.Starts) + len(req.Results); n > maxReports {
		s.writeError(w, r, errorf(client.CodeInvalidRequest, fmt.Sprintf("send at most %d reports per request", maxReports),
			"%d reports in one request", n))
		return
	}
	workerID := r.PathValue("id")
	if err := s.checkWorker(r, workerID); err != nil {
		s.writeError(w, r, err)
		return
	}
	now := s.opts.Now().UTC()
	resp := client.ReportsResponse{
		Starts:  make([]client.ReportOutcome, len(req.Starts)),
		Results: make([]client.ReportOutcome, len(req.Results)),
	}
	// Reports on attempts another worker holds are answered so, one by
	// one, and reach no store call.
	all := make([]store.AttemptRef, 0, len(req.Starts)+len(req.Results))
	for _, ref := range req.Starts {
		all = append(all, store.AttemptRef{JobID: ref.JobID, Attempt: ref.Attempt})
	}
	for _, res := range req.Results {
		all = append(all, store.AttemptRef{JobID: res.JobID, Attempt: res.Attempt})
	}
	refused, err := s.holders(r, workerID, all)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	startedHere := map[store.AttemptRef]bool{} // starts this request recorded, at now
	if len(req.Starts) > 0 {
		refs := make([]store.AttemptRef, 0, len(req.Starts))
		at := make([]int, 0, len(req.Starts))
		for i, ref := range req.Starts {
			if refused[i] != nil {
				resp.Starts[i].Error = refused[i].toClient()
				continue
			}
			refs, at = append(refs, store.AttemptRef{JobID: ref.JobID, Attempt: ref.Attempt}), append(at, i)
		}
		jobs, errs, err := s.store.StartAttempts(r.Context(), refs, now)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		for k, ref := range refs {
			i := at[k]
			if resp.Starts[i].Error = reportError(ref, errs[k]); errs[k] == nil {
				s.metrics.started(jobs[k], now)
				startedHere[ref] = true
				resp.Starts[i].Stop = jobs[k].CancelRequested
				s.sched.JobChanged(ref.JobID)
			} else if resp.Starts[i].Error == nil {
				s.writeError(w, r, errs[k])
				return
			}
		}
	}
	if len(req.Results) > 0 {
		// Results whose outputs are refused are answered so, one by one;
		// the others are recorded together. at[k] is ps[k]'s result.
		ps := make([]store.FinishParams, 0, len(req.Results))
		at := make([]int, 0, len(req.Results))
		times := make([]*store.StartTimes, 0, len(req.Results)) // ps[k]'s
		for i, res := range req.Results {
			if e := refused[len(req.Starts)+i]; e != nil {
				resp.Results[i].Error = e.toClient()
				continue
			}
			if !res.State.Terminal() {
				s.writeError(w, r, errorf(client.CodeInvalidRequest, "report one of the terminal states",
					"result %d: state %q is not a terminal state", i, res.State).with("index", i))
				return
			}
			failure, err := encodeFailure(res.Failure)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			st, bad := startTimesOf(store.AttemptRef{JobID: res.JobID, Attempt: res.Attempt}, res.StartTimes)
			if bad != nil {
				s.writeError(w, r, bad.with("index", i))
				return
			}
			outputs, err := s.outputs(r.Context(), res.ResultReport)
			var ae *apiError
			if errors.As(err, &ae) {
				resp.Results[i].Error = ae.toClient()
				continue
			}
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			ps = append(ps, store.FinishParams{JobID: res.JobID, Attempt: res.Attempt, State: store.State(res.State),
				ExitCode: res.ExitCode, Reason: res.Reason, Message: res.Message, Failure: failure,
				Started: res.Started, Outputs: outputs, Now: now})
			at, times = append(at, i), append(times, st)
		}
		var recorded []store.StartTimes
		for _, t := range times {
			if t != nil {
				recorded = append(recorded, *t)
			}
		}
		s.recordStartTimes(r.Context(), recorded)
		jobs, errs, err := s.store.FinishAttempts(r.Context(), ps)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		for k, p := range ps {
			i := at[k]
			ref := store.AttemptRef{JobID: p.JobID, Attempt: p.Attempt}
			if resp.Results[i].Error = reportError(ref, errs[k]); errs[k] == nil {
				s.resultRecorded(jobs[k], p, startedHere[ref])
				s.log.Info("job finished", "job", ref.JobID, "attempt", ref.Attempt, "state", jobs[k].State, "reason", jobs[k].Reason)
			} else if resp.Results[i].Error == nil {
				s.writeError(w, r, errs[k])
				return
			}
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

// resultRecorded counts result p in the metrics (startedHere: the same
// request recorded the attempt's start), and wakes the job's followers
// and, when the result queued the job again (a retry, or an attempt its
// worker lost) or freed a place in its batch, the waiting leases.
func (s *Server) resultRecorded(j store.Job, p store.FinishParams, startedHere bool) {
	s.metrics.resultRecorded(j, p, startedHere)
	s.sched.JobChanged(j.ID)
	if j.State == store.StateQueued || j.BatchID != "" || s.runningCapped(j.Owner) {
		s.sched.JobQueued()
	}
}

// reportError is the answer to one refused report, or nil for none and
// for an error that is not about the attempt (which fails the request).
func reportError(ref store.AttemptRef, err error) *client.Error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return &client.Error{Status: http.StatusNotFound, Code: client.CodeNotFound,
			Message: fmt.Sprintf("job %s not found", ref.JobID)}
	case errors.Is(err, store.ErrStaleAttempt):
		return &client.Error{Status: http.StatusConflict, Code: client.CodeStaleAttempt,
			Message: fmt.Sprintf("attempt %d of job %s is no longer current", ref.Attempt, ref.JobID),
			Hint:    "stop this attempt: the job has moved on without it"}
	}
	return nil
}

// encodeFailure is how a failure summary is stored: JSON, or "".
func encodeFailure(f *client.Failure) (string, error) {
	if f == nil || f.Exception == "" {
		return "", nil
	}
	b, err := json.Marshal(f)
	return string(b), err
}
