package server_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/server"
)

// metricSum adds up the series of family name whose labels include want:
// a counter's or gauge's value, a histogram's count of observations.
func metricSum(t *testing.T, g prometheus.Gatherer, name string, want map[string]string) float64 {
	t.Helper()
	fams, err := g.Gather()
	require.NoError(t, err)
	sum := 0.0
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue series
				}
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				sum += m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				sum += m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				sum += float64(m.GetHistogram().GetSampleCount())
			default:
				t.Fatalf("%s: type %s not summed", name, f.GetType())
			}
		}
		return sum
	}
	t.Fatalf("no metric family %s", name)
	return 0
}

// adminSecret is the bootstrap admin's token of a grid.
func (g *grid) adminSecret() string { return g.secrets[0] }

// TestMetricsCount drives jobs through every path the server records
// (single and batched reports, a start folded into its result, a repeated
// start, a lost attempt queued again, a cancel) and checks that each
// counter and histogram says how many; and that the store-backed gauges
// change only when read, not per scrape.
func TestMetricsCount(t *testing.T) {
	t.Parallel()
	g := newGrid(t, server.Options{})
	ctx := t.Context()
	m := g.srv.Metrics()
	sum := func(name string, labels map[string]string) float64 {
		t.Helper()
		return metricSum(t, m, name, labels)
	}
	const n = 6
	jobs := make([]client.Job, n)
	for i := range jobs {
		jobs[i] = submit(t, g.alice, "m")
		g.advance(time.Second)
	}
	rt := jobs[0].Runtime
	require.NotEmpty(t, rt)
	require.Equal(t, float64(n), sum("rgrid_jobs_submitted_total", nil))
	require.Equal(t, float64(n), sum("rgrid_jobs_submitted_total", map[string]string{"runtime": rt}))

	_, err := g.worker.Register(ctx, client.RegisterRequest{ID: "w1", Slots: n + 2, Executor: "process"})
	require.NoError(t, err)

	// The gauges are read when refreshed, not when scraped.
	require.Equal(t, 0.0, sum("rgrid_queue_jobs", nil))
	require.NoError(t, g.srv.RefreshMetrics(ctx))
	require.NoError(t, testutil.GatherAndCompare(m, strings.NewReader(`
# HELP rgrid_queue_jobs Jobs queued (read from the store once per metrics interval).
# TYPE rgrid_queue_jobs gauge
rgrid_queue_jobs 6
# HELP rgrid_slots Job slots of the workers that are not dead (read once per metrics interval).
# TYPE rgrid_slots gauge
rgrid_slots 8
# HELP rgrid_slots_in_use Attempts leased or running on workers (read once per metrics interval).
# TYPE rgrid_slots_in_use gauge
rgrid_slots_in_use 0
`), "rgrid_queue_jobs", "rgrid_slots", "rgrid_slots_in_use"))
	require.Equal(t, 1.0, sum("rgrid_workers", map[string]string{"state": "active"}))
	require.Equal(t, 0.0, sum("rgrid_workers", map[string]string{"state": "dead"}))
	// The first job was submitted n seconds ago; its age grows with the
	// clock between reads.
	require.Equal(t, float64(n), sum("rgrid_queue_oldest_job_age_seconds", nil))
	g.advance(4 * time.Second)
	require.Equal(t, float64(n+4), sum("rgrid_queue_oldest_job_age_seconds", nil))
	refreshed := sum("rgrid_metrics_refreshed_timestamp_seconds", nil)
	require.Positive(t, refreshed)

	l, err := g.worker.Lease(ctx, "w1", client.LeaseRequest{Max: n, WaitSeconds: 1})
	require.NoError(t, err)
	require.Len(t, l.Jobs, n)
	refs := make([]client.AttemptRef, n)
	for i, lj := range l.Jobs {
		refs[i] = client.AttemptRef{JobID: lj.Job.ID, Attempt: lj.Attempt}
	}
	require.Equal(t, 6.0, sum("rgrid_queue_jobs", nil), "a scrape does not read the store")
	require.Equal(t, refreshed, sum("rgrid_metrics_refreshed_timestamp_seconds", nil))
	require.NoError(t, g.srv.RefreshMetrics(ctx))
	require.Equal(t, 0.0, sum("rgrid_queue_jobs", nil))
	require.Equal(t, 0.0, sum("rgrid_queue_oldest_job_age_seconds", nil))
	require.Equal(t, float64(n), sum("rgrid_slots_in_use", nil))

	// Starts: half one by one, the rest but the last in one report; a
	// repeated start report is not counted again.
	g.advance(2 * time.Second)
	for _, r := range refs[:n/2] {
		_, err := g.worker.StartAttempt(ctx, r)
		require.NoError(t, err)
	}
	g.advance(time.Second)
	_, err = g.worker.Reports(ctx, "w1", client.ReportsRequest{Starts: refs[n/2 : n-1]})
	require.NoError(t, err)
	g.advance(time.Second)
	_, err = g.worker.StartAttempt(ctx, refs[0])
	require.NoError(t, err)
	require.Equal(t, float64(n-1), sum("rgrid_job_start_latency_seconds", nil))
	// Output of the first job.
	_, err = g.worker.UploadLogs(ctx, refs[0], client.LogUpload{Chunks: []client.LogChunk{
		{Attempt: 1, Stream: client.Stdout, Seq: 1, Time: g.clock(), Data: []byte("hello\n")},
		{Attempt: 1, Stream: client.Stderr, Seq: 1, Time: g.clock(), Data: []byte("oops\n")},
	}})
	require.NoError(t, err)

	// Results: all but the last two one by one; one failed in a batched
	// report; the last started and finished in one report (its start
	// counted once).
	g.advance(3 * time.Second)
	zero, one := 0, 1
	for _, r := range refs[:n-2] {
		_, err := g.worker.ReportResult(ctx, r, client.ResultReport{State: client.StateSucceeded, ExitCode: &zero, Started: true})
		require.NoError(t, err)
	}
	_, err = g.worker.Reports(ctx, "w1", client.ReportsRequest{Results: []client.AttemptResult{
		{AttemptRef: refs[n-2], ResultReport: client.ResultReport{State: client.StateFailed, ExitCode: &one, Reason: "exit_code", Started: true}},
	}})
	require.NoError(t, err)
	resp, err := g.worker.Reports(ctx, "w1", client.ReportsRequest{Starts: refs[n-1:], Results: []client.AttemptResult{
		{AttemptRef: refs[n-1], ResultReport: client.ResultReport{State: client.StateSucceeded, ExitCode: &zero, Started: true}},
	}})
	require.NoError(t, err)
	require.Nil(t, resp.Starts[0].Error)
	require.Nil(t, resp.Results[0].Error)
	require.Equal(t, float64(n), sum("rgrid_job_start_latency_seconds", nil))
	require.Equal(t, float64(n), sum("rgrid_job_run_seconds", nil))
	require.Equal(t, float64(n), sum("rgrid_jobs_finished_total", nil))
	require.Equal(t, float64(n-1), sum("rgrid_jobs_finished_total", map[string]string{"state": "succeeded", "runtime": rt}))
	require.Equal(t, 1.0, sum("rgrid_jobs_finished_total", map[string]string{"state": "failed"}))

	// A job whose worker reports it lost is queued again, then succeeds
	// on a second attempt (whose start is no submission's).
	again := submit(t, g.alice, "again")
	l, err = g.worker.Lease(ctx, "w1", client.LeaseRequest{Max: 1, WaitSeconds: 1})
	require.NoError(t, err)
	require.Len(t, l.Jobs, 1)
	r1 := client.AttemptRef{JobID: again.ID, Attempt: l.Jobs[0].Attempt}
	g.advance(time.Second)
	_, err = g.worker.StartAttempt(ctx, r1)
	require.NoError(t, err)
	g.advance(time.Second)
	j, err := g.worker.ReportResult(ctx, r1, client.ResultReport{State: client.StateLost, Reason: "worker_stopped", Started: true})
	require.NoError(t, err)
	require.Equal(t, client.StateQueued, j.State)
	require.Equal(t, 1.0, sum("rgrid_attempts_lost_total", map[string]string{"reason": "worker_stopped"}))
	require.Equal(t, 1.0, sum("rgrid_attempts_lost_total", nil))
	require.Equal(t, 1.0, sum("rgrid_jobs_retried_total", map[string]string{"cause": "attempt_lost"}))
	l, err = g.worker.Lease(ctx, "w1", client.LeaseRequest{Max: 1, WaitSeconds: 1})
	require.NoError(t, err)
	require.Len(t, l.Jobs, 1)
	r2 := client.AttemptRef{JobID: again.ID, Attempt: l.Jobs[0].Attempt}
	require.Equal(t, 2, r2.Attempt)
	g.advance(time.Second)
	_, err = g.worker.StartAttempt(ctx, r2)
	require.NoError(t, err)
	g.advance(time.Second)
	_, err = g.worker.ReportResult(ctx, r2, client.ResultReport{State: client.StateSucceeded, ExitCode: &zero, Started: true})
	require.NoError(t, err)

	// A queued job canceled ends at once.
	canceled := submit(t, g.alice, "canceled")
	_, err = g.alice.Cancel(ctx, canceled.ID)
	require.NoError(t, err)

	// A blob through the server.
	data := []byte("blob of metrics")
	up, err := g.alice.MissingBlobs(ctx, []client.BlobRef{ref(data)})
	require.NoError(t, err)
	require.NoError(t, g.alice.UploadBlob(ctx, up[0], bytes.NewReader(data)))

	require.Equal(t, float64(n+2), sum("rgrid_jobs_submitted_total", nil))
	require.Equal(t, float64(n+2), sum("rgrid_jobs_finished_total", nil))
	require.Equal(t, float64(n), sum("rgrid_jobs_finished_total", map[string]string{"state": "succeeded"}))
	require.Equal(t, 1.0, sum("rgrid_jobs_finished_total", map[string]string{"state": "canceled"}))
	require.Equal(t, float64(n+1), sum("rgrid_job_start_latency_seconds", nil), "first attempts only")
	require.Equal(t, float64(n+1), sum("rgrid_job_run_seconds", nil), "the canceled job never ran")
	require.NoError(t, testutil.GatherAndCompare(m, strings.NewReader(`
# HELP rgrid_blob_bytes_stored_total Bytes of files uploaded through this server into its blob store (presigned uploads go around it).
# TYPE rgrid_blob_bytes_stored_total counter
rgrid_blob_bytes_stored_total 15
# HELP rgrid_log_bytes_stored_total Bytes of job output this server stored (a retried upload's repeated chunks count again).
# TYPE rgrid_log_bytes_stored_total counter
rgrid_log_bytes_stored_total 11
`), "rgrid_blob_bytes_stored_total", "rgrid_log_bytes_stored_total"))

	// Requests count by route pattern, never by path.
	status, _ := raw(t, g.url, http.MethodGet, "/v1/jobs/job_nosuchjob", g.aliceSecret, "")
	require.Equal(t, http.StatusNotFound, status)
	status, _ = raw(t, g.url, http.MethodGet, "/v2/nothing/here", g.aliceSecret, "")
	require.Equal(t, http.StatusNotFound, status)
	require.Equal(t, float64(n+2), sum("rgrid_http_requests_total", map[string]string{"route": "POST /v1/jobs", "code": "201"}))
	require.Equal(t, 1.0, sum("rgrid_http_requests_total", map[string]string{"route": "GET /v1/jobs/{id}", "code": "404"}))
	require.Equal(t, 1.0, sum("rgrid_http_requests_total", map[string]string{"route": "/", "code": "404"}))
	fams, err := m.Gather()
	require.NoError(t, err)
	for _, f := range fams {
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				require.NotContains(t, l.GetValue(), "job_", "%s has a job id in a label", f.GetName())
				require.NotContains(t, l.GetValue(), "alice", "%s has a user in a label", f.GetName())
			}
		}
	}

	problems, err := testutil.GatherAndLint(m)
	require.NoError(t, err)
	require.Empty(t, problems)
}

