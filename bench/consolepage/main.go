// Command consolepage measures the web console's jobs page with 1,000,000
// jobs in PostgreSQL: the first page, a page filtered by runtime, one
// filtered by a rare state and one deep in the history (a cursor near the
// oldest job), each over HTTP from a server in this process (open mode),
// against the anchor of the same run: GET /v1/jobs?limit=50, the API's
// own first page.
//
//	go run ./bench/consolepage            # needs RGRID_TEST_POSTGRES_URL
//
// The jobs are made by one INSERT … SELECT over generate_series (a few
// seconds per million): 1 in 10 of runtime python3.12, 1 in 50 failed,
// the rest succeeded.
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
	}
	const perRun = 20
	for range runs {
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

// fill inserts n finished jobs, oldest first, and analyzes the table.
func fill(ctx context.Context, dbURL string, n int) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, `INSERT INTO jobs (id, state, file_name, script, script_size, runtime,
			attempt, exit_code, reason, created_at, started_at, finished_at)
		SELECT 'job_bench' || lpad(g::text, 11, '0'),
			CASE WHEN g % 50 = 0 THEN 'failed' ELSE 'succeeded' END,
			'job.py', '\x'::bytea, 0,
			CASE WHEN g % 10 = 0 THEN 'python3.12' ELSE 'python3.11' END,
			1, CASE WHEN g % 50 = 0 THEN 1 ELSE 0 END,
			CASE WHEN g % 50 = 0 THEN 'exit_code' ELSE '' END,
			t, t, t
		FROM generate_series(1, $1::int) g,
			LATERAL (SELECT now() - ($1::int - g) * interval '1 ms' AS t) x`, n)
	if err != nil {
		return fmt.Errorf("fill jobs: %w", err)
	}
	_, err = conn.Exec(ctx, `ANALYZE jobs`)
	return err
}
