package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"github.com/rgrid/rgrid/internal/bytesize"
	"net/http"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/deps"
	"github.com/rgrid/rgrid/internal/runtimes"
	"github.com/rgrid/rgrid/internal/store"
)

func (s *Server) submitJob(w http.ResponseWriter, r *http.Request) {
	// The script travels base64-encoded (4/3 of its size) inside JSON; allow
	// for that and for arguments and environment, then check the decoded
	// size exactly. Either way nothing is stored for an oversized script.
	bodyLimit := s.opts.MaxScriptBytes*4/3 + 1<<20
	var req client.SubmitRequest
	if err := decodeJSON(w, r, bodyLimit, &req); err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.code == client.CodeTooLarge {
			err = s.scriptTooLarge(-1)
		}
		s.writeError(w, r, err)
		return
	}
	key := r.Header.Get(client.IdempotencyHeader)
	if len(key) > maxKeyLen {
		s.writeError(w, r, errorf(client.CodeInvalidRequest, fmt.Sprintf("use a key of at most %d bytes (a UUID, say)", maxKeyLen),
			"the %s header is %d bytes long", client.IdempotencyHeader, len(key)))
		return
	}
	nj, err := s.newJob(r.Context(), req, s.opts.Now().UTC(), nil)
	if err == nil {
		err = s.checkQueued(r, 1)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	nj.Owner = caller(r).owner()
	if key != "" {
		nj.IdempotencyKey = scopedKey(nj.Owner, key)
	}
	release, err := s.holdBudget(w, r, []*store.NewJob{&nj})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	j, err := s.store.CreateJob(r.Context(), nj)
	if err != nil || j.ID != nj.ID {
		release(nj.ID) // not made, or the key's job made before
	}
	if err != nil {
		s.writeError(w, r, fmt.Errorf("create job: %w", err))
		return
	}
	status := http.StatusOK // the job of the key, made before
	if j.ID == nj.ID {
		status = http.StatusCreated
		s.metrics.jobsSubmitted(j.Runtime, 1)
		s.sched.JobQueued()
	}
	w.Header().Set("Location", "/v1/jobs/"+j.ID)
	writeJSON(w, status, jobToAPI(j, nil))
}

// maxBatch is the most jobs one POST /v1/jobs/batch may submit.
const maxBatch = 1000

