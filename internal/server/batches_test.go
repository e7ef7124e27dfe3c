package server_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/blob"
	"github.com/rgrid/rgrid/internal/database"
	"github.com/rgrid/rgrid/internal/runtimes"
	"github.com/rgrid/rgrid/internal/server"
)

// setupBatches is setupFiles with options.
func setupBatches(t *testing.T, opts server.Options) filesBundle {
	t.Helper()
	st, err := database.Open(t.Context(), filepath.Join(t.TempDir(), "rgrid.db"), database.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	bs, err := blob.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	opts.Blobs = bs
	rt, _ := runtimes.New(nil)
	srv := server.New(st, rt, slog.New(slog.DiscardHandler), opts)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	c, err := client.New(ts.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	return filesBundle{bundle: bundle{c: c, url: ts.URL}, srv: srv, blobs: bs}
}

func fileEntry(p string, data []byte) client.FileEntry {
	return client.FileEntry{Path: p, Kind: "file", Size: int64(len(data)), SHA256: ref(data).SHA256}
}

// filesBatch is a batch over data/0.csv … data/n-1.csv sharing proc.py
// and lib.py, with its blobs uploaded.
func (b filesBundle) filesBatch(t *testing.T, n int) client.BatchRequest {
	t.Helper()
	script, lib := []byte("import sys; print(sys.argv)\n"), []byte("X = 1\n")
	blobs := [][]byte{script, lib}
	req := client.BatchRequest{
		Job: client.SubmitRequest{Script: script, FileName: "proc.py", Args: []string{"--fast"},
			Env:    map[string]string{"MODE": "test"},
			Inputs: &client.Manifest{Entries: []client.FileEntry{fileEntry("lib.py", lib), fileEntry("proc.py", script)}}},
	}
	for i := range n {
		data := []byte(fmt.Sprintf("row,%d\n", i))
		blobs = append(blobs, data)
		req.Files = append(req.Files, fileEntry(fmt.Sprintf("data/%d.csv", i), data))
	}
	b.upload(t, blobs...)
	return req
}

func (b filesBundle) lease(t *testing.T, worker string, max int) []client.LeasedJob {
	t.Helper()
	if _, err := b.c.Register(t.Context(), client.RegisterRequest{ID: worker, Slots: 10, Executor: "process"}); err != nil {
		t.Fatal(err)
	}
	l, err := b.c.Lease(t.Context(), worker, client.LeaseRequest{Max: max})
	if err != nil {
		t.Fatal(err)
	}
	return l.Jobs
}

func (b filesBundle) finish(t *testing.T, lj client.LeasedJob, st client.JobState, code int) {
	t.Helper()
	_, err := b.c.ReportResult(t.Context(), client.AttemptRef{JobID: lj.Job.ID, Attempt: lj.Attempt},
		client.ResultReport{State: st, ExitCode: &code, Started: true})
	if err != nil {
		t.Fatal(err)
	}
}

// A files batch: one request, its items leased within its parallelism,
// each with the shared working directory and its own input added, its
// path first among the arguments and the batch's variables set; counts
// follow the items; a repeated submission makes nothing.
func TestBatchOfFiles(t *testing.T) {
	t.Parallel()
	b := setupBatches(t, server.Options{})
	req := b.filesBatch(t, 3)
	req.Parallelism, req.IdempotencyKey = 1, "k-1"
	bat, created, err := b.c.SubmitBatchRun(t.Context(), req)
	if err != nil || !created {
		t.Fatalf("submit: %v, created %v", err, created)
	}
	want := client.BatchCounts{Queued: 3}
	if bat.Size != 3 || bat.Kind != client.BatchKindFiles || bat.Name != "proc.py" || bat.Parallelism != 1 || bat.Counts != want || bat.Finished {
		t.Fatalf("batch %+v", bat)
	}
	again, created, err := b.c.SubmitBatchRun(t.Context(), req)
	if err != nil || created || again.ID != bat.ID {
		t.Fatalf("resubmission: %v, created %v, id %s, want %s", err, created, again.ID, bat.ID)
	}
	other := req
	other.Files = other.Files[:2]
	if _, _, err := b.c.SubmitBatchRun(t.Context(), other); !client.IsCode(err, client.CodeKeyReused) {
		t.Errorf("the key with other items: %v, want %s", err, client.CodeKeyReused)
	}
	if l, err := b.c.Jobs(t.Context(), client.ListOptions{}); err != nil || len(l.Jobs) != 3 {
		t.Fatalf("jobs: %v, %d, want the 3 items", err, len(l.Jobs))
	}

	got := b.lease(t, "w1", 5)
	if len(got) != 1 {
		t.Fatalf("leased %d items, want 1 (parallelism 1)", len(got))
	}
	lj := got[0]
	if lj.Job.BatchID != bat.ID || lj.Job.BatchIndex != 0 || lj.Job.BatchInput != "data/0.csv" {
		t.Errorf("leased item %+v", lj.Job)
	}
	if want := []string{"data/0.csv", "--fast"}; !slices.Equal(lj.Job.Args, want) {
		t.Errorf("args %q, want %q", lj.Job.Args, want)
	}
	wantEnv := map[string]string{"MODE": "test", "RGRID_ATTEMPT": "1", "RGRID_BATCH_ID": bat.ID,
		"RGRID_BATCH_SIZE": "3", "RGRID_BATCH_INPUT": "data/0.csv"}
	if !reflect.DeepEqual(lj.Job.Env, wantEnv) {
		t.Errorf("env %v, want %v", lj.Job.Env, wantEnv)
	}
	if string(lj.Script) != string(req.Job.Script) {
		t.Errorf("script %q", lj.Script)
	}
	var paths []string
	for _, e := range lj.Inputs.Entries {
		paths = append(paths, e.Path)
	}
	if want := []string{"data/0.csv", "lib.py", "proc.py"}; !slices.Equal(paths, want) {
		t.Errorf("inputs %q, want %q", paths, want)
	}
	in, err := b.c.JobInputs(t.Context(), lj.Job.ID)
	if err != nil || !reflect.DeepEqual(in, lj.Inputs) {
		t.Errorf("GET inputs of the item: %v, %+v", err, in)
	}

	b.finish(t, lj, client.StateSucceeded, 0)
	next := b.lease(t, "w1", 5)
	if len(next) != 1 || next[0].Job.BatchInput != "data/1.csv" {
		t.Fatalf("after the first item: %d leased", len(next))
	}
	if bat, err = b.c.SetBatchParallelism(t.Context(), bat.ID, 5); err != nil || bat.Parallelism != 5 {
		t.Fatalf("set parallelism: %v %+v", err, bat)
	}
	last := b.lease(t, "w2", 5)
	if len(last) != 1 || last[0].Job.BatchInput != "data/2.csv" {
		t.Fatalf("after raising the cap: %d leased", len(last))
	}
	b.finish(t, next[0], client.StateFailed, 2)
	bat, err = b.c.Batch(t.Context(), bat.ID)
	if want := (client.BatchCounts{Running: 1, Succeeded: 1, Failed: 1}); err != nil || bat.Counts != want {
		t.Errorf("counts %+v, want %+v (%v)", bat.Counts, want, err)
	}
	failed, err := b.c.BatchJobs(t.Context(), bat.ID, client.BatchJobsOptions{States: []client.JobState{client.StateFailed, client.StateError}})
	if err != nil || len(failed.Jobs) != 1 || failed.Jobs[0].BatchInput != "data/1.csv" || failed.Next != "" {
		t.Errorf("failed items: %v %+v", err, failed)
	}
	b.finish(t, last[0], client.StateSucceeded, 0)
	bat, _ = b.c.Batch(t.Context(), bat.ID)
	if !bat.Finished {
		t.Errorf("every item ended, batch %+v", bat)
	}

	// Retry: only the failed item runs again, as attempt 2 of its job.
	rr, err := b.c.RetryBatch(t.Context(), bat.ID)
	if err != nil || rr.Requeued != 1 || rr.Batch.Counts != (client.BatchCounts{Queued: 1, Succeeded: 2}) {
		t.Fatalf("retry: %v %+v", err, rr)
	}
	again2 := b.lease(t, "w1", 5)
	if len(again2) != 1 || again2[0].Job.BatchInput != "data/1.csv" || again2[0].Attempt != 2 || again2[0].Job.Env["RGRID_ATTEMPT"] != "2" {
		t.Fatalf("after the retry: %+v", again2)
	}
	if more := b.lease(t, "w1", 5); len(more) != 0 {
		t.Errorf("succeeded items run again: %d", len(more))
	}
}

// An array batch sets RGRID_ARRAY_INDEX, needs no files; a plain job gets
// RGRID_ATTEMPT too; cancel stops what runs and cancels the rest.
func TestBatchArrayAndCancel(t *testing.T) {
	t.Parallel()
	b := setupBatches(t, server.Options{})
	plain, err := b.c.Submit(t.Context(), client.SubmitRequest{Script: []byte("echo"), FileName: "x.sh"})
	if err != nil {
		t.Fatal(err)
	}
	req := client.BatchRequest{Job: client.SubmitRequest{Script: []byte("echo $RGRID_ARRAY_INDEX"), FileName: "x.sh", Args: []string{"a"}},
		Array: []int{1, 3, 5, 7}, Name: "odd"}
	bat, created, err := b.c.SubmitBatchRun(t.Context(), req)
	if err != nil || !created || bat.Kind != client.BatchKindArray || bat.Name != "odd" {
		t.Fatalf("submit: %v %+v", err, bat)
	}
	got := b.lease(t, "w", 3)
	if len(got) != 3 || got[0].Job.ID != plain.ID {
		t.Fatalf("leased %d", len(got))
	}
	if got[0].Job.Env["RGRID_ATTEMPT"] != "1" || len(got[0].Job.Env) != 1 {
		t.Errorf("plain job's env %v", got[0].Job.Env)
	}
	for i, lj := range got[1:] {
		want := map[string]string{"RGRID_ATTEMPT": "1", "RGRID_BATCH_ID": bat.ID, "RGRID_BATCH_SIZE": "4",
			"RGRID_ARRAY_INDEX": strconv.Itoa(2*i + 1)}
		if !reflect.DeepEqual(lj.Job.Env, want) || !slices.Equal(lj.Job.Args, []string{"a"}) || lj.Inputs != nil {
			t.Errorf("item %d: env %v, args %q, inputs %v", i, lj.Job.Env, lj.Job.Args, lj.Inputs)
		}
	}
	cr, err := b.c.CancelBatch(t.Context(), bat.ID)
	if err != nil || cr.Stopping != 2 || !cr.Batch.Canceled || cr.Batch.Counts != (client.BatchCounts{Running: 2, Canceled: 2}) {
		t.Fatalf("cancel: %v %+v", err, cr)
	}
	hb, err := b.c.Heartbeat(t.Context(), "w", client.HeartbeatRequest{Running: []client.AttemptRef{
		{JobID: plain.ID, Attempt: 1}, {JobID: got[1].Job.ID, Attempt: 1}, {JobID: got[2].Job.ID, Attempt: 1}}})
	if err != nil || len(hb.Stop) != 2 {
		t.Errorf("heartbeat: %v, stop %v, want the 2 items", err, hb.Stop)
	}
	items, err := b.c.BatchJobs(t.Context(), bat.ID, client.BatchJobsOptions{Limit: 2})
	if err != nil || len(items.Jobs) != 2 || items.Next != "1" {
		t.Fatalf("page 1: %v %+v", err, items)
	}
	items, err = b.c.BatchJobs(t.Context(), bat.ID, client.BatchJobsOptions{Limit: 2, After: items.Next})
	if err != nil || len(items.Jobs) != 2 || items.Jobs[0].BatchIndex != 2 || items.Jobs[1].State != client.StateCanceled {
		t.Fatalf("page 2: %v %+v", err, items)
	}
}

func TestBatchListNewestFirst(t *testing.T) {
	t.Parallel()
	b := setupBatches(t, server.Options{})
	var ids []string
	for i := range 3 {
		bat, _, err := b.c.SubmitBatchRun(t.Context(), client.BatchRequest{
			Job: client.SubmitRequest{Script: []byte("echo"), FileName: "x.sh"}, Array: []int{i}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, bat.ID)
	}
	l, err := b.c.Batches(t.Context(), client.ListOptions{Limit: 2})
	if err != nil || len(l.Batches) != 2 || l.Batches[0].ID != ids[2] || l.Batches[1].ID != ids[1] || l.Next == "" {
		t.Fatalf("page 1: %v %+v", err, l)
	}
	l, err = b.c.Batches(t.Context(), client.ListOptions{Limit: 2, Cursor: l.Next})
	if err != nil || len(l.Batches) != 1 || l.Batches[0].ID != ids[0] || l.Next != "" {
		t.Fatalf("page 2: %v %+v", err, l)
	}
}

// Every refused batch names the problem with a stable code, and stores
// nothing.
func TestBatchValidation(t *testing.T) {
	t.Parallel()
	b := setupBatches(t, server.Options{MaxBatchItems: 3})
	base := b.filesBatch(t, 3)
	missing := fileEntry("data/new.csv", []byte("never uploaded"))
	tests := []struct {
		name   string
		change func(r *client.BatchRequest)
		status int
		code   string
	}{
		{"no items", func(r *client.BatchRequest) { r.Files = nil }, 400, client.CodeInvalidRequest},
		{"files and array", func(r *client.BatchRequest) { r.Array = []int{1} }, 400, client.CodeInvalidRequest},
		{"too many", func(r *client.BatchRequest) { r.Files = append(r.Files, r.Files[0]) }, 422, client.CodeLimitExceeded},
		{"negative parallelism", func(r *client.BatchRequest) { r.Parallelism = -1 }, 400, client.CodeInvalidRequest},
		{"files without inputs", func(r *client.BatchRequest) { r.Job.Inputs = nil }, 400, client.CodeInvalidRequest},
		{"bad job", func(r *client.BatchRequest) { r.Job.FileName = "" }, 400, client.CodeInvalidRequest},
		{"reserved env", func(r *client.BatchRequest) { r.Job.Env = map[string]string{"RGRID_BATCH_ID": "x"} }, 400, client.CodeInvalidRequest},
		{"input in the shared directory", func(r *client.BatchRequest) { r.Files[1] = r.Job.Inputs.Entries[0] }, 400, client.CodeInvalidManifest},
		{"input twice", func(r *client.BatchRequest) { r.Files[1] = r.Files[0] }, 400, client.CodeInvalidManifest},
		{"input under a shared file", func(r *client.BatchRequest) { r.Files[1].Path = "lib.py/x.csv" }, 400, client.CodeInvalidManifest},
		{"input out of the tree", func(r *client.BatchRequest) { r.Files[1].Path = "../x.csv" }, 400, client.CodeInvalidManifest},
		{"input not a file", func(r *client.BatchRequest) { r.Files[1] = client.FileEntry{Path: "d", Kind: "dir"} }, 400, client.CodeInvalidManifest},
		{"input not uploaded", func(r *client.BatchRequest) { r.Files[1] = missing }, 400, client.CodeBlobMissing},
		{"long key", func(r *client.BatchRequest) { r.IdempotencyKey = string(make([]byte, 300)) }, 400, client.CodeInvalidRequest},
		{"array index twice", func(r *client.BatchRequest) { r.Files, r.Array = nil, []int{1, 1} }, 400, client.CodeInvalidRequest},
		{"negative array index", func(r *client.BatchRequest) { r.Files, r.Array = nil, []int{-1} }, 400, client.CodeInvalidRequest},
	}
	for _, tc := range tests {
		req := base
		req.Files = slices.Clone(base.Files)
		tc.change(&req)
		_, _, err := b.c.SubmitBatchRun(t.Context(), req)
		if status, code := apiCode(err); status != tc.status || code != tc.code {
			t.Errorf("%s: %d %s (%v), want %d %s", tc.name, status, code, err, tc.status, tc.code)
		}
	}
	if l, err := b.c.Batches(t.Context(), client.ListOptions{}); err != nil || len(l.Batches) != 0 {
		t.Errorf("refused batches were stored: %v %+v", err, l)
	}
	if l, err := b.c.Jobs(t.Context(), client.ListOptions{}); err != nil || len(l.Jobs) != 0 {
		t.Errorf("refused batches' items were stored: %v %d", err, len(l.Jobs))
	}

	for name, call := range map[string]func() error{
		"get":    func() error { _, err := b.c.Batch(t.Context(), "bat_nope"); return err },
		"jobs":   func() error { _, err := b.c.BatchJobs(t.Context(), "bat_nope", client.BatchJobsOptions{}); return err },
		"set":    func() error { _, err := b.c.SetBatchParallelism(t.Context(), "bat_nope", 2); return err },
		"cancel": func() error { _, err := b.c.CancelBatch(t.Context(), "bat_nope"); return err },
		"retry":  func() error { _, err := b.c.RetryBatch(t.Context(), "bat_nope"); return err },
	} {
		if status, code := apiCode(call()); status != http.StatusNotFound || code != client.CodeNotFound {
			t.Errorf("%s of an unknown batch: %d %s", name, status, code)
		}
	}
	bat, _, err := b.c.SubmitBatchRun(t.Context(), base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.c.SetBatchParallelism(t.Context(), bat.ID, -2); !client.IsCode(err, client.CodeInvalidRequest) {
		t.Errorf("negative parallelism: %v", err)
	}
	for _, q := range []string{"state=nope", "after=-1", "after=x", "limit=0", "limit=1001"} {
		var out any
		if status, _ := httpGetJSON(b.url+"/v1/batches/"+bat.ID+"/jobs?"+q, &out); status != http.StatusBadRequest {
			t.Errorf("items ?%s: %d, want 400", q, status)
		}
	}
}

// An item's end frees a place in its batch: a lease waiting for work is
// woken at once (the poll interval here is an hour), through both report
// endpoints.
func TestBatchItemEndWakesWaitingLease(t *testing.T) {
	t.Parallel()
	for _, viaReports := range []bool{false, true} {
		b := setupBatches(t, server.Options{PollInterval: time.Hour})
		bat, _, err := b.c.SubmitBatchRun(t.Context(), client.BatchRequest{
			Job: client.SubmitRequest{Script: []byte("true\n"), FileName: "f.sh"}, Array: []int{0, 1}, Parallelism: 1})
		if err != nil {
			t.Fatal(err)
		}
		first := b.lease(t, "w1", 2)
		if len(first) != 1 {
			t.Fatalf("leased %d, want 1", len(first))
		}
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
		zero := 0
		res := client.ResultReport{State: client.StateSucceeded, ExitCode: &zero, Started: true}
		ref := client.AttemptRef{JobID: first[0].Job.ID, Attempt: first[0].Attempt}
		if viaReports {
			_, err = b.c.Reports(t.Context(), "w1", client.ReportsRequest{Results: []client.AttemptResult{{AttemptRef: ref, ResultReport: res}}})
		} else {
			_, err = b.c.ReportResult(t.Context(), ref, res)
		}
		if err != nil {
			t.Fatal(err)
		}
		l := <-leased
		if len(l.Jobs) != 1 || l.Jobs[0].Job.BatchID != bat.ID || l.Jobs[0].Job.BatchIndex != 1 {
			t.Errorf("reports %v: the waiting lease got %+v, want item 1 of %s", viaReports, l.Jobs, bat.ID)
		}
	}
}
