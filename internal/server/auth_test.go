package server_test

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/blob"
	"github.com/rgrid/rgrid/internal/database"
	"github.com/rgrid/rgrid/internal/runtimes"
	"github.com/rgrid/rgrid/internal/server"
	"github.com/rgrid/rgrid/internal/store"
)

// grid is a server with users: an admin, alice and bob (users), and a
// worker token, each with a client; secrets lists every token made.
type grid struct {
	url               string
	dbPath            string
	st                store.Store
	srv               *server.Server
	admin, alice, bob *client.Client
	worker, worker2   *client.Client
	aliceSecret       string
	secrets           []string
	mu                sync.Mutex
	now               time.Time
	logs              *bytes.Buffer
	logMu             *sync.Mutex
}

func (g *grid) clock() time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.now
}

func (g *grid) advance(d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.now = g.now.Add(d)
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func newGrid(t *testing.T, opts server.Options) *grid {
	t.Helper()
	g := &grid{now: time.Now().UTC(), logs: &bytes.Buffer{}, logMu: &sync.Mutex{}}
	g.dbPath = filepath.Join(t.TempDir(), "rgrid.db")
	st, err := database.Open(t.Context(), g.dbPath, database.Options{Migrate: true})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	g.st = st
	bs, err := blob.OpenLocal(t.TempDir())
	require.NoError(t, err)
	rt, _ := runtimes.New(nil)
	opts.Blobs, opts.Now = bs, g.clock
	g.srv = server.New(st, rt, slog.New(slog.NewTextHandler(lockedWriter{g.logMu, g.logs}, nil)), opts)
	ts := httptest.NewServer(g.srv.Handler())
	t.Cleanup(ts.Close)
	g.url = ts.URL

	secret, made, err := server.Bootstrap(t.Context(), st, "", g.clock())
	require.NoError(t, err)
	require.True(t, made)
	g.secrets = append(g.secrets, secret)
	g.admin = g.client(t, secret)
	user := func(name string) (*client.Client, string) {
		res, err := g.admin.CreateUser(t.Context(), client.CreateUserRequest{Name: name})
		require.NoError(t, err)
		require.Equal(t, name, res.User.Name)
		g.secrets = append(g.secrets, res.Token.Secret)
		return g.client(t, res.Token.Secret), res.Token.Secret
	}
	g.alice, g.aliceSecret = user("alice")
	g.bob, _ = user("bob")
	wt := func() *client.Client {
		tok, err := g.admin.CreateWorkerToken(t.Context(), client.CreateTokenRequest{Pool: "default", Name: "w"})
		require.NoError(t, err)
		require.Equal(t, client.TokenWorker, tok.Kind)
		g.secrets = append(g.secrets, tok.Secret)
		return g.client(t, tok.Secret)
	}
	g.worker, g.worker2 = wt().WithWorkerInstance("inst-1"), wt().WithWorkerInstance("inst-2")
	return g
}

func (g *grid) client(t *testing.T, token string) *client.Client {
	t.Helper()
	c, err := client.New(g.url, token)
	require.NoError(t, err)
	return c
}

func submit(t *testing.T, c *client.Client, name string) client.Job {
	t.Helper()
	j, err := c.Submit(t.Context(), client.SubmitRequest{Script: []byte("print('hi')\n"), FileName: name + ".py"})
	require.NoError(t, err)
	return j
}

func notFound(t *testing.T, err error, what string) {
	t.Helper()
	require.Truef(t, client.IsCode(err, client.CodeNotFound), "%s: want not_found, got %v", what, err)
}

func forbidden(t *testing.T, err error, what string) {
	t.Helper()
	require.Truef(t, client.IsCode(err, client.CodeForbidden), "%s: want forbidden, got %v", what, err)
}

// TestIsolation: another user's jobs, batches, logs, files and blobs are
// not found, on every path; the owner and admins see them.
func TestIsolation(t *testing.T) {
	t.Parallel()
	g := newGrid(t, server.Options{})
	ctx := t.Context()
	data := []byte("alice's private data\n")
	r := ref(data)
	missing, err := g.alice.MissingBlobs(ctx, []client.BlobRef{r})
	require.NoError(t, err)
	require.Len(t, missing, 1)
	require.NoError(t, g.alice.UploadBlob(ctx, missing[0], bytes.NewReader(data)))
	script := []byte("print(1)\n")
	sr := ref(script)
	up, err := g.alice.MissingBlobs(ctx, []client.BlobRef{sr})
	require.NoError(t, err)
	for _, u := range up {
		require.NoError(t, g.alice.UploadBlob(ctx, u, bytes.NewReader(script)))
	}
	job, err := g.alice.Submit(ctx, client.SubmitRequest{Script: script, FileName: "a.py",
		Inputs: &client.Manifest{Entries: []client.FileEntry{
			{Path: "a.py", Kind: "file", Size: sr.Size, SHA256: sr.SHA256},
			{Path: "data.txt", Kind: "file", Size: r.Size, SHA256: r.SHA256}}}})
	require.NoError(t, err)
	bobJob := submit(t, g.bob, "b")

	// Bob: not found everywhere.
	_, err = g.bob.Job(ctx, job.ID)
	notFound(t, err, "bob: status")
	_, err = g.bob.Logs(ctx, job.ID, client.LogOptions{})
	notFound(t, err, "bob: logs")
	_, err = g.bob.Follow(ctx, job.ID, client.FollowOptions{}, func(client.LogChunk) error { return nil })
	notFound(t, err, "bob: logs -f")
	_, err = g.bob.Cancel(ctx, job.ID)
	notFound(t, err, "bob: cancel")
	_, err = g.bob.JobOutputs(ctx, job.ID)
	notFound(t, err, "bob: outputs")
	_, err = g.bob.JobInputs(ctx, job.ID)
	notFound(t, err, "bob: inputs")
	_, _, err = g.bob.OpenBlob(ctx, r.SHA256, 0)
	notFound(t, err, "bob: blob download")
	missing, err = g.bob.MissingBlobs(ctx, []client.BlobRef{r})
	require.NoError(t, err)
	require.Len(t, missing, 1, "bob is not told alice's file exists")
	list, err := g.bob.Jobs(ctx, client.ListOptions{})
	require.NoError(t, err)
	require.Len(t, list.Jobs, 1)
	require.Equal(t, bobJob.ID, list.Jobs[0].ID, "bob lists only his own")
	for _, path := range []string{"/v1/jobs/" + job.ID, "/v1/jobs/" + job.ID + "/logs", "/v1/jobs/" + job.ID + "/logs/sse",
		"/v1/jobs/" + job.ID + "/outputs", "/v1/blobs/" + r.SHA256} {
		status, _ := raw(t, g.url, "GET", path, g.bobSecret(t), "")
		require.Equalf(t, http.StatusNotFound, status, "raw GET %s as bob", path)
	}
	status, _ := raw(t, g.url, "GET", "/v1/jobs?user=alice", g.bobSecret(t), "")
	require.Equal(t, http.StatusForbidden, status, "bob cannot list alice's by name")

	// Alice: everything works.
	got, err := g.alice.Job(ctx, job.ID)
	require.NoError(t, err)
	require.Equal(t, job.ID, got.ID)
	rc, _, err := g.alice.OpenBlob(ctx, r.SHA256, 0)
	require.NoError(t, err)
	b, _ := io.ReadAll(rc)
	rc.Close()
	require.Equal(t, data, b)
	missing, err = g.alice.MissingBlobs(ctx, []client.BlobRef{r})
	require.NoError(t, err)
	require.Empty(t, missing, "alice's own file is not sent again")

	// The admin sees both, and can list one user's.
	all, err := g.admin.Jobs(ctx, client.ListOptions{})
	require.NoError(t, err)
	require.Len(t, all.Jobs, 2)
	_, err = g.admin.Job(ctx, job.ID)
	require.NoError(t, err)
	status, body := raw(t, g.url, "GET", "/v1/jobs?user=bob", g.secrets[0], "")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, bobJob.ID)
	require.NotContains(t, body, job.ID)

	// An admin canceling another's job is audited; the owner's own is not.
	_, err = g.admin.Cancel(ctx, job.ID)
	require.NoError(t, err)
	_, err = g.bob.Cancel(ctx, bobJob.ID)
	require.NoError(t, err)
	page, err := g.admin.Audit(ctx, "", 100)
	require.NoError(t, err)
	var cancels []string
	for _, e := range page.Entries {
		if e.Action == "job.cancel" {
			cancels = append(cancels, e.Actor+" "+e.Target)
		}
	}
	require.Equal(t, []string{"admin " + job.ID}, cancels)
}

