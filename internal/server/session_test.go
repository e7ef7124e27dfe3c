package server_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/database"
	"github.com/rgrid/rgrid/internal/runtimes"
	"github.com/rgrid/rgrid/internal/server"
	"github.com/rgrid/rgrid/internal/testdb"
)

// TestConsoleSession: a token logs in for an HttpOnly, SameSite=Strict
// cookie; the cookie authenticates the API as that user (another user's
// job is not found); a change needs the session's CSRF header; a
// revoked token ends the session.
func TestConsoleSession(t *testing.T) {
	t.Parallel()
	g := newGrid(t, server.Options{})
	ctx := t.Context()
	mine := submit(t, g.alice, "mine")
	theirs := submit(t, g.bob, "theirs")

	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	c := &http.Client{Jar: jar}
	resp, err := c.PostForm(g.url+"/login", url.Values{"token": {g.aliceSecret}, "next": {"/jobs/" + mine.ID}})
	require.NoError(t, err)
	body := readAll(t, resp)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.Equal(t, "/jobs/"+mine.ID, resp.Request.URL.Path, "sent where it asked")
	require.Contains(t, body, mine.ID)
	require.NotContains(t, body, g.aliceSecret)
	setCookie := resp.Request.Response.Header.Get("Set-Cookie")
	require.Contains(t, setCookie, "HttpOnly")
	require.Contains(t, setCookie, "SameSite=Strict")
	require.NotContains(t, setCookie, g.aliceSecret, "the cookie does not carry the token")
	csrf := regexp.MustCompile(`name="csrf" content="([^"]+)"`).FindStringSubmatch(body)
	require.Len(t, csrf, 2, "the page carries the CSRF token")

	get := func(path string) int {
		resp, err := c.Get(g.url + path)
		require.NoError(t, err)
		readAll(t, resp)
		return resp.StatusCode
	}
	require.Equal(t, http.StatusOK, get("/v1/jobs/"+mine.ID))
	require.Equal(t, http.StatusNotFound, get("/v1/jobs/"+theirs.ID))
	require.Equal(t, http.StatusNotFound, get("/jobs/"+theirs.ID))
	batch, _, err := g.alice.SubmitBatchRun(ctx, client.BatchRequest{Job: client.SubmitRequest{Script: []byte("print(1)\n"), FileName: "b.py"},
		Array: []int{0, 1}})
	require.NoError(t, err)
	for path, want := range map[string]string{"/jobs": mine.ID, "/batches/" + batch.ID: batch.ID, "/workers": "Workers"} {
		resp, err := c.Get(g.url + path)
		require.NoError(t, err)
		body := readAll(t, resp)
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		require.Contains(t, body, want, path)
		require.NotContains(t, body, theirs.ID, path)
	}

	post := func(path, token string) int {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.url+path, nil)
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("X-RGrid-CSRF", token)
		}
		resp, err := c.Do(req)
		require.NoError(t, err)
		readAll(t, resp)
		return resp.StatusCode
	}
	require.Equal(t, http.StatusForbidden, post("/v1/jobs/"+mine.ID+"/cancel", ""), "no CSRF header")
	require.Equal(t, http.StatusForbidden, post("/v1/jobs/"+mine.ID+"/cancel", "forged"), "a wrong CSRF header")
	j, err := g.alice.Job(ctx, mine.ID)
	require.NoError(t, err)
	require.False(t, j.CancelRequested, "refused changes changed nothing")
	require.Equal(t, http.StatusOK, post("/v1/jobs/"+mine.ID+"/cancel", csrf[1]))

	// A bad token does not log in.
	resp, err = http.PostForm(g.url+"/login", url.Values{"token": {"rgu_" + strings.Repeat("x", 40)}})
	require.NoError(t, err)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Contains(t, readAll(t, resp), "not known")

	// Revoking the token ends the session.
	toks, err := g.alice.ListTokens(ctx, false)
	require.NoError(t, err)
	for _, tk := range toks {
		_, err = g.admin.RevokeToken(ctx, tk.ID)
		require.NoError(t, err)
	}
	g.advance(11 * time.Second) // past the token cache
	require.Equal(t, http.StatusUnauthorized, get("/v1/jobs/"+mine.ID))
	resp, err = c.Get(g.url + "/jobs")
	require.NoError(t, err)
	require.Equal(t, "/login", resp.Request.URL.Path, "the console sends the browser to log in")
	readAll(t, resp)
	requireNoSecretLogged(t, g)
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// TestConsoleSessionSharedKey: two replicas on one PostgreSQL database
// sign sessions with the key stored there, so a session made on one works
// on the other, its CSRF token included, and on a server started after
// both have stopped (a restart).
func TestConsoleSessionSharedKey(t *testing.T) {
	t.Parallel()
	dbURL := testdb.PostgresURL(t)
	rt, _ := runtimes.New(nil)
	replica := func() string {
		st, err := database.Open(t.Context(), dbURL, database.Options{Migrate: true})
		require.NoError(t, err)
		t.Cleanup(func() { st.Close() })
		ts := httptest.NewServer(server.New(st, rt, slog.New(slog.DiscardHandler), server.Options{}).Handler())
		t.Cleanup(ts.Close)
		return ts.URL
	}
	a, b := replica(), replica()
	st, err := database.Open(t.Context(), dbURL, database.Options{})
	require.NoError(t, err)
	defer st.Close()
	secret, _, err := server.Bootstrap(t.Context(), st, "", time.Now())
	require.NoError(t, err)
	admin, err := client.New(a, secret)
	require.NoError(t, err)
	job := submit(t, admin, "shared")

	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	c := &http.Client{Jar: jar}
	resp, err := c.PostForm(a+"/login", url.Values{"token": {secret}, "next": {"/jobs/" + job.ID}})
	require.NoError(t, err)
	body := readAll(t, resp)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	csrf := regexp.MustCompile(`name="csrf" content="([^"]+)"`).FindStringSubmatch(body)
	require.Len(t, csrf, 2, "the page carries the CSRF token")
	au, err := url.Parse(a)
	require.NoError(t, err)
	cookies := jar.Cookies(au)
	require.Len(t, cookies, 1)

	// The same cookie on replica b (another address: set it there).
	on := func(base string) (int, string) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/jobs/"+job.ID, nil)
		require.NoError(t, err)
		req.AddCookie(cookies[0])
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		return resp.StatusCode, readAll(t, resp)
	}
	status, page := on(b)
	require.Equal(t, http.StatusOK, status, page)
	require.Contains(t, page, job.ID, "replica b takes replica a's session")
	require.Contains(t, page, csrf[1], "and gives it the same CSRF token")
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, b+"/v1/jobs/"+job.ID+"/cancel", nil)
	require.NoError(t, err)
	req.AddCookie(cookies[0])
	req.Header.Set("X-RGrid-CSRF", csrf[1])
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, readAll(t, resp))

	// A server started later (a restart) takes it too.
	status, page = on(replica())
	require.Equal(t, http.StatusOK, status, page)
	require.Contains(t, page, job.ID)
	// A cookie signed with another key does not.
	forged := *cookies[0]
	forged.Value = forged.Value[:strings.LastIndex(forged.Value, ".")+1] + "AAAA"
	req, err = http.NewRequestWithContext(t.Context(), http.MethodGet, b+"/v1/jobs/"+job.ID, nil)
	require.NoError(t, err)
	req.AddCookie(&forged)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, readAll(t, resp))
}
