// Command consolepage measures the web console's pages with 1,000,000
// jobs in PostgreSQL: the jobs page (the first page, a page filtered by
// runtime, one filtered by a rare state and one deep in the history, a
// cursor near the oldest job), a job's page, the workers page and the cost
// page (an admin's: every user's sums, by user and by worker for the idle
// line, over 30 and 90 days, its first view on the fresh server apart), each over HTTP from a server in this process
// (open mode), against the anchor of the same run: GET /v1/jobs?limit=50,
// the API's own first page.
//
//	go run ./bench/consolepage            # needs RGRID_TEST_POSTGRES_URL
//
// The jobs are made by one INSERT … SELECT over generate_series (a few
// seconds per million): 1 in 10 of runtime python3.12, 1 in 50 failed,
// the rest succeeded, the newest 40 running; one job a minute over the
// last 694 days (so 43,200 in 30 days), each run up to 10 minutes on one
// of 20 workers priced 0.02 EUR an hour, owned by one of 10 users.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rgrid/rgrid/bench/internal/benchkit"
	"github.com/rgrid/rgrid/internal/database"
	"github.com/rgrid/rgrid/internal/runtimes"
	"github.com/rgrid/rgrid/internal/server"
	"github.com/rgrid/rgrid/internal/store"
)

func main() {
	benchkit.Main("consolepage", 15*time.Minute, run)
}

