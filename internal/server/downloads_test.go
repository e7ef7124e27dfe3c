package server_test

import (
	"bytes"
	"context"
	"io"
	"mime"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/server"
)

// uploadAs sends c's blobs the server lacks.
func uploadAs(t *testing.T, c *client.Client, blobs ...[]byte) {
	t.Helper()
	byHash := map[string][]byte{}
	var refs []client.BlobRef
	for _, d := range blobs {
		r := ref(d)
		refs, byHash[r.SHA256] = append(refs, r), d
	}
	missing, err := c.MissingBlobs(t.Context(), refs)
	require.NoError(t, err)
	for _, up := range missing {
		require.NoError(t, c.UploadBlob(t.Context(), up, bytes.NewReader(byHash[up.SHA256])))
	}
}

// got is a response, its body read.
type got struct {
	StatusCode int
	Header     http.Header
}

// download GETs path with token and headers "Range" (if rng is set),
// returning the response and its body.
func download(t *testing.T, base, path, token, rng string) (got, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return got{resp.StatusCode, resp.Header}, b
}

// attachment is the file name of a response that is an attachment.
func attachment(t *testing.T, resp got) string {
	t.Helper()
	d, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition"))
	require.NoError(t, err)
	require.Equal(t, "attachment", d)
	return params["filename"]
}

// filesJob is a finished job of alice's with an input file, an output
// page of HTML, and output on both streams, run for a minute on a worker
// priced 0.02 EUR an hour: its id.
func filesJob(t *testing.T, g *grid, data, page []byte) string {
	t.Helper()
	ctx := t.Context()
	script := []byte("print(open('data/in put.csv').read())\n")
	uploadAs(t, g.alice, script, data)
	job, err := g.alice.Submit(ctx, client.SubmitRequest{Script: script, FileName: "main.py", Inputs: &client.Manifest{Entries: []client.FileEntry{
		{Path: "data/in put.csv", Kind: "file", Size: int64(len(data)), SHA256: ref(data).SHA256},
		{Path: "main.py", Kind: "file", Size: int64(len(script)), SHA256: ref(script).SHA256},
	}}})
	require.NoError(t, err)
	_, err = g.worker.Register(ctx, client.RegisterRequest{ID: "w1", Slots: 1, Executor: "process",
		Pricing: &client.Pricing{PriceMicrosPerHour: 20000, Currency: "EUR"}})
	require.NoError(t, err)
	l, err := g.worker.Lease(ctx, "w1", client.LeaseRequest{Max: 1, WaitSeconds: 5})
	require.NoError(t, err)
	require.Len(t, l.Jobs, 1)
	ar := client.AttemptRef{JobID: job.ID, Attempt: l.Jobs[0].Attempt}
	_, err = g.worker.StartAttempt(ctx, ar)
	require.NoError(t, err)
	_, err = g.worker.UploadLogs(ctx, ar, client.LogUpload{Chunks: []client.LogChunk{
		{Stream: client.Stdout, Seq: 0, Time: g.clock(), Data: []byte("out one\n")},
		{Stream: client.Stderr, Seq: 0, Time: g.clock(), Data: []byte("err <b>one</b>\n")},
		{Stream: client.Stdout, Seq: 1, Time: g.clock(), Data: []byte("out two\n")},
	}})
	require.NoError(t, err)
	uploadAs(t, g.worker, page)
	g.advance(time.Minute) // 60/3600 × 0.02 EUR: 333 micro-units
	exit := 0
	_, err = g.worker.ReportResult(ctx, ar, client.ResultReport{State: client.StateSucceeded, ExitCode: &exit, Started: true,
		Outputs: &client.Manifest{Entries: []client.FileEntry{{Path: "out/report.html", Kind: "file", Size: int64(len(page)), SHA256: ref(page).SHA256}}}})
	require.NoError(t, err)
	return job.ID
}

