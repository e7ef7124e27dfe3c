package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/rgrid/rgrid/client"
)

func TestBatchOutcome(t *testing.T) {
	t.Parallel()
	one := 1
	failed := client.Job{ID: "job_f", BatchInput: "data/b.csv", State: client.StateFailed, ExitCode: &one,
		Failure: &client.Failure{Exception: "ModuleNotFoundError", Message: "No module named 'yaml'"}}
	lost := client.Job{ID: "job_l", BatchIndex: 3, BatchInput: "3", State: client.StateLost, Message: "worker w1 stopped responding"}
	ok := client.Job{ID: "job_s", BatchInput: "data/a.csv", State: client.StateSucceeded}
	for _, tt := range []struct {
		name   string
		b      client.Batch
		items  []client.Job
		code   int
		stderr []string
	}{
		{"all succeeded", client.Batch{ID: "bat_1", Size: 1, Finished: true, Counts: client.BatchCounts{Succeeded: 1}},
			[]client.Job{ok}, 0, []string{"all 1 items succeeded"}},
		{"a script failed", client.Batch{ID: "bat_2", Size: 2, Finished: true, Counts: client.BatchCounts{Succeeded: 1, Failed: 1}},
			[]client.Job{ok, failed}, exitBatchFailed, []string{
				"1 failed item:", "data/b.csv  failed  1     ModuleNotFoundError: No module named 'yaml'",
				"Hint (data/b.csv): add pyyaml to a requirements.txt", "1 of 2 items succeeded", "rgrid batch retry bat_2 --failed"}},
		{"the platform failed one", client.Batch{ID: "bat_3", Size: 2, Finished: true, Counts: client.BatchCounts{Failed: 1, Error: 1}},
			[]client.Job{failed, lost}, exitPlatform, []string{"2 failed items:", "3           lost    -     lost: worker w1 stopped responding",
				"Hint (3): its worker stopped responding"}},
		{"canceled", client.Batch{ID: "bat_4", Size: 2, Finished: true, Canceled: true, Counts: client.BatchCounts{Succeeded: 1, Canceled: 1}},
			[]client.Job{ok, {ID: "job_c", BatchInput: "x", State: client.StateCanceled}}, exitCanceled, []string{"bat_4 was canceled: 1 of 2 items succeeded"}},
	} {
		var w strings.Builder
		err := batchOutcome(tt.b, tt.items, &w)
		if got := exitStatus(err); (err == nil && tt.code != 0) || (err != nil && got != tt.code) {
			t.Errorf("%s: exit %d (%v), want %d", tt.name, got, err, tt.code)
		}
		for _, want := range tt.stderr {
			if !strings.Contains(w.String(), want) {
				t.Errorf("%s: no %q in:\n%s", tt.name, want, w.String())
			}
		}
	}
}

// A POST /v1/batches cut by the network is sent again with the same
// idempotency key; a refusal is not.
func TestSubmitBatchRetriesWithItsKey(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var keys []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req client.BatchRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			t.Errorf("body: %v", err)
		}
		mu.Lock()
		keys = append(keys, req.IdempotencyKey)
		n := len(keys)
		mu.Unlock()
		if req.Name == "refused" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnprocessableEntity)
			_, _ = w.Write([]byte(`{"code":"invalid_manifest","message":"no"}`))
			return
		}
		if n == 1 {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close() // the network cut the answer
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"id":"bat_x","size":1}`))
	}))
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	key := newIdempotencyKey()
	b, err := submitBatch(t.Context(), uploader{c: c}, client.BatchRequest{IdempotencyKey: key, Array: []int{0}}, nil, nil)
	if err != nil || b.ID != "bat_x" {
		t.Fatalf("submit: %+v, %v", b, err)
	}
	if len(keys) != 2 || keys[0] != key || keys[1] != key {
		t.Errorf("requests' keys %q, want %q twice", keys, key)
	}
	if other := newIdempotencyKey(); other == key || !strings.HasPrefix(key, "cli-") {
		t.Errorf("keys %q and %q: want a fresh cli- key per invocation", key, other)
	}
	keys = nil
	if _, err := submitBatch(t.Context(), uploader{c: c}, client.BatchRequest{Name: "refused", Array: []int{0}}, nil, nil); !client.IsCode(err, "invalid_manifest") || len(keys) != 1 {
		t.Errorf("a refusal: %v after %d requests, want invalid_manifest after 1", err, len(keys))
	}
}

// --follow-all's lines are written whole, prefixed, above the progress
// line, which is cleared and drawn again around them on a terminal.
func TestPrefixedLinesAboveProgress(t *testing.T) {
	t.Parallel()
	var term strings.Builder
	con := &console{w: &term, live: true}
	con.progress("batch b: 0/2 done")
	var out strings.Builder
	p := &prefixWriter{con: con, w: &out, prefix: "[a.csv] "}
	if _, err := p.Write([]byte("one\ntw")); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Write([]byte("o\nthree")); err != nil {
		t.Fatal(err)
	}
	p.flush()
	if want := "[a.csv] one\n[a.csv] two\n[a.csv] three\n"; out.String() != want {
		t.Errorf("item output %q, want %q", out.String(), want)
	}
	want := clearLine + "batch b: 0/2 done" + strings.Repeat(clearLine+"batch b: 0/2 done", 3)
	if term.String() != want {
		t.Errorf("terminal %q, want %q", term.String(), want)
	}
	con.clear()
	if !strings.HasSuffix(term.String(), clearLine) {
		t.Errorf("clear left %q", term.String())
	}

	// Piped: no redrawing.
	var piped strings.Builder
	con = &console{w: &piped}
	p = &prefixWriter{con: con, w: &piped, prefix: "[7] "}
	_, _ = p.Write([]byte("x\n"))
	if piped.String() != "[7] x\n" {
		t.Errorf("piped %q", piped.String())
	}
}