// TestMetricsLostAndExpired: the reaper's own changes count (a dead
// worker's attempt lost and queued again, then lost for good; a job run
// past its time limit), and the gauges loop runs between Start and Stop.
func TestMetricsLostAndExpired(t *testing.T) {
	t.Parallel()
	g := newGrid(t, server.Options{MaxAttempts: 1, DeadAfter: 15 * time.Second, ReapInterval: 10 * time.Millisecond,
		TimeoutGrace: time.Second, MetricsInterval: 10 * time.Millisecond})
	ctx := t.Context()
	m := g.srv.Metrics()
	sum := func(name string, labels map[string]string) float64 {
		t.Helper()
		return metricSum(t, m, name, labels)
	}
	lost := submit(t, g.alice, "lost")
	slow, err := g.alice.Submit(ctx, client.SubmitRequest{Script: []byte("print(1)\n"), FileName: "slow.py",
		Limits: client.Limits{TimeoutSeconds: 5}})
	require.NoError(t, err)
	for _, w := range []struct {
		c  *client.Client
		id string
	}{{g.worker, "dying"}, {g.worker2, "silent"}} {
		_, err := w.c.Register(ctx, client.RegisterRequest{ID: w.id, Slots: 1, Executor: "process"})
		require.NoError(t, err)
		l, err := w.c.Lease(ctx, w.id, client.LeaseRequest{Max: 1, WaitSeconds: 1})
		require.NoError(t, err)
		require.Len(t, l.Jobs, 1)
		_, err = w.c.StartAttempt(ctx, client.AttemptRef{JobID: l.Jobs[0].Job.ID, Attempt: l.Jobs[0].Attempt})
		require.NoError(t, err)
	}

	require.NoError(t, g.srv.Start(ctx))
	t.Cleanup(g.srv.Stop)
	require.Eventually(t, func() bool { return sum("rgrid_slots_in_use", nil) == 2 }, 10*time.Second, 5*time.Millisecond,
		"the gauges loop reads the store after Start")
	// Past the dead-after interval (and the slow job's time limit and
	// grace): the dying worker's job is lost (one attempt allowed); the
	// silent one's worker heartbeats halfway, so it stays alive through
	// every reaper pass, and its job is expired.
	g.advance(10 * time.Second)
	_, err = g.worker2.Heartbeat(ctx, "silent", client.HeartbeatRequest{Running: []client.AttemptRef{{JobID: slow.ID, Attempt: 1}}})
	require.NoError(t, err)
	g.advance(10 * time.Second)
	require.Eventually(t, func() bool {
		return sum("rgrid_jobs_finished_total", map[string]string{"state": "lost"}) == 1 &&
			sum("rgrid_jobs_finished_total", map[string]string{"state": "timed_out"}) == 1
	}, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, 1.0, sum("rgrid_attempts_lost_total", map[string]string{"reason": "worker_lost"}))
	require.Equal(t, 0.0, sum("rgrid_jobs_retried_total", nil))
	require.Equal(t, 2.0, sum("rgrid_job_run_seconds", nil))
	require.Eventually(t, func() bool {
		return sum("rgrid_workers", map[string]string{"state": "dead"}) == 1 && sum("rgrid_slots_in_use", nil) == 0
	}, 10*time.Second, 5*time.Millisecond)
	for _, id := range []string{lost.ID, slow.ID} {
		j, err := g.alice.Job(ctx, id)
		require.NoError(t, err)
		require.True(t, j.State.Terminal(), "%s is %s", id, j.State)
	}
	g.srv.Stop()
	after := sum("rgrid_metrics_refreshed_timestamp_seconds", nil)
	g.advance(time.Minute)
	require.Equal(t, after, sum("rgrid_metrics_refreshed_timestamp_seconds", nil), "no read after Stop")
}

// TestMetricsPromtool: GET /metrics, as Prometheus scrapes it with an
// admin's token, passes promtool check metrics (Debian's prometheus
// package; scripts/test.sh installs it).
func TestMetricsPromtool(t *testing.T) {
	t.Parallel()
	promtool := lookTool(t, "promtool")
	g := newGrid(t, server.Options{})
	submit(t, g.alice, "p")
	require.NoError(t, g.srv.RefreshMetrics(t.Context()))

	status, body := raw(t, g.url, http.MethodGet, "/metrics", g.adminSecret(), "")
	require.Equal(t, http.StatusOK, status, body)
	for _, want := range []string{"rgrid_jobs_submitted_total{", "rgrid_queue_jobs 1", "go_goroutines", "process_cpu_seconds_total"} {
		require.Contains(t, body, want)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "promtool check metrics:\n%s", out)
}

// lookTool finds a program the test needs; missing, it skips, or fails
// under CI=true (scripts/test.sh installs it).
func lookTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (CI=true): run scripts/test.sh, which installs Debian's prometheus package (scripts/prometheus.sh)", name)
		}
		t.Skipf("%s is not installed: scripts/prometheus.sh install (Debian's prometheus package)", name)
	}
	return p
}