// TestJobFileDownloads: a job's input and output files download by path
// as attachments of a type no browser runs, with byte ranges; another
// user is told they do not exist, and so is a path not in the manifest.
func TestJobFileDownloads(t *testing.T) {
	t.Parallel()
	g := newGrid(t, server.Options{})
	data, page := []byte("a,b\n1,2\n3,4\n"), []byte("<script>alert(1)</script>")
	id := filesJob(t, g, data, page)
	alice, bob := g.aliceSecret, g.bobSecret(t)

	in := "/v1/jobs/" + id + "/inputs/data/in%20put.csv"
	resp, body := download(t, g.url, in, alice, "")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Equal(t, data, body)
	require.Equal(t, "in put.csv", attachment(t, resp))
	require.Equal(t, "text/plain; charset=utf-8", resp.Header.Get("Content-Type"))
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	require.Equal(t, "bytes", resp.Header.Get("Accept-Ranges"))

	for _, c := range []struct {
		rng, want, contentRange string
		status                  int
	}{
		{"bytes=2-5", string(data[2:6]), "bytes 2-5/12", http.StatusPartialContent},
		{"bytes=8-", string(data[8:]), "bytes 8-11/12", http.StatusPartialContent},
		{"bytes=-3", string(data[9:]), "bytes 9-11/12", http.StatusPartialContent},
		{"bytes=4-100", string(data[4:]), "bytes 4-11/12", http.StatusPartialContent},
		{"bytes=0-1,4-5", string(data), "", http.StatusOK}, // several ranges: the whole file
		{"bytes=12-", "", "bytes */12", http.StatusRequestedRangeNotSatisfiable},
	} {
		resp, body := download(t, g.url, in, alice, c.rng)
		require.Equal(t, c.status, resp.StatusCode, c.rng)
		require.Equal(t, c.contentRange, resp.Header.Get("Content-Range"), c.rng)
		if c.status != http.StatusRequestedRangeNotSatisfiable {
			require.Equal(t, c.want, string(body), c.rng)
		}
	}

	out := "/v1/jobs/" + id + "/outputs/out/report.html"
	resp, body = download(t, g.url, out, alice, "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, page, body)
	require.Equal(t, "application/octet-stream", resp.Header.Get("Content-Type"), "job output is never served as HTML")
	require.Equal(t, "report.html", attachment(t, resp))
	require.Contains(t, resp.Header.Get("Content-Security-Policy"), "sandbox")
	resp, body = download(t, g.url, out, g.adminSecret(), "")
	require.Equal(t, http.StatusOK, resp.StatusCode, "an admin reads every job's files")
	require.Equal(t, page, body)

	for _, p := range []string{in, out} {
		resp, body := download(t, g.url, p, bob, "")
		require.Equal(t, http.StatusNotFound, resp.StatusCode, "another user: %s", p)
		require.NotContains(t, string(body), string(data))
		require.NotContains(t, string(body), "<script>")
	}
	for _, p := range []string{
		"/v1/jobs/" + id + "/inputs/data/other.csv",
		"/v1/jobs/" + id + "/inputs/data",               // a directory, not a file
		"/v1/jobs/" + id + "/outputs/data/in%20put.csv", // an input, asked as an output
		"/v1/jobs/job_unknown/inputs/data/in%20put.csv",
	} {
		resp, body := download(t, g.url, p, alice, "")
		require.Equal(t, http.StatusNotFound, resp.StatusCode, p)
		require.Contains(t, string(body), `"not_found"`, p)
	}
}

// TestLogText: a job's output downloads as plain text, by stream and
// attempt, as an attachment; another user is told the job does not exist.
func TestLogText(t *testing.T) {
	t.Parallel()
	g := newGrid(t, server.Options{})
	id := filesJob(t, g, []byte("x"), []byte("y"))
	base := "/v1/jobs/" + id + "/logs/text"
	for _, c := range []struct{ query, want, file string }{
		{"", "out one\nerr <b>one</b>\nout two\n", id + ".log"},
		{"?stream=both", "out one\nerr <b>one</b>\nout two\n", id + ".log"},
		{"?stream=stdout", "out one\nout two\n", id + ".stdout.log"},
		{"?stream=stderr&attempt=1", "err <b>one</b>\n", id + ".stderr.attempt1.log"},
		{"?stream=stdout&attempt=2", "", id + ".stdout.attempt2.log"},
	} {
		resp, body := download(t, g.url, base+c.query, g.aliceSecret, "")
		require.Equal(t, http.StatusOK, resp.StatusCode, c.query)
		require.Equal(t, c.want, string(body), c.query)
		require.Equal(t, "text/plain; charset=utf-8", resp.Header.Get("Content-Type"), c.query)
		require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"), c.query)
		require.Equal(t, c.file, attachment(t, resp), c.query)
	}
	resp, body := download(t, g.url, base, g.bobSecret(t), "")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.NotContains(t, string(body), "out one")
	for _, q := range []string{"?stream=colour", "?attempt=0", "?attempt=x"} {
		resp, body := download(t, g.url, base+q, g.aliceSecret, "")
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, q)
		require.Contains(t, string(body), `"hint"`, q)
	}
}
