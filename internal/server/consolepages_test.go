package server_test

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/money"
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

// TestConsoleCostPages: the cost page shows a user what their jobs cost
// (running ones so far) and nothing of another's; an admin sees every
// user and the idle capacity. The workers page shows each worker's price
// and the running jobs the caller may see; a running job's page says
// "so far"; a batch's page shows its spend and projection.
func TestConsoleCostPages(t *testing.T) {
	t.Parallel()
	g := newGrid(t, server.Options{})
	ctx := t.Context()
	filesJob(t, g, []byte("x"), []byte("y")) // alice's: 333 micro-units
	running := submit(t, g.bob, "running")
	l, err := g.worker.Lease(ctx, "w1", client.LeaseRequest{Max: 1, WaitSeconds: 5})
	require.NoError(t, err)
	require.Len(t, l.Jobs, 1)
	ar := client.AttemptRef{JobID: running.ID, Attempt: l.Jobs[0].Attempt}
	_, err = g.worker.StartAttempt(ctx, ar)
	require.NoError(t, err)
	g.advance(30 * time.Second) // bob's: 167 so far
	_, err = g.worker.Heartbeat(ctx, "w1", client.HeartbeatRequest{Running: []client.AttemptRef{ar}})
	require.NoError(t, err)

	alice, bob, admin := consoleAs(t, g, g.aliceSecret), consoleAs(t, g, g.bobSecret(t)), consoleAs(t, g, g.adminSecret())
	status, body := consolePage(t, alice, g.url, "/cost")
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, "<td>(no batch)</td>")
	require.Contains(t, body, "0.000333 EUR")
	require.NotContains(t, body, "0.000167", "bob's cost is not alice's to see")
	require.NotContains(t, body, "Idle capacity")
	_, body = consolePage(t, bob, g.url, "/cost?since=1d")
	require.Contains(t, body, "0.000167 EUR", "a running job's cost so far")
	require.NotContains(t, body, "0.000333")
	_, body = consolePage(t, admin, g.url, "/cost?since=7d")
	require.Contains(t, body, "<td>alice</td>")
	require.Contains(t, body, "<td>bob</td>")
	require.Contains(t, body, "<th>0.0005 EUR</th>", "the total: 333 + 167")
	require.Contains(t, body, "Idle capacity")
	require.Contains(t, body, "<td>default</td>")
	status, body = consolePage(t, alice, g.url, "/cost?since=forever")
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, "since=30d")

	_, body = consolePage(t, bob, g.url, "/jobs/"+running.ID)
	require.Contains(t, body, "0.000167 EUR</b> so far")

	_, body = consolePage(t, admin, g.url, "/workers")
	require.Contains(t, body, "0.02 EUR")
	require.Contains(t, body, `href="/jobs/`+running.ID+`"`)
	_, body = consolePage(t, alice, g.url, "/workers")
	require.Contains(t, body, "0.02 EUR")
	require.NotContains(t, body, running.ID, "another user's running job is not listed")
	_, body = consolePage(t, bob, g.url, "/workers")
	require.Contains(t, body, `href="/jobs/`+running.ID+`"`, "a user sees their own running job")
}

