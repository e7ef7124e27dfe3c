package server_test

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/database"
	"github.com/rgrid/rgrid/internal/runtimes"
	"github.com/rgrid/rgrid/internal/server"
)

type bundle struct {
	c   *client.Client
	url string
}

func setup(t *testing.T, opts server.Options) bundle {
	t.Helper()
	st, err := database.Open(t.Context(), filepath.Join(t.TempDir(), "rgrid.db"), database.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rt, _ := runtimes.New(nil)
	ts := httptest.NewServer(server.New(st, rt, slog.New(slog.DiscardHandler), opts).Handler())
	t.Cleanup(ts.Close)
	c, err := client.New(ts.URL, opts.Token)
	if err != nil {
		t.Fatal(err)
	}
	return bundle{c: c, url: ts.URL}
}

func apiCode(err error) (int, string) {
	var e *client.Error
	if errors.As(err, &e) {
		return e.Status, e.Code
	}
	return 0, ""
}

func (b bundle) leaseOne(t *testing.T, worker string) client.LeasedJob {
	t.Helper()
	if _, err := b.c.Register(t.Context(), client.RegisterRequest{ID: worker, Slots: 2, Executor: "process"}); err != nil {
		t.Fatal(err)
	}
	l, err := b.c.Lease(t.Context(), worker, client.LeaseRequest{Max: 1, WaitSeconds: 5})
	if err != nil || len(l.Jobs) != 1 {
		t.Fatalf("lease: %v, %d jobs", err, len(l.Jobs))
	}
	return l.Jobs[0]
}

func TestWorkerProtocolAndFencing(t *testing.T) {
	t.Parallel()
	b := setup(t, server.Options{})
	j, err := b.c.Submit(t.Context(), client.SubmitRequest{FileName: "x.py", Script: []byte("print(1)")})
	if err != nil {
		t.Fatal(err)
	}
	if j.State != client.StateQueued || j.Runtime != "python3.11" || j.ScriptSize != 8 {
		t.Fatalf("submitted job = %+v", j)
	}
	lj := b.leaseOne(t, "w1")
	if lj.Job.ID != j.ID || lj.Attempt != 1 || string(lj.Script) != "print(1)" ||
		lj.RuntimeImage != "python:3.11-slim" || lj.RuntimeCommand[0] != "python3.11" {
		t.Fatalf("leased = %+v", lj)
	}
	ref := client.AttemptRef{JobID: j.ID, Attempt: 1}
	if _, err := b.c.StartAttempt(t.Context(), ref); err != nil {
		t.Fatal(err)
	}
	chunks := []client.LogChunk{
		{Stream: client.Stdout, Seq: 1, Time: time.Now(), Data: []byte("a\n")},
		{Stream: client.Stderr, Seq: 1, Time: time.Now(), Data: []byte("b\n")},
	}
	for range 2 { // a retried upload is stored once
		if _, err := b.c.UploadLogs(t.Context(), ref, client.LogUpload{Chunks: chunks}); err != nil {
			t.Fatal(err)
		}
	}
	page, err := b.c.Logs(t.Context(), j.ID, client.LogOptions{})
	if err != nil || len(page.Chunks) != 2 || page.State != client.StateRunning {
		t.Fatalf("logs: %v %+v", err, page)
	}
	out, err := b.c.Logs(t.Context(), j.ID, client.LogOptions{Streams: []client.Stream{client.Stderr}})
	if err != nil || len(out.Chunks) != 1 || string(out.Chunks[0].Data) != "b\n" {
		t.Fatalf("stderr only: %v %+v", err, out)
	}

	// A report for an attempt that is not the job's is refused with 409.
	stale := client.AttemptRef{JobID: j.ID, Attempt: 2}
	if _, err := b.c.UploadLogs(t.Context(), stale, client.LogUpload{Chunks: chunks}); !client.IsCode(err, client.CodeStaleAttempt) {
		t.Errorf("stale upload: %v", err)
	}
	code := 0
	if _, err := b.c.ReportResult(t.Context(), ref, client.ResultReport{State: client.StateSucceeded, ExitCode: &code}); err != nil {
		t.Fatal(err)
	}
	// Exactly one result: the same report again is refused.
	_, err = b.c.ReportResult(t.Context(), ref, client.ResultReport{State: client.StateFailed, ExitCode: &code})
	if status, c := apiCode(err); status != http.StatusConflict || c != client.CodeStaleAttempt {
		t.Errorf("second result: %v", err)
	}
	got, err := b.c.Job(t.Context(), j.ID)
	if err != nil || got.State != client.StateSucceeded || len(got.Attempts) != 1 || got.Attempts[0].WorkerID != "w1" {
		t.Fatalf("job after result: %v %+v", err, got)
	}
}

func TestLogFollowWakesOnUpload(t *testing.T) {
	t.Parallel()
	b := setup(t, server.Options{})
	j, _ := b.c.Submit(t.Context(), client.SubmitRequest{FileName: "x.sh", Script: []byte("echo")})
	b.leaseOne(t, "w1")
	ref := client.AttemptRef{JobID: j.ID, Attempt: 1}
	got := make(chan client.LogPage, 1)
	go func() {
		p, _ := b.c.Logs(t.Context(), j.ID, client.LogOptions{Wait: 20 * time.Second})
		got <- p
	}()
	if _, err := b.c.UploadLogs(t.Context(), ref, client.LogUpload{Chunks: []client.LogChunk{{Stream: client.Stdout, Seq: 1, Data: []byte("hi")}}}); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		if len(p.Chunks) != 1 || string(p.Chunks[0].Data) != "hi" || p.Next != p.Chunks[0].ID {
			t.Errorf("page = %+v", p)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("a waiting follower was not woken by the upload")
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	b := setup(t, server.Options{})
	queued, _ := b.c.Submit(t.Context(), client.SubmitRequest{FileName: "q.sh", Script: []byte("echo")})
	j, err := b.c.Cancel(t.Context(), queued.ID)
	if err != nil || j.State != client.StateCanceled {
		t.Fatalf("cancel queued: %v %+v", err, j)
	}
	if _, err := b.c.Cancel(t.Context(), queued.ID); !client.IsCode(err, client.CodeJobFinished) {
		t.Errorf("cancel finished: %v", err)
	}
	if _, err := b.c.Cancel(t.Context(), "job_nope"); !client.IsCode(err, client.CodeNotFound) {
		t.Errorf("cancel unknown: %v", err)
	}

	running, _ := b.c.Submit(t.Context(), client.SubmitRequest{FileName: "r.sh", Script: []byte("sleep 9")})
	b.leaseOne(t, "w1")
	stopped := make(chan client.LeaseResponse, 1)
	go func() { // the worker's stop poll
		l, _ := b.c.Lease(t.Context(), "w1", client.LeaseRequest{Max: 0, WaitSeconds: 20})
		stopped <- l
	}()
	j, err = b.c.Cancel(t.Context(), running.ID)
	if err != nil || !j.CancelRequested || j.State.Terminal() {
		t.Fatalf("cancel leased: %v %+v", err, j)
	}
	select {
	case l := <-stopped:
		if len(l.Stop) != 1 || l.Stop[0].JobID != running.ID {
			t.Errorf("stop poll = %+v", l)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the worker's stop poll was not woken by the cancel")
	}
}

func TestSubmitValidation(t *testing.T) {
	t.Parallel()
	b := setup(t, server.Options{MaxScriptBytes: 100})
	for name, tc := range map[string]struct {
		req    client.SubmitRequest
		status int
		code   string
	}{
		"too large":       {client.SubmitRequest{FileName: "x.py", Script: make([]byte, 101)}, 413, client.CodeTooLarge},
		"no file name":    {client.SubmitRequest{Script: []byte("x")}, 400, client.CodeInvalidRequest},
		"path as name":    {client.SubmitRequest{FileName: "../x.py", Script: []byte("x")}, 400, client.CodeInvalidRequest},
		"unknown runtime": {client.SubmitRequest{FileName: "x.py", Runtime: "cobol"}, 400, client.CodeUnknownRuntime},
		"bad env name":    {client.SubmitRequest{FileName: "x.py", Env: map[string]string{"1X": "y"}}, 400, client.CodeInvalidRequest},
		"reserved env":    {client.SubmitRequest{FileName: "x.py", Env: map[string]string{"RGRID_TOKEN": "y"}}, 400, client.CodeInvalidRequest},
		"negative limit":  {client.SubmitRequest{FileName: "x.py", Limits: client.Limits{MemoryBytes: -1}}, 400, client.CodeInvalidRequest},
	} {
		_, err := b.c.Submit(t.Context(), tc.req)
		status, code := apiCode(err)
		var e *client.Error
		if status != tc.status || code != tc.code || !errors.As(err, &e) || e.Hint == "" {
			t.Errorf("%s: got %d %s (%v), want %d %s with a hint", name, status, code, err, tc.status, tc.code)
		}
	}
	l, err := b.c.Jobs(t.Context(), client.ListOptions{})
	if err != nil || len(l.Jobs) != 0 {
		t.Errorf("refused jobs were stored: %v %+v", err, l)
	}
}

func TestListPagingNewestFirst(t *testing.T) {
	t.Parallel()
	b := setup(t, server.Options{})
	var ids []string
	for range 5 {
		j, err := b.c.Submit(t.Context(), client.SubmitRequest{FileName: "x.sh", Script: []byte("echo")})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	_, _ = b.c.Cancel(t.Context(), ids[0])
	var seen []string
	cursor := ""
	for {
		l, err := b.c.Jobs(t.Context(), client.ListOptions{Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range l.Jobs {
			seen = append(seen, j.ID)
		}
		if l.Next == "" {
			break
		}
		cursor = l.Next
	}
	if len(seen) != 5 || seen[0] != ids[4] || seen[4] != ids[0] {
		t.Errorf("paged newest first = %v, submitted %v", seen, ids)
	}
	l, err := b.c.Jobs(t.Context(), client.ListOptions{States: []client.JobState{client.StateCanceled}})
	if err != nil || len(l.Jobs) != 1 || l.Jobs[0].ID != ids[0] {
		t.Errorf("state filter: %v %+v", err, l)
	}
	if _, err := b.c.Jobs(t.Context(), client.ListOptions{States: []client.JobState{"nope"}}); !client.IsCode(err, client.CodeInvalidRequest) {
		t.Errorf("bad state filter: %v", err)
	}
	py, err := b.c.Submit(t.Context(), client.SubmitRequest{FileName: "x.py", Script: []byte("print(1)"), Runtime: "python3.12"})
	if err != nil {
		t.Fatal(err)
	}
	l, err = b.c.Jobs(t.Context(), client.ListOptions{Runtime: "python3.12"})
	if err != nil || len(l.Jobs) != 1 || l.Jobs[0].ID != py.ID {
		t.Errorf("runtime filter: %v %+v", err, l)
	}
	var bash []string
	for cursor, n := "", 0; n < 5; n++ {
		l, err = b.c.Jobs(t.Context(), client.ListOptions{Runtime: "bash", Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range l.Jobs {
			bash = append(bash, j.ID)
		}
		if cursor = l.Next; cursor == "" {
			break
		}
	}
	if !slices.Equal(bash, []string{ids[4], ids[3], ids[2], ids[1], ids[0]}) {
		t.Errorf("runtime filter paged = %v, want the 5 bash jobs newest first %v", bash, ids)
	}
	l, err = b.c.Jobs(t.Context(), client.ListOptions{Batch: "bat_none"})
	if err != nil || len(l.Jobs) != 0 {
		t.Errorf("batch filter: %v %+v", err, l)
	}
}

func TestToken(t *testing.T) {
	t.Parallel()
	b := setup(t, server.Options{Token: "s3cret"})
	if _, err := b.c.Jobs(t.Context(), client.ListOptions{}); err != nil {
		t.Fatalf("with the token: %v", err)
	}
	anon, _ := client.New(b.c.BaseURL(), "")
	if _, err := anon.Jobs(t.Context(), client.ListOptions{}); !client.IsCode(err, client.CodeUnauthorized) {
		t.Errorf("without the token: %v", err)
	}
	if _, err := anon.Health(t.Context()); err != nil {
		t.Errorf("health needs no token: %v", err)
	}
}

func TestSubmitOverWorkerMaximaIsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, server.Options{})
	// With no worker registered, a big job waits for one.
	if _, err := b.c.Submit(t.Context(), client.SubmitRequest{FileName: "x.py", Limits: client.Limits{MemoryBytes: 64 << 30}}); err != nil {
		t.Fatalf("no workers yet: %v", err)
	}
	for id, mem := range map[string]int64{"small": 2 << 30, "large": 8 << 30} {
		if _, err := b.c.Register(t.Context(), client.RegisterRequest{ID: id, Slots: 1, Max: client.Limits{MemoryBytes: mem, TimeoutSeconds: 3600}}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := b.c.Submit(t.Context(), client.SubmitRequest{FileName: "x.py", Limits: client.Limits{MemoryBytes: 64 << 30}})
	var e *client.Error
	if !errors.As(err, &e) || e.Code != client.CodeLimitExceeded || e.Status != http.StatusUnprocessableEntity ||
		!strings.Contains(e.Message, "8 GiB") || !strings.Contains(e.Hint, "--max-memory") {
		t.Fatalf("err = %v", err)
	}
	if _, err := b.c.Submit(t.Context(), client.SubmitRequest{FileName: "x.py", Limits: client.Limits{MemoryBytes: 4 << 30}}); err != nil {
		t.Errorf("fits the large worker: %v", err)
	}
	_, err = b.c.Submit(t.Context(), client.SubmitRequest{FileName: "x.py", Limits: client.Limits{TimeoutSeconds: 7200}})
	if !errors.As(err, &e) || !strings.Contains(e.Message, "3600 s") || !strings.Contains(e.Hint, "--timeout") {
		t.Errorf("timeout over maximum: %v", err)
	}
}

func TestSubmitValidatesRequirements(t *testing.T) {
	t.Parallel()
	b := setup(t, server.Options{})
	script := []byte("# /// script\n# dependencies = [\"Requests[Socks] >= 2.31\", \"numpy @ https://example.com/numpy.whl\"]\n# ///\nimport requests\n")
	_, err := b.c.Submit(t.Context(), client.SubmitRequest{
		FileName: "fetch.py", Script: script,
		Requirements: "numpy==1.26.4\n-e ./pkg\n--index-url https://mirror.example/simple\n", RequirementsName: "requirements.txt",
	})
	var e *client.Error
	if !errors.As(err, &e) || e.Status != 400 || e.Code != client.CodeInvalidReqs {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{`requirements.txt line 2: "-e ./pkg"`, `requirements.txt line 3`, "RGRID_PIP_INDEX_URL", "fetch.py"} {
		if !strings.Contains(e.Message+e.Hint, want) {
			t.Errorf("message lacks %q:\n%s\nhint: %s", want, e.Message, e.Hint)
		}
	}
	if problems, _ := e.Details["problems"].([]any); len(problems) != 3 {
		t.Errorf("details.problems = %v, want 3 problems", e.Details["problems"])
	}

	// Valid sources are merged and normalized; --no-deps ignores both.
	j, err := b.c.Submit(t.Context(), client.SubmitRequest{
		FileName: "fetch.py", Script: []byte("# /// script\n# dependencies = [\"Requests >= 2.31\"]\n# ///\n"),
		Requirements: "# pinned\nNumPy==1.26.4\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(j.Requirements, " | "); got != "numpy==1.26.4 | requests>=2.31" {
		t.Errorf("requirements = %q", got)
	}
	j, err = b.c.Submit(t.Context(), client.SubmitRequest{FileName: "x.py", Script: script, Requirements: "-e .", NoDeps: true})
	if err != nil || len(j.Requirements) != 0 {
		t.Errorf("no deps: %v %v", err, j.Requirements)
	}
}

// Every answer the API gives is JSON, a wrong method and an unknown path
// included (ServeMux alone would answer those in plain text).
func TestWrongMethodAndUnknownPathAnswerJSON(t *testing.T) {
	t.Parallel()
	b := setup(t, server.Options{})
	for _, tc := range []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{http.MethodDelete, "/v1/jobs/job_x", http.StatusMethodNotAllowed, client.CodeMethodNotAllowed, "GET"},
		{http.MethodPut, "/v1/jobs", http.StatusMethodNotAllowed, client.CodeMethodNotAllowed, "GET, POST"},
		{http.MethodGet, "/v1/nope", http.StatusNotFound, client.CodeNotFound, ""},
	} {
		req, err := http.NewRequestWithContext(t.Context(), tc.method, b.c.BaseURL()+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e client.Error
		derr := json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != tc.status || derr != nil || e.Code != tc.code || e.Hint == "" ||
			resp.Header.Get("Allow") != tc.allow || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: %d %q allow %q, decode %v: %+v; want %d %s allow %q",
				tc.method, tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Allow"), derr, e,
				tc.status, tc.code, tc.allow)
		}
	}
}

// TestSubmitBatch: a batch is queued whole and in order; one refused job
// refuses it all, naming its index, and stores nothing.
func TestSubmitBatch(t *testing.T) {
	t.Parallel()
	b := setup(t, server.Options{})
	job := func(name string) client.SubmitRequest {
		return client.SubmitRequest{FileName: name, Script: []byte("print('" + name + "')")}
	}
	jobs, err := b.c.SubmitBatch(t.Context(), []client.SubmitRequest{job("a.py"), job("b.sh"), job("c.js")})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 3 || jobs[0].FileName != "a.py" || jobs[1].Runtime != "bash" || jobs[2].Runtime != "node20" ||
		jobs[0].State != client.StateQueued || jobs[0].ID == jobs[1].ID {
		t.Fatalf("batch = %+v", jobs)
	}
	bad := job("d.py")
	bad.Runtime = "cobol"
	_, err = b.c.SubmitBatch(t.Context(), []client.SubmitRequest{job("e.py"), bad})
	var ae *client.Error
	if !errors.As(err, &ae) || ae.Code != client.CodeUnknownRuntime || ae.Details["index"] != float64(1) ||
		!strings.HasPrefix(ae.Message, "job 1 of the batch: ") {
		t.Errorf("a batch with a bad job: %v %+v", err, ae)
	}
	list, err := b.c.Jobs(t.Context(), client.ListOptions{})
	if err != nil || len(list.Jobs) != 3 {
		t.Errorf("after the refused batch: %v, %d jobs stored, want 3", err, len(list.Jobs))
	}
	for _, n := range []int{0, 1001} {
		if _, err := b.c.SubmitBatch(t.Context(), make([]client.SubmitRequest, n)); !client.IsCode(err, client.CodeInvalidRequest) {
			t.Errorf("a batch of %d: %v", n, err)
		}
	}
}

// A result that queues its job again (a script failure with a retry left)
// wakes a worker's waiting lease at once, from the single result endpoint
// and from the batch of reports alike. The fallback poll is an hour here,
// so only the wake-up can hand the job over.
func TestRetriedResultWakesWaitingLease(t *testing.T) {
	t.Parallel()
	for _, batch := range []bool{false, true} {
		b := setup(t, server.Options{PollInterval: time.Hour})
		job, err := b.c.Submit(t.Context(), client.SubmitRequest{Script: []byte("exit 1\n"), FileName: "f.sh", Retries: 1})
		if err != nil {
			t.Fatal(err)
		}
		first := b.leaseOne(t, "w1")
		if _, err := b.c.Register(t.Context(), client.RegisterRequest{ID: "w2", Slots: 1, Executor: "process"}); err != nil {
			t.Fatal(err)
		}
		leased := make(chan client.LeaseResponse, 1)
		go func() {
			l, err := b.c.Lease(t.Context(), "w2", client.LeaseRequest{Max: 1, WaitSeconds: 20})
			if err != nil {
				t.Error(err)
			}
			leased <- l
		}()
		exit := 1
		res := client.ResultReport{State: client.StateFailed, ExitCode: &exit, Started: true}
		ref := client.AttemptRef{JobID: job.ID, Attempt: first.Attempt}
		if batch {
			_, err = b.c.Reports(t.Context(), "w1", client.ReportsRequest{Results: []client.AttemptResult{{AttemptRef: ref, ResultReport: res}}})
		} else {
			_, err = b.c.ReportResult(t.Context(), ref, res)
		}
		if err != nil {
			t.Fatal(err)
		}
		l := <-leased
		if len(l.Jobs) != 1 || l.Jobs[0].Job.ID != job.ID || l.Jobs[0].Attempt != 2 {
			t.Errorf("batch %v: the waiting lease got %+v, want attempt 2 of %s", batch, l.Jobs, job.ID)
		}
	}
}