func (g *grid) bobSecret(t *testing.T) string { t.Helper(); return g.secrets[2] }

// raw makes a request with token (none for "") and returns its status
// and body.
func raw(t *testing.T, base, method, path, token, body string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, string(b)
}

// TestWorkersAreNotUsers: a user token cannot act as a worker, a worker
// token cannot act as a user, and a worker's report on an attempt
// another worker holds is refused and changes nothing.
func TestWorkersAreNotUsers(t *testing.T) {
	t.Parallel()
	g := newGrid(t, server.Options{})
	ctx := t.Context()
	_, err := g.alice.Register(ctx, client.RegisterRequest{ID: "rogue", Slots: 1, Executor: "process"})
	forbidden(t, err, "a user registering a worker")
	_, err = g.alice.Lease(ctx, "rogue", client.LeaseRequest{Max: 1})
	forbidden(t, err, "a user leasing")
	_, err = g.worker.Jobs(ctx, client.ListOptions{})
	forbidden(t, err, "a worker listing jobs")
	_, err = g.worker.Submit(ctx, client.SubmitRequest{Script: []byte("x"), FileName: "x.py"})
	forbidden(t, err, "a worker submitting")
	_, err = g.worker.CreateUser(ctx, client.CreateUserRequest{Name: "eve"})
	forbidden(t, err, "a worker making users")
	_, err = g.alice.CreateUser(ctx, client.CreateUserRequest{Name: "eve"})
	forbidden(t, err, "a user making users")

	job := submit(t, g.alice, "a")
	_, err = g.worker.Register(ctx, client.RegisterRequest{ID: "w1", Slots: 1, Executor: "process"})
	require.NoError(t, err)
	_, err = g.worker2.Register(ctx, client.RegisterRequest{ID: "w2", Slots: 1, Executor: "process"})
	require.NoError(t, err)
	l, err := g.worker.Lease(ctx, "w1", client.LeaseRequest{Max: 1, WaitSeconds: 5})
	require.NoError(t, err)
	require.Len(t, l.Jobs, 1)
	a := client.AttemptRef{JobID: job.ID, Attempt: l.Jobs[0].Attempt}

	// Worker 2 tries everything on worker 1's attempt and id.
	_, err = g.worker2.StartAttempt(ctx, a)
	forbidden(t, err, "start on another's attempt")
	_, err = g.worker2.UploadLogs(ctx, a, client.LogUpload{Chunks: []client.LogChunk{{Stream: client.Stdout, Seq: 1, Data: []byte("forged")}}})
	forbidden(t, err, "logs on another's attempt")
	exit := 0
	_, err = g.worker2.ReportResult(ctx, a, client.ResultReport{State: client.StateSucceeded, ExitCode: &exit})
	forbidden(t, err, "result on another's attempt")
	_, err = g.worker2.AttemptLog(ctx, a)
	forbidden(t, err, "reading another's attempt log offsets")
	rep, err := g.worker2.Reports(ctx, "w2", client.ReportsRequest{Starts: []client.AttemptRef{a},
		Results: []client.AttemptResult{{AttemptRef: a, ResultReport: client.ResultReport{State: client.StateSucceeded, ExitCode: &exit}}}})
	require.NoError(t, err)
	require.Equal(t, client.CodeForbidden, rep.Starts[0].Error.Code)
	require.Equal(t, client.CodeForbidden, rep.Results[0].Error.Code)
	_, err = g.worker2.Heartbeat(ctx, "w1", client.HeartbeatRequest{})
	forbidden(t, err, "a heartbeat as another worker")
	_, err = g.worker2.Lease(ctx, "w1", client.LeaseRequest{Max: 1})
	forbidden(t, err, "a lease as another worker")
	forbidden(t, g.worker2.Release(ctx, "w1", client.ReleaseRequest{}), "a release of another worker's jobs")
	_, err = g.worker2.Register(ctx, client.RegisterRequest{ID: "w1", Slots: 1, Executor: "process"})
	require.True(t, client.IsCode(err, client.CodeWorkerIDInUse), "taking a live worker's id: %v", err)

	// Nothing changed.
	got, err := g.alice.Job(ctx, job.ID)
	require.NoError(t, err)
	require.Equal(t, client.StateLeased, got.State)
	page, err := g.alice.Logs(ctx, job.ID, client.LogOptions{})
	require.NoError(t, err)
	require.Empty(t, page.Chunks)

	// The holder's own reports go through.
	_, err = g.worker.StartAttempt(ctx, a)
	require.NoError(t, err)
	_, err = g.worker.ReportResult(ctx, a, client.ResultReport{State: client.StateSucceeded, ExitCode: &exit})
	require.NoError(t, err)
	got, err = g.alice.Job(ctx, job.ID)
	require.NoError(t, err)
	require.Equal(t, client.StateSucceeded, got.State)
}