// TestConsoleBatchCost: a batch's page shows what its items cost so far
// (summed by the database) and the projection from the ended ones, as
// GET /v1/batches/{id} does.
func TestConsoleBatchCost(t *testing.T) {
	t.Parallel()
	g := newGrid(t, server.Options{})
	ctx := t.Context()
	b, _, err := g.alice.SubmitBatchRun(ctx, client.BatchRequest{Job: client.SubmitRequest{Script: []byte("print(1)\n"), FileName: "b.py"},
		Array: []int{0, 1}})
	require.NoError(t, err)
	_, err = g.worker.Register(ctx, client.RegisterRequest{ID: "w1", Slots: 1, Executor: "process",
		Pricing: &client.Pricing{PriceMicrosPerHour: 20000, Currency: "EUR"}})
	require.NoError(t, err)
	l, err := g.worker.Lease(ctx, "w1", client.LeaseRequest{Max: 1, WaitSeconds: 5})
	require.NoError(t, err)
	require.Len(t, l.Jobs, 1)
	ar := client.AttemptRef{JobID: l.Jobs[0].Job.ID, Attempt: l.Jobs[0].Attempt}
	_, err = g.worker.StartAttempt(ctx, ar)
	require.NoError(t, err)
	g.advance(time.Minute)
	exit := 0
	_, err = g.worker.ReportResult(ctx, ar, client.ResultReport{State: client.StateSucceeded, ExitCode: &exit, Started: true})
	require.NoError(t, err)

	got, err := g.alice.Batch(ctx, b.ID)
	require.NoError(t, err)
	require.Equal(t, &client.Money{Micros: 333, Currency: "EUR"}, got.Cost)
	require.Equal(t, &client.Money{Micros: 666, Currency: "EUR"}, got.Projected, "one of two ended at 333")
	status, body := consolePage(t, consoleAs(t, g, g.aliceSecret), g.url, "/batches/"+b.ID)
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, `<b id="spent">0.000333 EUR</b>`)
	require.Contains(t, body, `<b id="projected">0.000666 EUR</b>`)
	require.Contains(t, body, `<td data-count="succeeded">1</td>`)
}

// TestConsoleCostOverDays: the cost page keeps the sums of days that
// have ended and reads the rest again, and its total agrees with GET
// /v1/cost's (which sums every attempt itself) as days pass and a job
// keeps running.
func TestConsoleCostOverDays(t *testing.T) {
	t.Parallel()
	g := newGrid(t, server.Options{})
	ctx := t.Context()
	_, err := g.worker.Register(ctx, client.RegisterRequest{ID: "w1", Slots: 1, Executor: "process",
		Pricing: &client.Pricing{PriceMicrosPerHour: 20000, Currency: "EUR"}})
	require.NoError(t, err)
	run := func(d time.Duration, finish bool) {
		t.Helper()
		j := submit(t, g.alice, "day")
		l, err := g.worker.Lease(ctx, "w1", client.LeaseRequest{Max: 1, WaitSeconds: 5})
		require.NoError(t, err)
		require.Len(t, l.Jobs, 1)
		ar := client.AttemptRef{JobID: j.ID, Attempt: l.Jobs[0].Attempt}
		_, err = g.worker.StartAttempt(ctx, ar)
		require.NoError(t, err)
		g.advance(d)
		if finish {
			exit := 0
			_, err = g.worker.ReportResult(ctx, ar, client.ResultReport{State: client.StateSucceeded, ExitCode: &exit, Started: true})
			require.NoError(t, err)
		}
	}
	check := func(what string) {
		t.Helper()
		rep, err := g.alice.Cost(ctx, client.CostOptions{Since: "7d", By: "batch"})
		require.NoError(t, err)
		require.Len(t, rep.Total, 1, what)
		status, body := consolePage(t, consoleAs(t, g, g.aliceSecret), g.url, "/cost?since=7d")
		require.Equal(t, http.StatusOK, status, body)
		require.Contains(t, body, "<th>"+money.Format(rep.Total[0].Micros)+" EUR</th>", "%s: the API's total", what)
	}
	run(time.Minute, true)
	g.advance(26 * time.Hour)
	run(2*time.Minute, true)
	g.advance(26 * time.Hour)
	check("two days ended")
	run(3*time.Minute, false) // still running
	check("a job running")
	g.advance(25 * time.Hour) // its day ends while it runs
	check("a day later")
	now := g.clock()
	g.advance(now.Truncate(24 * time.Hour).Add(24*time.Hour + 15*time.Minute).Sub(now)) // 00:15 UTC: yesterday is not closed yet
	run(time.Minute, true)
	check("a job just after midnight")
	g.advance(time.Hour) // now it is
	check("an hour later")
}
