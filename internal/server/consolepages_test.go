package server_test

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rgrid/rgrid/internal/server"
)

// consoleAs logs into the console with secret and returns a client
// carrying its session cookie.
func consoleAs(t *testing.T, g *grid, secret string) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	c := &http.Client{Jar: jar}
	resp, err := c.PostForm(g.url+"/login", url.Values{"token": {secret}, "next": {"/jobs"}})
	require.NoError(t, err)
	body := readAll(t, resp)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	return c
}

// consolePage GETs a console page and returns its status and body.
func consolePage(t *testing.T, c *http.Client, base, path string) (int, string) {
	t.Helper()
	resp, err := c.Get(base + path)
	require.NoError(t, err)
	return resp.StatusCode, readAll(t, resp)
}

// TestConsoleJobPageFilesAndCost: a job's page lists its input and output
// files with links that download them (through the session cookie), links
// its output as text, and shows its cost; another user's session gets
// neither the page nor the files.
func TestConsoleJobPageFilesAndCost(t *testing.T) {
	t.Parallel()
	g := newGrid(t, server.Options{})
	data, page := []byte("a,b\n"), []byte("<script>alert(1)</script>")
	id := filesJob(t, g, data, page)
	alice := consoleAs(t, g, g.aliceSecret)
	status, body := consolePage(t, alice, g.url, "/jobs/"+id)
	require.Equal(t, http.StatusOK, status, body)
	in := "/v1/jobs/" + id + "/inputs/data/in%20put.csv"
	out := "/v1/jobs/" + id + "/outputs/out/report.html"
	require.Contains(t, body, `href="`+in+`"`)
	require.Contains(t, body, `href="`+out+`"`)
	require.Contains(t, body, `href="/v1/jobs/`+id+`/logs/text?stream=both"`)
	require.Contains(t, body, "0.000333 EUR", "60 s at 0.02 EUR an hour")
	require.NotContains(t, body, "<script>alert", "file contents are not in the page")

	status, got := consolePage(t, alice, g.url, in)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, string(data), got, "the link downloads the file's bytes")
	status, got = consolePage(t, alice, g.url, "/v1/jobs/"+id+"/logs/text?stream=stdout")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "out one\nout two\n", got)

	bob := consoleAs(t, g, g.bobSecret(t))
	for _, p := range []string{"/jobs/" + id, in, out, "/v1/jobs/" + id + "/logs/text"} {
		status, body := consolePage(t, bob, g.url, p)
		require.Equal(t, http.StatusNotFound, status, p)
		require.NotContains(t, body, "out one", p)
	}
}