// TestTokens: a token's life: made, listed by prefix, used, expired,
// revoked; the store holds no secret.
func TestTokens(t *testing.T) {
	t.Parallel()
	g := newGrid(t, server.Options{})
	ctx := t.Context()
	who, err := g.alice.Whoami(ctx)
	require.NoError(t, err)
	require.Equal(t, client.Whoami{Kind: "user", User: "alice", Role: "user", Token: g.aliceSecret[:12]}, who)

	short, err := g.alice.CreateToken(ctx, client.CreateTokenRequest{Name: "ci", ExpiresInSeconds: 3600})
	require.NoError(t, err)
	g.secrets = append(g.secrets, short.Secret)
	require.Regexp(t, regexp.MustCompile(`^rgu_[0-9a-z]{40}$`), short.Secret)
	require.Equal(t, short.Secret[:12], short.ID)
	laptop, err := g.alice.CreateToken(ctx, client.CreateTokenRequest{Name: "laptop"})
	require.NoError(t, err)
	g.secrets = append(g.secrets, laptop.Secret)
	mine, err := g.alice.ListTokens(ctx, false)
	require.NoError(t, err)
	require.Len(t, mine, 3)
	for _, tk := range mine {
		require.Equal(t, "alice", tk.User)
	}
	_, err = g.alice.ListTokens(ctx, true)
	forbidden(t, err, "a user listing every token")
	all, err := g.admin.ListTokens(ctx, true)
	require.NoError(t, err)
	require.Len(t, all, 7, "the bootstrap, alice's three, bob's, two worker tokens")

	ci := g.client(t, short.Secret)
	_, err = ci.Jobs(ctx, client.ListOptions{})
	require.NoError(t, err)
	g.advance(2 * time.Hour)
	_, err = ci.Jobs(ctx, client.ListOptions{})
	require.True(t, client.IsCode(err, client.CodeUnauthorized), "expired: %v", err)
	require.Contains(t, err.Error(), "expired")

	lap := g.client(t, laptop.Secret)
	_, err = lap.Jobs(ctx, client.ListOptions{})
	require.NoError(t, err)
	_, err = g.bob.RevokeToken(ctx, laptop.ID)
	notFound(t, err, "bob revoking alice's token")
	rev, err := g.alice.RevokeToken(ctx, laptop.ID)
	require.NoError(t, err)
	require.NotNil(t, rev.RevokedAt)
	_, err = lap.Jobs(ctx, client.ListOptions{})
	require.True(t, client.IsCode(err, client.CodeUnauthorized), "revoked: %v", err)
	require.Contains(t, err.Error(), "revoked")
	mine, err = g.alice.ListTokens(ctx, false)
	require.NoError(t, err)
	for _, tk := range mine {
		if tk.ID == g.aliceSecret[:12] {
			require.NotNil(t, tk.LastUsedAt, "the token used has a last-used time")
		}
	}

	page, err := g.admin.Audit(ctx, "", 100)
	require.NoError(t, err)
	actions := map[string]int{}
	for _, e := range page.Entries {
		actions[e.Action]++
	}
	require.Equal(t, map[string]int{"token.create": 5, "user.create": 2, "worker_token.create": 2, "token.revoke": 1}, actions)
	_, err = g.alice.Audit(ctx, "", 10)
	forbidden(t, err, "a user reading the audit log")

	requireNoSecretStored(t, g)
	requireNoSecretLogged(t, g)
}

