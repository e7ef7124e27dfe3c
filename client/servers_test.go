package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rgrid/rgrid/client"
)

// replica is a test server that counts the requests it gets and answers
// with status (200: a health answer or the submitted job).
type replica struct {
	ts     *httptest.Server
	hits   atomic.Int32
	status int
}

func newReplica(t *testing.T, status int) *replica {
	t.Helper()
	r := &replica{status: status}
	r.ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if r.status != http.StatusOK {
			w.WriteHeader(r.status)
			_ = json.NewEncoder(w).Encode(map[string]string{"code": "forbidden", "message": "no"})
			return
		}
		if req.Method == http.MethodPost {
			var sub client.SubmitRequest
			if err := json.NewDecoder(req.Body).Decode(&sub); err != nil || string(sub.Script) != "echo hi" {
				http.Error(w, `{"code":"invalid_json","message":"body lost"}`, http.StatusBadRequest)
				return
			}
			_ = json.NewEncoder(w).Encode(client.Job{ID: "J1"})
			return
		}
		_ = json.NewEncoder(w).Encode(client.Health{Status: "ok"})
	}))
	t.Cleanup(r.ts.Close)
	return r
}

func TestServerListFailsOverOnConnectionAndSticks(t *testing.T) {
	t.Parallel()
	dead := closedURL(t)
	s1, s2 := newReplica(t, http.StatusOK), newReplica(t, http.StatusOK)
	c, err := client.New(dead+", "+s1.ts.URL+","+s2.ts.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.BaseURL(); got != dead+","+s1.ts.URL+","+s2.ts.URL {
		t.Errorf("BaseURL = %q, want the list", got)
	}
	for range 3 {
		if _, err := c.Health(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if c.Server() != s1.ts.URL || s1.hits.Load() != 3 || s2.hits.Load() != 0 {
		t.Errorf("server %s, hits %d/%d; want all three on the first live one", c.Server(), s1.hits.Load(), s2.hits.Load())
	}
	// A POST's body goes whole to the replica it fails over to. (With
	// the idempotency key the CLI sends, a kept-alive connection found
	// dead is redialled, and the dial fails over.)
	s1.ts.Close()
	j, err := c.Submit(t.Context(), client.SubmitRequest{FileName: "x.sh", Script: []byte("echo hi"), IdempotencyKey: "k1"})
	if err != nil || j.ID != "J1" {
		t.Fatalf("submit after the replica went away: %+v, %v", j, err)
	}
	if c.Server() != s2.ts.URL || s2.hits.Load() != 1 {
		t.Errorf("server %s, hits on s2 %d; want the submission on s2", c.Server(), s2.hits.Load())
	}
	// Copies share the choice.
	w := c.WithWorkerInstance("i1")
	if w.Server() != s2.ts.URL {
		t.Errorf("a copy uses %s, want %s", w.Server(), s2.ts.URL)
	}
}

func TestServerListDoesNotFailOverOnAnswers(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusForbidden, http.StatusNotFound, http.StatusInternalServerError} {
		s1, s2 := newReplica(t, status), newReplica(t, http.StatusOK)
		c, err := client.New(s1.ts.URL+","+s2.ts.URL, "")
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Submit(t.Context(), client.SubmitRequest{FileName: "x.sh", Script: []byte("echo hi")})
		var e *client.Error
		if !errors.As(err, &e) || e.Status != status {
			t.Errorf("status %d: err = %v, want the first replica's answer", status, err)
		}
		if s2.hits.Load() != 0 || c.Server() != s1.ts.URL {
			t.Errorf("status %d: the second replica got %d requests; an answer is never failed over", status, s2.hits.Load())
		}
	}
}

func TestServerListBrokenConnectionIsNotResent(t *testing.T) {
	t.Parallel()
	var cut atomic.Int32
	s1 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cut.Add(1)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close() // the request arrived; no answer comes
		}
	}))
	t.Cleanup(s1.Close)
	s2 := newReplica(t, http.StatusOK)
	c, err := client.New(s1.URL+","+s2.ts.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Register(t.Context(), client.RegisterRequest{ID: "w1", Slots: 1, Executor: "process"})
	var ue *client.UnreachableError
	if !errors.As(err, &ue) {
		t.Fatalf("err = %v, want UnreachableError", err)
	}
	if s2.hits.Load() != 0 {
		t.Error("a request that reached a replica was sent again to another")
	}
	// The next request starts at the next replica.
	if _, err := c.Health(t.Context()); err != nil {
		t.Fatal(err)
	}
	if cut.Load() != 1 || s2.hits.Load() != 1 || c.Server() != s2.ts.URL {
		t.Errorf("cut %d, s2 hits %d, server %s; want the next request on s2", cut.Load(), s2.hits.Load(), c.Server())
	}
}

