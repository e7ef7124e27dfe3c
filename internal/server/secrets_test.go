package server_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/database"
	"github.com/rgrid/rgrid/internal/runtimes"
	"github.com/rgrid/rgrid/internal/secrets"
	"github.com/rgrid/rgrid/internal/server"
	"github.com/rgrid/rgrid/internal/testdb"
)

// syncBuffer is a log destination safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type secretBundle struct {
	c    *client.Client
	db   string // the database's URL, for testdb.DumpContains
	logs *syncBuffer
}

// secretServer serves the database at dbURL with key (nil: none), logging
// at debug level into logs.
func secretServer(t *testing.T, dbURL string, key *secrets.Key) secretBundle {
	t.Helper()
	st, err := database.Open(t.Context(), dbURL, database.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rt, _ := runtimes.New(nil)
	logs := &syncBuffer{}
	opts := server.Options{}
	if key != nil {
		opts.Secrets = secrets.Fixed(key)
	}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ts := httptest.NewServer(server.New(st, rt, log, opts).Handler())
	t.Cleanup(ts.Close)
	c, err := client.New(ts.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	return secretBundle{c: c, db: dbURL, logs: logs}
}

func newKey(t *testing.T) *secrets.Key {
	t.Helper()
	k, _, err := secrets.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func lease(t *testing.T, c *client.Client, worker string, max int) []client.LeasedJob {
	t.Helper()
	if _, err := c.Register(t.Context(), client.RegisterRequest{ID: worker, Slots: max, Executor: "process"}); err != nil {
		t.Fatal(err)
	}
	l, err := c.Lease(t.Context(), worker, client.LeaseRequest{Max: max, WaitSeconds: 0})
	if err != nil {
		t.Fatal(err)
	}
	return l.Jobs
}

// A secret's value is stored in no table in clear, shown by no job view
// and logged nowhere; the worker that leases the job gets it in the job's
// environment. On both databases.
func TestSecretEnvStoredSealedAndLeased(t *testing.T) {
	t.Parallel()
	for _, d := range []struct{ name, url string }{
		{"sqlite", filepath.Join(t.TempDir(), "rgrid.db")},
		{"postgres", testdb.PostgresURL(t)},
	} {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			b := secretServer(t, d.url, newKey(t))
			const value, batchValue, plain = "s3cr3t-V4lue-7Qx9Lm2p", "b4tch-S3cret-Zq81Kd0w", "plainly-visible-value"
			j, err := b.c.Submit(t.Context(), client.SubmitRequest{FileName: "x.py", Script: []byte("print(1)"),
				Env: map[string]string{"PLAIN": plain}, SecretEnv: map[string]string{"API_KEY": value, "EMPTY": ""}})
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(j.SecretEnv, ","); got != "API_KEY,EMPTY" || j.Env["PLAIN"] != plain || len(j.Env) != 1 {
				t.Fatalf("submitted job: secret_env %q env %v, want the names only and the plain env", got, j.Env)
			}
			bat, _, err := b.c.SubmitBatchRun(t.Context(), client.BatchRequest{Array: []int{0, 1},
				Job: client.SubmitRequest{FileName: "b.py", Script: []byte("print(2)"), SecretEnv: map[string]string{"TOKEN": batchValue}}})
			if err != nil {
				t.Fatal(err)
			}
			// Every view of the jobs: one job, the list, the batch's items.
			views := []any{}
			got, err := b.c.Job(t.Context(), j.ID)
			if err != nil {
				t.Fatal(err)
			}
			views = append(views, got)
			list, err := b.c.Jobs(t.Context(), client.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			views = append(views, list)
			items, err := b.c.BatchJobs(t.Context(), bat.ID, client.BatchJobsOptions{})
			if err != nil {
				t.Fatal(err)
			}
			views = append(views, items)
			for _, it := range items.Jobs {
				if strings.Join(it.SecretEnv, ",") != "TOKEN" {
					t.Errorf("item %s: secret_env %v, want [TOKEN]", it.ID, it.SecretEnv)
				}
			}
			for _, v := range views {
				raw, _ := json.Marshal(v)
				if bytes.Contains(raw, []byte(value)) || bytes.Contains(raw, []byte(batchValue)) {
					t.Errorf("a job view shows a secret value: %s", raw)
				}
			}
			if !strings.Contains(mustJSON(t, got), `"secret_env":["API_KEY","EMPTY"]`) {
				t.Errorf("GET /v1/jobs/{id} does not name the secrets: %s", mustJSON(t, got))
			}
			for _, needle := range []string{value, batchValue} {
				if tables := testdb.DumpContains(t, b.db, needle); len(tables) > 0 {
					t.Errorf("a secret value is stored in clear in %v", tables)
				}
			}
			// The dump does find what is kept in clear: the check can fail.
			if tables := testdb.DumpContains(t, b.db, plain); strings.Join(tables, ",") != "jobs" {
				t.Fatalf("the plain value is found in %v, want [jobs]", tables)
			}

			leased := lease(t, b.c, "w1", 3)
			if len(leased) != 3 {
				t.Fatalf("leased %d jobs, want 3", len(leased))
			}
			for _, lj := range leased {
				env := lj.Job.Env
				switch lj.Job.ID {
				case j.ID:
					if env["API_KEY"] != value || env["PLAIN"] != plain || env["RGRID_ATTEMPT"] != "1" {
						t.Errorf("leased job's env lacks its values: names %v", keys(env))
					}
					if v, ok := env["EMPTY"]; !ok || v != "" {
						t.Errorf("leased job's env lacks EMPTY")
					}
				default:
					if env["TOKEN"] != batchValue || env["RGRID_BATCH_ID"] != bat.ID {
						t.Errorf("leased item %s's env lacks its values: names %v", lj.Job.ID, keys(env))
					}
				}
			}
			for _, needle := range []string{value, batchValue} {
				if strings.Contains(b.logs.String(), needle) {
					t.Errorf("the server's log holds a secret value:\n%s", b.logs.String())
				}
			}
			if !strings.Contains(b.logs.String(), "job leased") {
				t.Fatalf("the server logged nothing: the log check proves nothing\n%s", b.logs.String())
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// A server without a key refuses secrets, naming the flag that fixes it,
// and stores nothing.
func TestSecretEnvWithoutKeyRefused(t *testing.T) {
	t.Parallel()
	b := secretServer(t, filepath.Join(t.TempDir(), "rgrid.db"), nil)
	_, err := b.c.Submit(t.Context(), client.SubmitRequest{FileName: "x.py", Script: []byte("print(1)"),
		SecretEnv: map[string]string{"API_KEY": "v"}})
	status, code := apiCode(err)
	if status != 422 || code != client.CodeNoSecretKey {
		t.Fatalf("submit without a server key: %d %s (%v), want 422 %s", status, code, err, client.CodeNoSecretKey)
	}
	var ae *client.Error
	if !errors.As(err, &ae) || !strings.Contains(ae.Hint, "--secret-key-file") {
		t.Errorf("hint %q does not name --secret-key-file", ae.Hint)
	}
	_, _, err = b.c.SubmitBatchRun(t.Context(), client.BatchRequest{Array: []int{0},
		Job: client.SubmitRequest{FileName: "x.py", Script: []byte("print(1)"), SecretEnv: map[string]string{"API_KEY": "v"}}})
	if _, code := apiCode(err); code != client.CodeNoSecretKey {
		t.Errorf("batch without a server key: %v, want %s", err, client.CodeNoSecretKey)
	}
	list, err := b.c.Jobs(t.Context(), client.ListOptions{})
	if err != nil || len(list.Jobs) != 0 {
		t.Fatalf("jobs stored after refusals: %v %d", err, len(list.Jobs))
	}
	// A job without secrets is welcome.
	if _, err := b.c.Submit(t.Context(), client.SubmitRequest{FileName: "x.py", Script: []byte("print(1)")}); err != nil {
		t.Fatal(err)
	}
}

func TestSecretEnvNamesChecked(t *testing.T) {
	t.Parallel()
	b := secretServer(t, filepath.Join(t.TempDir(), "rgrid.db"), newKey(t))
	for _, tc := range []struct {
		name string
		req  client.SubmitRequest
		want string
	}{
		{"both", client.SubmitRequest{Env: map[string]string{"A": "1"}, SecretEnv: map[string]string{"A": "2"}}, "both a plain and a secret"},
		{"reserved", client.SubmitRequest{SecretEnv: map[string]string{"RGRID_X": "2"}}, "reserved"},
		{"bad name", client.SubmitRequest{SecretEnv: map[string]string{"1A": "2"}}, "not valid"},
		{"nul", client.SubmitRequest{SecretEnv: map[string]string{"A": "x\x00y"}}, "NUL"},
	} {
		tc.req.FileName, tc.req.Script = "x.py", []byte("print(1)")
		_, err := b.c.Submit(t.Context(), tc.req)
		if _, code := apiCode(err); code != client.CodeInvalidRequest || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want invalid_request saying %q", tc.name, err, tc.want)
		}
	}
}

// Jobs submitted under one key and leased by a server with another end in
// error, saying the keys differ, and are not handed out; the values are
// not logged.
func TestSecretEnvWrongKeyFailsTheJob(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "rgrid.db")
	k1, k2 := newKey(t), newKey(t)
	a := secretServer(t, db, k1)
	const value = "wr0ngKey-S3cret-Hh3Jq"
	j, err := a.c.Submit(t.Context(), client.SubmitRequest{FileName: "x.py", Script: []byte("print(1)"),
		SecretEnv: map[string]string{"API_KEY": value}})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := a.c.Submit(t.Context(), client.SubmitRequest{FileName: "y.py", Script: []byte("print(2)")})
	if err != nil {
		t.Fatal(err)
	}
	b := secretServer(t, db, k2)
	leased := lease(t, b.c, "w1", 2)
	if len(leased) != 1 || leased[0].Job.ID != plain.ID {
		t.Fatalf("leased %v, want only the job without secrets", leased)
	}
	got, err := b.c.Job(t.Context(), j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != client.StateError || got.Reason != server.ReasonSecretKey ||
		!strings.Contains(got.Message, k1.ID()) || !strings.Contains(got.Message, k2.ID()) ||
		!strings.Contains(got.Message, "--secret-key-file") {
		t.Errorf("job = %s %s %q, want error %s naming both keys and --secret-key-file", got.State, got.Reason, got.Message, server.ReasonSecretKey)
	}
	logs := b.logs.String()
	if strings.Contains(logs, value) {
		t.Errorf("the server's log holds the secret value:\n%s", logs)
	}
	if !strings.Contains(logs, j.ID) {
		t.Errorf("the server's log does not say which job failed:\n%s", logs)
	}
	// Leasing again hands out nothing: the job has ended.
	if again := lease(t, b.c, "w1", 2); len(again) != 0 {
		t.Errorf("leased again: %v", again)
	}
}