// requireNoSecretStored greps every table of the database for every
// token made.
func requireNoSecretStored(t *testing.T, g *grid) {
	t.Helper()
	db, err := sql.Open("sqlite", g.dbPath)
	require.NoError(t, err)
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
	require.NoError(t, err)
	var tables []string
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		tables = append(tables, n)
	}
	require.NoError(t, rows.Close())
	require.Contains(t, tables, "tokens")
	for _, table := range tables {
		rows, err := db.Query(`SELECT * FROM "` + table + `"`)
		require.NoError(t, err)
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			require.NoError(t, rows.Scan(ptrs...))
			line := fmt.Sprint(vals...)
			for _, v := range vals {
				if b, ok := v.([]byte); ok {
					line += string(b)
				}
			}
			for _, s := range g.secrets {
				require.NotContainsf(t, line, s[12:], "table %s holds a token's secret", table)
			}
		}
		require.NoError(t, rows.Close())
	}
}

func requireNoSecretLogged(t *testing.T, g *grid) {
	t.Helper()
	g.logMu.Lock()
	defer g.logMu.Unlock()
	for _, s := range g.secrets {
		require.NotContains(t, g.logs.String(), s[12:], "the server's log holds a token's secret")
	}
}

// TestOpenModeEndsWithTheFirstToken: a server without credentials takes
// calls without a token until its first token exists.
func TestOpenModeEndsWithTheFirstToken(t *testing.T) {
	t.Parallel()
	st, err := database.Open(t.Context(), filepath.Join(t.TempDir(), "rgrid.db"), database.Options{Migrate: true})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	rt, _ := runtimes.New(nil)
	srv := server.New(st, rt, slog.New(slog.DiscardHandler), server.Options{})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	anon, err := client.New(ts.URL, "")
	require.NoError(t, err)
	who, err := anon.Whoami(t.Context())
	require.NoError(t, err)
	require.Equal(t, "open", who.Kind)
	_, err = anon.Jobs(t.Context(), client.ListOptions{})
	require.NoError(t, err)
	_, _, err = server.Bootstrap(t.Context(), st, "", time.Now())
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := anon.Jobs(t.Context(), client.ListOptions{})
		return client.IsCode(err, client.CodeUnauthorized)
	}, 10*time.Second, 50*time.Millisecond, "the open server closes once a token exists")

	// The shared token of old is an admin, with a deprecation in the API's eyes.
	srv2 := server.New(st, rt, slog.New(slog.DiscardHandler), server.Options{Token: "s3cret"})
	ts2 := httptest.NewServer(srv2.Handler())
	t.Cleanup(ts2.Close)
	legacy, _ := client.New(ts2.URL, "s3cret")
	who, err = legacy.Whoami(t.Context())
	require.NoError(t, err)
	require.Equal(t, "legacy", who.Kind)
}