// submitJobs queues a batch of jobs in one transaction: every job is
// checked first, and one that is refused refuses the batch (the error's
// details name its index), so a batch is stored whole or not at all.
func (s *Server) submitJobs(w http.ResponseWriter, r *http.Request) {
	var req client.BatchSubmitRequest
	if err := decodeJSON(w, r, 64<<20, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(req.Jobs) == 0 || len(req.Jobs) > maxBatch {
		s.writeError(w, r, errorf(client.CodeInvalidRequest, fmt.Sprintf("send 1 to %d jobs per batch; split larger ones", maxBatch),
			"a batch of %d jobs", len(req.Jobs)))
		return
	}
	now := s.opts.Now().UTC()
	var workers []store.Worker // read once for the whole batch
	njs := make([]store.NewJob, len(req.Jobs))
	for i, jr := range req.Jobs {
		nj, err := s.newJob(r.Context(), jr, now, &workers)
		if err != nil {
			var ae *apiError
			if errors.As(err, &ae) {
				ae.message = fmt.Sprintf("job %d of the batch: %s", i, ae.message)
				err = ae.with("index", i)
			}
			s.writeError(w, r, err)
			return
		}
		nj.Owner = caller(r).owner()
		njs[i] = nj
	}
	if err := s.checkQueued(r, len(njs)); err != nil {
		s.writeError(w, r, err)
		return
	}
	ptrs := make([]*store.NewJob, len(njs))
	ids := make([]string, len(njs))
	for i := range njs {
		ptrs[i], ids[i] = &njs[i], njs[i].ID
	}
	release, err := s.holdBudget(w, r, ptrs)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	jobs, err := s.store.CreateJobs(r.Context(), njs)
	if err != nil {
		release(ids...)
		s.writeError(w, r, fmt.Errorf("create jobs: %w", err))
		return
	}
	s.sched.JobQueued()
	out := client.BatchSubmitResponse{Jobs: make([]client.Job, len(jobs))}
	for i, j := range jobs {
		out.Jobs[i] = jobToAPI(j, nil)
		s.metrics.jobsSubmitted(j.Runtime, 1)
	}
	writeJSON(w, http.StatusCreated, out)
}

// newJob checks a submission and makes the job to store. workers, when
// not nil, caches the worker list across the jobs of a batch.
func (s *Server) newJob(ctx context.Context, req client.SubmitRequest, now time.Time, workers *[]store.Worker) (store.NewJob, error) {
	if int64(len(req.Script)) > s.opts.MaxScriptBytes {
		return store.NewJob{}, s.scriptTooLarge(int64(len(req.Script)))
	}
	rt, err := s.validateSubmit(&req)
	if err == nil {
		err = checkSecretEnv(req)
	}
	if err != nil {
		return store.NewJob{}, err
	}
	if err := s.checkWorkerMaxima(ctx, req.Limits, workers); err != nil {
		return store.NewJob{}, err
	}
	reqs, err := requirements(req)
	if err != nil {
		return store.NewJob{}, err
	}
	files, err := s.jobFiles(ctx, req)
	if err != nil {
		return store.NewJob{}, err
	}
	id := newJobID(now)
	sealed, err := s.sealSecretEnv(id, req.SecretEnv)
	if err != nil {
		return store.NewJob{}, err
	}
	inputs := files.inputs
	if files.stored {
		inputs = nil // stored once already, under its hash
	}
	return store.NewJob{
		SecretEnv:    sealed,
		Inputs:       inputs,
		InputsSHA256: files.inputsSHA256,
		InputsBlobs:  files.inputsBlobs,
		Stdin:        files.stdin,
		Blobs:        files.blobs,
		ID:           id,
		Script:       req.Script,
		FileName:     req.FileName,
		Args:         req.Args,
		Runtime:      rt.Name,
		Env:          req.Env,
		Limits:       store.Limits(req.Limits),
		Network:      req.Network,
		Retries:      req.Retries,
		Requirements: reqs.Lines(),
		LogLimit:     cmp.Or(req.LogLimit, s.opts.LogLimit),
		MaxAttempts:  s.opts.MaxAttempts,
		CreatedAt:    now,
	}, nil
}

func (s *Server) scriptTooLarge(size int64) *apiError {
	msg := fmt.Sprintf("script is larger than the limit of %s", bytesize.Format(s.opts.MaxScriptBytes))
	if size >= 0 {
		msg = fmt.Sprintf("script is %s, over the limit of %s", bytesize.Format(size), bytesize.Format(s.opts.MaxScriptBytes))
	}
	return errorf(client.CodeTooLarge,
		"send large data as input files rather than inside the script, or raise the server's --max-script-size",
		"%s", msg).with("limit_bytes", s.opts.MaxScriptBytes)
}

// minDiskBytes is the smallest disk limit an executor makes (the
// diskquota package's MinBytes).
const minDiskBytes = 16 << 20

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (s *Server) validateSubmit(req *client.SubmitRequest) (runtimes.Runtime, error) {
	bad := func(hint, format string, args ...any) error {
		return errorf(client.CodeInvalidRequest, hint, format, args...)
	}
	if req.FileName == "" {
		return runtimes.Runtime{}, bad(`set "file_name" to the script's base name, e.g. "train.py"`, "file_name is required")
	}
	// With a working directory the script is one of its files, at a path
	// the manifest's own checks hold; alone, it is a plain name.
	if req.Inputs == nil && req.InputsSHA256 == "" && (req.FileName != path.Base(req.FileName) || strings.ContainsAny(req.FileName, `/\`+"\x00") ||
		req.FileName == "." || req.FileName == ".." || !utf8.ValidString(req.FileName)) {
		return runtimes.Runtime{}, bad(`use the base name only, e.g. "train.py"`, "file_name %q is not a plain file name", req.FileName)
	}
	for i, a := range req.Args {
		if strings.ContainsRune(a, 0) {
			return runtimes.Runtime{}, bad("remove the NUL byte", "argument %d contains a NUL byte", i+1)
		}
	}
	for k, v := range req.Env {
		if !envName.MatchString(k) {
			return runtimes.Runtime{}, bad("names are letters, digits and _, not starting with a digit",
				"environment variable name %q is not valid", k)
		}
		if strings.HasPrefix(k, "RGRID_") {
			return runtimes.Runtime{}, bad("choose another name; RGRID_* is reserved", "environment variable %s is reserved", k)
		}
		if strings.ContainsRune(v, 0) {
			return runtimes.Runtime{}, bad("remove the NUL byte", "environment variable %s contains a NUL byte", k)
		}
	}
	l := req.Limits
	if l.MemoryBytes < 0 || l.CPUs < 0 || l.Pids < 0 || l.TimeoutSeconds < 0 || l.DiskBytes < 0 {
		return runtimes.Runtime{}, bad("limits are positive numbers, or omitted for the worker's defaults", "limits must not be negative")
	}
	if l.DiskBytes > 0 && l.DiskBytes < minDiskBytes {
		return runtimes.Runtime{}, bad("ask for at least 16m, or omit it for the worker's default (2g)",
			"disk limit %s is under the smallest a worker makes, 16 MiB", bytesize.Format(l.DiskBytes))
	}
	if req.LogLimit < 0 {
		return runtimes.Runtime{}, bad("pass a positive size such as 64m, or omit it for the server's default", "log_limit must not be negative")
	}
	if req.LogLimit > s.opts.MaxLogLimit {
		return runtimes.Runtime{}, errorf(client.CodeLimitExceeded,
			"write large output to files instead, or ask for at most "+bytesize.Format(s.opts.MaxLogLimit),
			"log limit %s is over the server's maximum of %s", bytesize.Format(req.LogLimit), bytesize.Format(s.opts.MaxLogLimit)).
			with("limit", "log_limit").with("maximum", s.opts.MaxLogLimit)
	}
	if req.Retries < 0 || req.Retries > 100 {
		return runtimes.Runtime{}, bad("use --retries 0 to 100", "retries %d is out of range", req.Retries)
	}
	rt, err := s.runtimes.ForFile(req.Runtime, req.FileName)
	if err != nil {
		var ue *runtimes.UnknownError
		if errors.As(err, &ue) {
			return runtimes.Runtime{}, errorf(client.CodeUnknownRuntime,
				"available runtimes: "+strings.Join(ue.Available, ", ")+" (rgrid runtimes lists them)",
				"unknown runtime %q", ue.Name).with("available", ue.Available)
		}
		return runtimes.Runtime{}, err
	}
	return rt, nil
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) {
	j, err := s.loadJob(r, r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	atts, err := s.store.ListAttempts(r.Context(), j.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := withCost(jobToAPI(j, atts), atts, s.opts.Now())
	times, err := s.store.StartTimes(r.Context(), j.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out = withStartTimes(out, times)
	f, err := s.jobFilesOf(r.Context(), j.ID)
	if err == nil {
		out.Files, err = s.filesSummary(f)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// loadJob gets a job or a not-found error that names the id. A user's
// caller gets not found for another user's job, as for an unknown one;
// a worker's calls are checked against the attempts it holds instead.
func (s *Server) loadJob(r *http.Request, id string) (store.Job, error) {
	j, err := s.store.GetJob(r.Context(), id)
	if p := caller(r); err == nil && p.kind == asUser && !p.sees(j.Owner) {
		err = store.ErrNotFound
	}
	if errors.Is(err, store.ErrNotFound) {
		return j, errorf(client.CodeNotFound,
			"check the id with \"rgrid list\"", "job %s not found", id).with("job_id", id)
	}
	return j, err
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := store.ListJobsParams{Limit: 50, Runtime: q.Get("runtime"), BatchID: q.Get("batch")}
	for _, v := range q["state"] {
		for _, st := range strings.Split(v, ",") {
			if !client.JobState(st).Valid() {
				s.writeError(w, r, errorf(client.CodeInvalidRequest,
					"states are: "+joinStates(), "unknown state %q", st))
				return
			}
			p.States = append(p.States, store.State(st))
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			s.writeError(w, r, errorf(client.CodeInvalidRequest,
				"use a number from 1 to 1000", "limit %q is not valid", v))
			return
		}
		p.Limit = n
	}
	if v := q.Get("cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			s.writeError(w, r, errorf(client.CodeInvalidRequest,
				"pass the \"next\" value of the previous page", "cursor %q is not valid", v))
			return
		}
		p.BeforeSeq = n
	}
	var err error
	if p.Owner, p.OwnerSet, err = s.listOwner(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	jobs, err := s.store.ListJobs(r.Context(), p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := client.JobList{Jobs: make([]client.Job, 0, len(jobs))}
	for _, j := range jobs {
		out.Jobs = append(out.Jobs, jobToAPI(j, nil))
	}
	if len(jobs) == p.Limit {
		out.Next = strconv.FormatInt(jobs[len(jobs)-1].Seq, 10)
	}
	writeJSON(w, http.StatusOK, out)
}

func joinStates() string {
	names := make([]string, len(client.AllStates))
	for i, s := range client.AllStates {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

func (s *Server) cancelJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	before, err := s.loadJob(r, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	j, err := s.store.RequestCancel(r.Context(), id, s.opts.Now().UTC())
	if err == nil && caller(r).owner() != before.Owner {
		s.audit(r, "job.cancel", id, "a job of another user (owner "+ownerText(before.Owner)+")")
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		_, err = s.loadJob(r, id)
	case errors.Is(err, store.ErrJobFinished):
		err = errorf(client.CodeJobFinished, "there is nothing left to cancel",
			"job %s already ended: %s", id, j.State).with("state", j.State)
	case err == nil && j.State.Terminal():
		s.metrics.jobEnded(j) // it was queued: canceled at once
	case err == nil && j.WorkerID != "":
		s.sched.StopRequested(j.WorkerID)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.sched.JobChanged(j.ID)
	writeJSON(w, http.StatusOK, jobToAPI(j, nil))
}

// logParams reads the query shared by the log endpoints: stream (a
// comma-separated list, repeatable), after (the id of the last chunk
// seen; Last-Event-ID too) and limit.
func logParams(r *http.Request) (store.ReadLogsParams, error) {
	q := r.URL.Query()
	p := store.ReadLogsParams{JobID: r.PathValue("id"), Limit: 1000}
	for _, v := range q["stream"] {
		for _, st := range strings.Split(v, ",") {
			switch client.Stream(st) {
			case client.Stdout, client.Stderr, client.System:
				p.Streams = append(p.Streams, st)
			default:
				return p, errorf(client.CodeInvalidRequest,
					"streams are stdout, stderr and system", "unknown stream %q", st)
			}
		}
	}
	var err error
	after := q.Get("after")
	if after == "" {
		after = r.Header.Get("Last-Event-ID") // an EventSource reconnecting
	}
	if after != "" {
		if p.AfterID, err = strconv.ParseInt(after, 10, 64); err != nil || p.AfterID < 0 {
			return p, errorf(client.CodeInvalidRequest,
				"pass the id of the last chunk received (the \"next\" value of the previous page), or 0", "after %q is not valid", after)
		}
	}
	if v := q.Get("limit"); v != "" {
		if p.Limit, err = strconv.Atoi(v); err != nil || p.Limit < 1 || p.Limit > 10000 {
			return p, errorf(client.CodeInvalidRequest,
				"use a number from 1 to 10000", "limit %q is not valid", v)
		}
	}
	return p, nil
}

func (s *Server) readLogs(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	q := r.URL.Query()
	p, err := logParams(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var wait time.Duration
	if v := q.Get("wait"); v != "" {
		secs, err := strconv.ParseFloat(v, 64)
		if err != nil || secs < 0 {
			s.writeError(w, r, errorf(client.CodeInvalidRequest,
				"wait is a number of seconds", "wait %q is not valid", v))
			return
		}
		wait = min(time.Duration(secs*float64(time.Second)), s.opts.MaxLeaseWait)
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		changed := s.sched.WaitJob(id)
		// The state is read before the chunks: a worker stores all of an
		// attempt's output before its result, so a terminal state seen here
		// means the chunk read below sees the whole log.
		j, err := s.loadJob(r, id)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		chunks, err := s.store.ReadLogs(r.Context(), p)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if len(chunks) > 0 || j.State.Terminal() || wait == 0 {
			page := client.LogPage{Chunks: make([]client.LogChunk, 0, len(chunks)), Next: p.AfterID, State: client.JobState(j.State)}
			for _, c := range chunks {
				page.Chunks = append(page.Chunks, chunkToAPI(c))
				page.Next = c.ID
			}
			writeJSON(w, http.StatusOK, page)
			return
		}
		poll := time.NewTimer(time.Second) // another replica may have written
		select {
		case <-r.Context().Done():
			poll.Stop()
			s.shuttingDown(w, r)
			return
		case <-deadline.C:
			wait = 0
		case <-changed:
		case <-poll.C:
		}
		poll.Stop()
	}
}

// checkWorkerMaxima refuses a job that no registered, live worker would
// take. With no workers registered yet, the job waits in the queue.
func (s *Server) checkWorkerMaxima(ctx context.Context, l client.Limits, cache *[]store.Worker) error {
	if l == (client.Limits{}) {
		return nil // the worker's defaults, which fit its maxima
	}
	var workers []store.Worker
	if cache != nil && *cache != nil {
		workers = *cache
	} else {
		var err error
		if workers, err = s.store.ListWorkers(ctx); err != nil {
			return err
		}
		if workers == nil {
			workers = []store.Worker{}
		}
		if cache != nil {
			*cache = workers
		}
	}
	var live []store.Worker
	for _, w := range workers {
		if w.State != "dead" {
			live = append(live, w)
		}
	}
	if len(live) == 0 {
		return nil
	}
	type check struct {
		name, flag string
		want       float64
		max        func(store.Limits) float64
		format     func(float64) string
	}
	checks := []check{
		{"memory", "memory", float64(l.MemoryBytes), func(m store.Limits) float64 { return float64(m.MemoryBytes) },
			func(v float64) string { return bytesize.Format(int64(v)) }},
		{"CPUs", "cpus", l.CPUs, func(m store.Limits) float64 { return m.CPUs },
			func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }},
		{"processes", "pids", float64(l.Pids), func(m store.Limits) float64 { return float64(m.Pids) },
			func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }},
		{"time limit", "timeout", float64(l.TimeoutSeconds), func(m store.Limits) float64 { return float64(m.TimeoutSeconds) },
			func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) + " s" }},
		{"disk", "disk", float64(l.DiskBytes), func(m store.Limits) float64 { return float64(m.DiskBytes) },
			func(v float64) string { return bytesize.Format(int64(v)) }},
	}
	for _, w := range live {
		fits := true
		for _, c := range checks {
			if m := c.max(w.Max); c.want > 0 && m > 0 && c.want > m {
				fits = false
			}
		}
		if fits {
			return nil
		}
	}
	// Name the first limit no worker meets, with the largest maximum.
	for _, c := range checks {
		largest, unbounded := 0.0, false
		for _, w := range live {
			m := c.max(w.Max)
			unbounded = unbounded || m == 0
			largest = max(largest, m)
		}
		if c.want > 0 && !unbounded && c.want > largest {
			return errorf(client.CodeLimitExceeded,
				fmt.Sprintf("ask for at most %s with --%s, or start a worker with a higher --max-%s", c.format(largest), c.flag, c.flag),
				"the job asks for %s of %s, more than any worker accepts (the largest maximum is %s)",
				c.format(c.want), c.name, c.format(largest)).with("limit", c.flag).with("maximum", largest)
		}
	}
	return errorf(client.CodeLimitExceeded,
		"ask for less, or start a worker with higher --max-* settings (rgrid workers shows them)",
		"no single worker accepts all of the job's limits together")
}

// requirements validates the job's requirements.txt and the script's
// inline metadata, and merges them. Every problem of both is reported at
// once, each with its line.
func requirements(req client.SubmitRequest) (deps.Set, error) {
	if req.NoDeps {
		return deps.Set{}, nil
	}
	var problems []deps.Problem
	collect := func(err error) error {
		var ie *deps.InvalidError
		if errors.As(err, &ie) {
			problems = append(problems, ie.Problems...)
			return nil
		}
		return err
	}
	inline, _, _, err := deps.ParseInlineMetadata(req.FileName, req.Script)
	if err := collect(err); err != nil {
		return deps.Set{}, err
	}
	var file deps.Set
	if req.Requirements != "" {
		name := req.RequirementsName
		if name == "" {
			name = "requirements.txt"
		}
		file, err = deps.ParseRequirements(name, []byte(req.Requirements))
		if err := collect(err); err != nil {
			return deps.Set{}, err
		}
	}
	if len(problems) > 0 {
		ie := &deps.InvalidError{Problems: problems}
		details := make([]map[string]any, 0, len(problems))
		for _, p := range problems {
			details = append(details, map[string]any{"source": p.Source, "line": p.Line, "text": p.Text, "message": p.Message})
		}
		return deps.Set{}, errorf(client.CodeInvalidReqs, ie.Hint(), "%s", ie.Error()).with("problems", details)
	}
	return deps.Merge(inline, file), nil
}