func TestServerListAllDown(t *testing.T) {
	t.Parallel()
	a, b := closedURL(t), closedURL(t)
	c, err := client.New(a+","+b, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Health(context.Background())
	var ue *client.UnreachableError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), a) || !strings.Contains(err.Error(), b) || strings.Contains(err.Error(), "\n") {
		t.Errorf("err = %v; want one line naming both servers", err)
	}
}

func TestServerListParse(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", " , ", "http://a,ftp://b", "http://a,b", "http://a?x=1", strings.Repeat("http://a,", client.MaxServers+1)} {
		if _, err := client.New(bad, ""); err == nil {
			t.Errorf("New(%q) accepted", bad)
		}
	}
	c, err := client.New(" http://a:1/ , https://b:2 ", "")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Servers(); len(got) != 2 || got[0] != "http://a:1" || got[1] != "https://b:2" {
		t.Errorf("Servers = %q", got)
	}
}

// An answer cut short (a server shutting down mid-response) is like no
// answer: Submit, with its idempotency key, sends the request again.
func TestSubmitRetriesAnAnswerCutShort(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(`{"id":`))
			return // the connection ends before the promised body
		}
		_ = json.NewEncoder(w).Encode(client.Job{ID: "J1"})
	}))
	t.Cleanup(ts.Close)
	c, err := client.New(ts.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	j, err := c.Submit(t.Context(), client.SubmitRequest{FileName: "x.sh", Script: []byte("echo hi"), IdempotencyKey: "k"})
	if err != nil || j.ID != "J1" || hits.Load() != 2 {
		t.Fatalf("submit: %+v, %v after %d requests; want J1 on the second", j, err, hits.Load())
	}
	// Without a key nothing is resent, and the error says the answer was cut.
	hits.Store(0)
	_, err = c.Submit(t.Context(), client.SubmitRequest{FileName: "x.sh", Script: []byte("echo hi")})
	var ue *client.UnreachableError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "cut short") || hits.Load() != 1 {
		t.Errorf("err = %v after %d requests; want one request, UnreachableError", err, hits.Load())
	}
}

// A server shutting down answers 503: a keyed Submit sends the request
// again (the server makes the job once); one without a key does not.
func TestSubmitRetriesA503(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(client.Error{Code: client.CodeUnavailable, Message: "this server is shutting down"})
			return
		}
		_ = json.NewEncoder(w).Encode(client.Job{ID: "J1"})
	}))
	t.Cleanup(ts.Close)
	c, err := client.New(ts.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	j, err := c.Submit(t.Context(), client.SubmitRequest{FileName: "x.sh", Script: []byte("echo hi"), IdempotencyKey: "k"})
	if err != nil || j.ID != "J1" || hits.Load() != 2 {
		t.Fatalf("submit: %+v, %v after %d requests; want J1 on the second", j, err, hits.Load())
	}
	hits.Store(0)
	_, err = c.Submit(t.Context(), client.SubmitRequest{FileName: "x.sh", Script: []byte("echo hi")})
	var e *client.Error
	if !errors.As(err, &e) || e.Code != client.CodeUnavailable || hits.Load() != 1 {
		t.Errorf("err = %v after %d requests; want one request, 503 unavailable", err, hits.Load())
	}
}