// TestIdempotentSubmit: the same key from the same user makes one job;
// another user's same key makes their own.
func TestIdempotentSubmit(t *testing.T) {
	t.Parallel()
	g := newGrid(t, server.Options{})
	ctx := t.Context()
	req := client.SubmitRequest{Script: []byte("print(1)\n"), FileName: "a.py", IdempotencyKey: "cli-abc"}
	first, err := g.alice.Submit(ctx, req)
	require.NoError(t, err)
	second, err := g.alice.Submit(ctx, req)
	require.NoError(t, err)
	require.Equal(t, first.ID, second.ID)
	status, body := raw(t, g.url, "POST", "/v1/jobs", g.aliceSecret, `{"script":"cHJpbnQoMSkK","file_name":"a.py"}`)
	require.Equal(t, http.StatusCreated, status, body)
	bobs, err := g.bob.Submit(ctx, req)
	require.NoError(t, err)
	require.NotEqual(t, first.ID, bobs.ID)
	list, err := g.alice.Jobs(ctx, client.ListOptions{})
	require.NoError(t, err)
	require.Len(t, list.Jobs, 2, "the keyed submission made one job, the unkeyed one another")
}

// TestQuotas: a user over their queued limit is refused with 429; one at
// their running limit waits while others' jobs run.
func TestQuotas(t *testing.T) {
	t.Parallel()
	g := newGrid(t, server.Options{MaxQueuedPerUser: 3, MaxRunningPerUser: 1})
	ctx := t.Context()
	for i := range 3 {
		submit(t, g.alice, fmt.Sprint("a", i))
	}
	_, err := g.alice.Submit(ctx, client.SubmitRequest{Script: []byte("x"), FileName: "x.py"})
	var e *client.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, http.StatusTooManyRequests, e.Status)
	require.Equal(t, client.CodeQuotaExceeded, e.Code)
	require.Contains(t, e.Message, "at most 3 queued jobs")

	// The admin raises alice's own limit.
	five := 5
	_, err = g.admin.SetUserLimits(ctx, "alice", client.UserLimitsRequest{MaxQueued: &five})
	require.NoError(t, err)
	submit(t, g.alice, "a3")
	bobJob := submit(t, g.bob, "b")

	_, err = g.worker.Register(ctx, client.RegisterRequest{ID: "w1", Slots: 10, Executor: "process"})
	require.NoError(t, err)
	l, err := g.worker.Lease(ctx, "w1", client.LeaseRequest{Max: 10, WaitSeconds: 1})
	require.NoError(t, err)
	var owners []string
	for _, j := range l.Jobs {
		owners = append(owners, j.Job.ID)
	}
	require.Len(t, l.Jobs, 2, "one of alice's (her running limit) and bob's: %v", owners)
	require.Equal(t, bobJob.ID, l.Jobs[1].Job.ID)
}

