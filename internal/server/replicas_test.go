package server_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/database"
	"github.com/rgrid/rgrid/internal/pgnotify"
	"github.com/rgrid/rgrid/internal/runtimes"
	"github.com/rgrid/rgrid/internal/server"
	"github.com/rgrid/rgrid/internal/store/postgres"
	"github.com/rgrid/rgrid/internal/testdb"
)

// replicas starts n servers on one PostgreSQL database, each with its own
// store (pool) and notification relay, polling only once an hour: what
// wakes one replica's waiters for another's change is LISTEN/NOTIFY.
//
// Each replica's requests are announced on entered (its path) as they
// reach the handler, so a test can wait until a long poll is under way.
func replicas(t *testing.T, n int) ([]bundle, []chan string) {
	t.Helper()
	b, in, _ := replicasWith(t, n, server.Options{PollInterval: time.Hour})
	return b, in
}

// replicasWith is replicas with opts (the relay added), returning each
// replica's server too.
func replicasWith(t *testing.T, n int, opts server.Options) ([]bundle, []chan string, []*server.Server) {
	t.Helper()
	url := testdb.PostgresURL(t)
	rt, _ := runtimes.New(nil)
	var out []bundle
	var entered []chan string
	var servers []*server.Server
	for i := range n {
		st, err := database.Open(t.Context(), url, database.Options{Migrate: i == 0})
		if err != nil {
			t.Fatal(err)
		}
		relay, err := pgnotify.New(url, st.(*postgres.Store).Pool(), slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		o := opts
		o.Relay = relay
		srv := server.New(st, rt, slog.New(slog.DiscardHandler), o)
		servers = append(servers, srv)
		if err := srv.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		in := make(chan string, 100)
		entered = append(entered, in)
		h := srv.Handler()
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case in <- r.URL.Path:
			default:
			}
			h.ServeHTTP(w, r)
		}))
		t.Cleanup(func() { ts.Close(); srv.Stop(); st.Close() })
		select {
		case <-relay.Listening():
		case <-time.After(20 * time.Second):
			t.Fatal("replica's relay never listened")
		}
		c, err := client.New(ts.URL, "")
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, bundle{c: c, url: ts.URL})
	}
	return out, entered, servers
}

// waitEntered waits until a request whose path ends in suffix reaches the
// handler of a replica.
func waitEntered(t *testing.T, in <-chan string, suffix string) {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case p := <-in:
			if strings.HasSuffix(p, suffix) {
				return
			}
		case <-timeout:
			t.Fatalf("no request to …%s arrived", suffix)
		}
	}
}

func TestReplicaWakesLeaseAndFollowerOfAnother(t *testing.T) {
	t.Parallel()
	r, entered := replicas(t, 2)
	a, b := r[0], r[1]
	if _, err := b.c.Register(t.Context(), client.RegisterRequest{ID: "w1", Slots: 1, Executor: "process"}); err != nil {
		t.Fatal(err)
	}
	leased := make(chan client.LeaseResponse, 1)
	go func() {
		l, err := b.c.Lease(t.Context(), "w1", client.LeaseRequest{Max: 1, WaitSeconds: 20})
		if err != nil {
			t.Error(err)
		}
		leased <- l
	}()
	// The job is queued once the lease request has reached b (its first
	// look at the store then takes well under the time the submission
	// does); the hour-long poll keeps a missed wake-up from passing.
	waitEntered(t, entered[1], "/lease")
	j, err := a.c.Submit(t.Context(), client.SubmitRequest{FileName: "x.sh", Script: []byte("echo hi")})
	if err != nil {
		t.Fatal(err)
	}
	var l client.LeaseResponse
	select {
	case l = <-leased:
	case <-time.After(15 * time.Second):
		t.Fatal("a lease waiting on replica b was not woken by a job submitted to replica a")
	}
	if len(l.Jobs) != 1 || l.Jobs[0].Job.ID != j.ID {
		t.Fatalf("lease on b got %+v, want job %s", l.Jobs, j.ID)
	}

	// A follower on a wakes when the worker uploads through b.
	got := make(chan client.LogPage, 1)
	go func() {
		p, _ := a.c.Logs(t.Context(), j.ID, client.LogOptions{Wait: 20 * time.Second})
		got <- p
	}()
	waitEntered(t, entered[0], "/logs")
	ref := client.AttemptRef{JobID: j.ID, Attempt: l.Jobs[0].Attempt}
	if _, err := b.c.UploadLogs(t.Context(), ref, client.LogUpload{Chunks: []client.LogChunk{{Stream: client.Stdout, Seq: 1, Data: []byte("hi")}}}); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		if len(p.Chunks) != 1 || string(p.Chunks[0].Data) != "hi" {
			t.Errorf("follower on a got %+v", p)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("a follower on replica a was not woken by an upload through replica b")
	}
}

// With leases, the reaper runs on one replica, and on the other once the
// first has stopped.
func TestReplicasReapThroughTheLeader(t *testing.T) {
	t.Parallel()
	r, _, servers := replicasWith(t, 2, server.Options{
		Elect: true, LeaderTTL: 600 * time.Millisecond, ReapInterval: 50 * time.Millisecond, DeadAfter: 300 * time.Millisecond,
	})
	j, err := r[1].c.Submit(t.Context(), client.SubmitRequest{FileName: "x.sh", Script: []byte("echo")})
	if err != nil {
		t.Fatal(err)
	}
	silentWorkerIsReaped := func(worker string, attempt int) {
		t.Helper()
		leased := r[1].leaseOne(t, worker)
		if leased.Job.ID != j.ID {
			t.Fatalf("leased %s, want %s", leased.Job.ID, j.ID)
		}
		// The worker goes silent: the reaper, wherever it runs, takes
		// the job back.
		deadline := time.Now().Add(15 * time.Second)
		for {
			got, err := r[1].c.Job(t.Context(), j.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.State == client.StateQueued && got.Attempt == attempt {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("job %s of silent worker %s is %s; the reaper never took it back", j.ID, worker, got.State)
			}
			time.Sleep(20 * time.Millisecond) //nolint:forbidigo // polls the condition
		}
	}
	silentWorkerIsReaped("w1", 1)
	servers[0].Stop() // resigns whatever it led
	silentWorkerIsReaped("w2", 2)
}