func run(ctx context.Context) error {
	n := benchkit.Pick(1_000_000, 50_000)
	runs := benchkit.Runs(5)
	admin, err := benchkit.AdminURL()
	if err != nil {
		return err
	}
	dbURL, drop, err := benchkit.CreateDB(ctx, admin, "bench_console")
	if err != nil {
		return err
	}
	defer drop()
	st, err := database.Open(ctx, dbURL, database.Options{Migrate: true})
	if err != nil {
		return err
	}
	defer st.Close()
	started := time.Now()
	if err := fill(ctx, dbURL, n); err != nil {
		return err
	}
	for i := range benchWorkers {
		w := store.Worker{ID: fmt.Sprintf("w%02d", i), Name: fmt.Sprintf("bench-%02d", i), Executor: "docker", Slots: 4,
			Pricing: store.Pricing{PriceMicros: 20000, Currency: "EUR", CPUs: 4, MemoryBytes: 8 << 30}}
		if _, err := st.UpsertWorker(ctx, w, time.Now().Add(-time.Minute)); err != nil {
			return fmt.Errorf("register worker %s: %w", w.ID, err)
		}
	}
	fmt.Fprintf(os.Stderr, "made %d jobs in %s\n", n, time.Since(started).Round(time.Millisecond))

	rt, _ := runtimes.New(nil)
	srv := server.New(st, rt, slog.New(slog.DiscardHandler), server.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer func() { _ = hs.Close() }()
	base := "http://" + ln.Addr().String()

	pages := []struct {
		fig  benchkit.Figure
		path string
	}{
		{benchkit.Figure{Name: "console.api", Unit: "ms", Desc: "anchor: GET /v1/jobs?limit=50, the API's first page (JSON)"}, "/v1/jobs?limit=50"},
		{benchkit.Figure{Name: "console.first", Unit: "ms", Anchor: "console.api", Target: "<=100", Desc: "GET /jobs, the console's first page of 50"}, "/jobs"},
		{benchkit.Figure{Name: "console.runtime", Unit: "ms", Anchor: "console.api", Target: "<=100", Desc: "GET /jobs?runtime=python3.12 (1 job in 10)"}, "/jobs?runtime=python3.12"},
		{benchkit.Figure{Name: "console.failed", Unit: "ms", Anchor: "console.api", Target: "<=100", Desc: "GET /jobs?state=failed (1 job in 50)"}, "/jobs?state=failed"},
		{benchkit.Figure{Name: "console.deep", Unit: "ms", Anchor: "console.api", Target: "<=100", Desc: "GET /jobs?cursor=1000, a page near the oldest job"}, "/jobs?cursor=1000"},
		{benchkit.Figure{Name: "console.job", Unit: "ms", Anchor: "console.api", Target: "<=100", Desc: "GET /jobs/{id}, a job's page (cost, attempts, files)"}, "/jobs/" + jobID(n/2)},
		{benchkit.Figure{Name: "console.workers", Unit: "ms", Anchor: "console.api", Target: "<=100", Desc: "GET /workers, 20 workers with their running jobs and prices"}, "/workers"},
		{benchkit.Figure{Name: "console.cost", Unit: "ms", Anchor: "console.api", Target: "<=100", Desc: "GET /cost, an admin's 30 days (43,200 jobs summed in SQL)"}, "/cost"},
		{benchkit.Figure{Name: "console.cost90", Unit: "ms", Anchor: "console.api", Desc: "GET /cost?since=90d, an admin's 90 days (129,600 jobs summed in SQL)"}, "/cost?since=90d"},
	}
	// The floor of any sum over the period: the database's bare count and
	// sum of the 30 days' rows, without HTTP, page or per-attempt cost.
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	scan := benchkit.Figure{Name: "console.costscan", Unit: "ms",
		Desc: "anchor: SELECT count(*), sum(rate_micros) over the same 30 days' 43,200 jobs (psql-like, no HTTP)"}
	// The cost page's first view on a fresh server sums every day of the
	// period; later views read the closed days' sums kept from it.
	cold, err := benchkit.Timed(func() error { return get(ctx, base+"/cost") })
	if err != nil {
		return fmt.Errorf("GET /cost: %w", err)
	}
	benchkit.Figure{Name: "console.costcold", Unit: "ms",
		Desc: "GET /cost, the first view on a fresh server (every day of the 30 summed; one sample)"}.Report(float64(cold.Microseconds()) / 1000)
	const perRun = 20
	for range runs {
		var d []time.Duration
		for range perRun {
			took, err := benchkit.Timed(func() error {
				var n, sum int64
				return conn.QueryRow(ctx, `SELECT count(*), coalesce(sum(rate_micros), 0) FROM jobs
					WHERE rate_micros > 0 AND finished_at >= now() - interval '30 days'`).Scan(&n, &sum)
			})
			if err != nil {
				return fmt.Errorf("scan: %w", err)
			}
			d = append(d, took)
		}
		scan.Report(float64(benchkit.Median(d).Microseconds()) / 1000)
		// Interleaved: each figure's requests in turn, the median of 20 a run.
		for _, p := range pages {
			var d []time.Duration
			for range perRun {
				took, err := benchkit.Timed(func() error { return get(ctx, base+p.path) })
				if err != nil {
					return fmt.Errorf("GET %s: %w", p.path, err)
				}
				d = append(d, took)
			}
			p.fig.Report(float64(benchkit.Median(d).Microseconds()) / 1000)
		}
	}
	return nil
}

func get(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// benchWorkers is how many workers the jobs ran on.
const benchWorkers = 20

// jobID is the id fill gives job g (1 to n).
func jobID(g int) string { return fmt.Sprintf("job_bench%011d", g) }

// fill inserts n jobs, oldest first, and analyzes the table.
func fill(ctx context.Context, dbURL string, n int) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, `INSERT INTO jobs (id, state, file_name, script, script_size, runtime,
			attempt, exit_code, reason, created_at, started_at, finished_at,
			owner_id, worker_id, rate_micros, currency)
		SELECT 'job_bench' || lpad(g::text, 11, '0'),
			CASE WHEN g > $1::int - 40 THEN 'running' WHEN g % 50 = 0 THEN 'failed' ELSE 'succeeded' END,
			'job.py', '\x'::bytea, 0,
			CASE WHEN g % 10 = 0 THEN 'python3.12' ELSE 'python3.11' END,
			1, CASE WHEN g > $1::int - 40 THEN NULL WHEN g % 50 = 0 THEN 1 ELSE 0 END,
			CASE WHEN g % 50 = 0 AND g <= $1::int - 40 THEN 'exit_code' ELSE '' END,
			t, t, CASE WHEN g > $1::int - 40 THEN NULL ELSE least(t + (g % 600) * interval '1 s', now()) END,
			'usr_bench' || (g % 10), 'w' || lpad((g % $2::int)::text, 2, '0'), 5000, 'EUR'
		FROM generate_series(1, $1::int) g,
			LATERAL (SELECT now() - ($1::int - g) * interval '1 minute' AS t) x`, n, benchWorkers)
	if err != nil {
		return fmt.Errorf("fill jobs: %w", err)
	}
	_, err = conn.Exec(ctx, `ANALYZE jobs`)
	return err
}