// TestDefaultDeny walks every route with, in turn, no token, an expired
// token, a revoked token, another user's token, a worker token and the
// owner's token, and checks each answer against the route's class. A
// route missing from the table fails the test.
func TestDefaultDeny(t *testing.T) {
	t.Parallel()
	g := newGrid(t, server.Options{})
	ctx := t.Context()
	files := filesJob(t, g, []byte("input of alice"), []byte("output of alice"))
	data := []byte("blob of alice")
	r := ref(data)
	up, err := g.alice.MissingBlobs(ctx, []client.BlobRef{r})
	require.NoError(t, err)
	require.NoError(t, g.alice.UploadBlob(ctx, up[0], bytes.NewReader(data)))
	job, err := g.alice.Submit(ctx, client.SubmitRequest{Script: []byte("x"), FileName: "a.py", Stdin: &r})
	require.NoError(t, err)
	batch, _, err := g.alice.SubmitBatchRun(ctx, client.BatchRequest{Job: client.SubmitRequest{Script: []byte("print(1)\n"), FileName: "b.py"},
		Array: []int{0, 1}})
	require.NoError(t, err)
	expired, err := g.alice.CreateToken(ctx, client.CreateTokenRequest{ExpiresInSeconds: 60})
	require.NoError(t, err)
	revoked, err := g.alice.CreateToken(ctx, client.CreateTokenRequest{})
	require.NoError(t, err)
	_, err = g.alice.RevokeToken(ctx, revoked.ID)
	require.NoError(t, err)
	g.advance(time.Hour) // expired is now

	// The table: every route, its class, and whether its path names
	// something of alice's (another user gets not found there).
	type entry struct {
		access string
		owned  bool   // the path names alice's job, batch or blob
		body   string // a valid body, so refusals are about who asks
		status int    // a public route's answer (default 200)
	}
	table := map[string]entry{
		"GET /v1/health":                         {access: "public"},
		"GET /metrics":                           {access: "admin"},
		"GET /v1/runtimes":                       {access: "user or worker"},
		"GET /v1/whoami":                         {access: "user or worker"},
		"POST /v1/jobs":                          {access: "user", body: `{"script":"eAo=","file_name":"x.py"}`},
		"POST /v1/jobs/batch":                    {access: "user", body: `{"jobs":[{"script":"eAo=","file_name":"x.py"}]}`},
		"GET /v1/jobs":                           {access: "user"},
		"GET /v1/jobs/{id}":                      {access: "user", owned: true},
		"POST /v1/jobs/{id}/cancel":              {access: "user", owned: true},
		"GET /v1/jobs/{id}/logs":                 {access: "user", owned: true},
		"GET /v1/jobs/{id}/logs/sse":             {access: "user", owned: true},
		"GET /v1/jobs/{id}/logs/ws":              {access: "user", owned: true},
		"POST /v1/batches":                       {access: "user", body: `{"job":{"script":"eAo=","file_name":"x.py"},"array":[0]}`},
		"GET /v1/batches":                        {access: "user"},
		"GET /v1/batches/{id}":                   {access: "user", owned: true},
		"PATCH /v1/batches/{id}":                 {access: "user", owned: true, body: `{"parallelism":1}`},
		"GET /v1/batches/{id}/jobs":              {access: "user", owned: true},
		"POST /v1/batches/{id}/cancel":           {access: "user", owned: true},
		"POST /v1/batches/{id}/retry":            {access: "user", owned: true},
		"GET /v1/jobs/{id}/inputs":               {access: "user", owned: true},
		"GET /v1/jobs/{id}/outputs":              {access: "user", owned: true},
		"GET /v1/jobs/{id}/inputs/{path...}":     {access: "user", owned: true},
		"GET /v1/jobs/{id}/outputs/{path...}":    {access: "user", owned: true},
		"GET /v1/jobs/{id}/logs/text":            {access: "user", owned: true},
		"POST /v1/blobs/missing":                 {access: "user or worker", body: `{"blobs":[]}`},
		"PUT /v1/blobs/{hash}":                   {access: "user or worker"},
		"GET /v1/blobs/{hash}":                   {access: "user or worker", owned: true},
		"GET /v1/stats":                          {access: "admin"},
		"GET /v1/users":                          {access: "admin"},
		"POST /v1/users":                         {access: "admin", body: `{"name":"carol"}`},
		"PATCH /v1/users/{name}":                 {access: "admin", body: `{}`},
		"PUT /v1/users/{name}/budget":            {access: "admin", body: `{"micros":null}`},
		"GET /v1/cost":                           {access: "user"},
		"GET /v1/tokens":                         {access: "user"},
		"POST /v1/tokens":                        {access: "user", body: `{}`},
		"DELETE /v1/tokens/{prefix}":             {access: "user", owned: true},
		"POST /v1/worker-tokens":                 {access: "admin", body: `{}`},
		"GET /v1/audit":                          {access: "admin"},
		"GET /v1/pools":                          {access: "admin"},
		"PUT /v1/pools/{name}/budget":            {access: "admin", body: `{"micros":null}`},
		"GET /v1/pool-budgets":                   {access: "admin"},
		"GET /v1/workers":                        {access: "user"},
		"POST /v1/workers":                       {access: "worker", body: `{"id":"wx","slots":1}`},
		"POST /v1/workers/{id}/heartbeat":        {access: "worker", body: `{}`},
		"POST /v1/workers/{id}/lease":            {access: "worker", body: `{}`},
		"POST /v1/workers/{id}/release":          {access: "worker", body: `{}`},
		"POST /v1/workers/{id}/reports":          {access: "worker", body: `{}`},
		"GET /v1/jobs/{id}/attempts/{n}/log":     {access: "worker"},
		"POST /v1/jobs/{id}/attempts/{n}/start":  {access: "worker"},
		"POST /v1/jobs/{id}/attempts/{n}/logs":   {access: "worker", body: `{}`},
		"POST /v1/jobs/{id}/attempts/{n}/result": {access: "worker", body: `{"state":"succeeded"}`},
		"GET /console/":                          {access: "public"},
		"GET /login":                             {access: "public"},
		"POST /login":                            {access: "public", status: http.StatusUnauthorized}, // no token in the form
		"POST /logout":                           {access: "public", status: http.StatusNoContent},
		"GET /{$}":                               {access: "console"},
		"GET /jobs":                              {access: "console"},
		"GET /jobs/{id}":                         {access: "console", owned: true},
		"GET /workers":                           {access: "console"},
		"GET /cost":                              {access: "console"},
		"GET /batches/{id}":                      {access: "console", owned: true},
	}
	routes := g.srv.Routes()
	require.NotEmpty(t, routes)
	for _, rt := range routes {
		e, ok := table[rt.Pattern]
		require.Truef(t, ok, "route %s (%s) has no entry in the default-deny table: add one", rt.Pattern, rt.Access)
		require.Equalf(t, e.access, rt.Access, "route %s", rt.Pattern)
	}
	require.Len(t, routes, len(table), "the table names routes the server does not have")

	bob := g.bobSecret(t)
	worker := g.secrets[len(g.secrets)-2]
	creds := []struct {
		name, token string
	}{{"no token", ""}, {"expired", expired.Secret}, {"revoked", revoked.Secret}, {"another user", bob}, {"worker", worker}, {"owner", g.aliceSecret}}
	for _, rt := range routes {
		e := table[rt.Pattern]
		method, path, _ := strings.Cut(rt.Pattern, " ")
		id := job.ID
		if strings.HasPrefix(path, "/v1/batches/") || strings.HasPrefix(path, "/batches/") {
			id = batch.ID
		}
		if strings.HasPrefix(path, "/v1/workers/") {
			id = "wx"
		}
		if strings.HasSuffix(path, "{path...}") {
			id = files // a job with files: their owner gets them
			file := "data/in%20put.csv"
			if strings.Contains(path, "/outputs/") {
				file = "out/report.html"
			}
			path = strings.Replace(path, "{path...}", file, 1)
		}
		path = strings.NewReplacer("{$}", "", "{id}", id, "{n}", "1", "{hash}", r.SHA256, "{name}", "bob", "{prefix}", g.aliceSecret[:12]).Replace(path)
		for _, c := range creds {
			if rt.Pattern == "DELETE /v1/tokens/{prefix}" && c.name == "owner" {
				continue // would revoke the owner's token for the rest of the walk
			}
			status, body := raw(t, g.url, method, path, c.token, e.body)
			what := fmt.Sprintf("%s %s with %s: %d %s", method, path, c.name, status, body)
			switch {
			case e.access == "public":
				require.Equal(t, cmp.Or(e.status, http.StatusOK), status, what)
			case e.access == "console" && (c.name == "no token" || c.name == "expired" || c.name == "revoked"):
				require.Equal(t, http.StatusOK, status, what)
				require.Contains(t, body, `name="token"`, "%s: sent to the login page", what)
			case e.access == "console" && c.name == "worker":
				require.Equal(t, http.StatusForbidden, status, what)
			case c.name == "no token" || c.name == "expired" || c.name == "revoked":
				require.Equal(t, http.StatusUnauthorized, status, what)
			case c.name == "worker" && (e.access == "user" || e.access == "admin"),
				c.name != "worker" && e.access == "worker",
				c.name != "worker" && e.access == "admin":
				require.Equal(t, http.StatusForbidden, status, what)
			case c.name == "another user" && e.owned:
				require.Equal(t, http.StatusNotFound, status, what)
			case c.name == "worker" && e.owned:
				require.Equal(t, http.StatusNotFound, status, what, "a worker reads blobs of attempts it holds only")
			default:
				require.NotContains(t, []int{http.StatusUnauthorized, http.StatusForbidden}, status, what)
				if c.name == "owner" && e.owned {
					require.NotEqual(t, http.StatusNotFound, status, what)
				}
			}
		}
	}
	requireNoSecretLogged(t, g)
}
