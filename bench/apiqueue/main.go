// Command apiqueue measures RGrid's queue through the API, end to end: an
// rgrid server on PostgreSQL and 4 workers whose executor completes at once
// (bench/internal/instantworker), N jobs submitted in batches of 100
// (POST /v1/jobs/batch) by concurrent submitters through the public client
// (-batch 1: one POST /v1/jobs per job), and jobs per second from the submit of the
// first to the finish of the last (the finished_at the server records).
//
//	go run ./bench/apiqueue -n 10000 -runs 5   # needs RGRID_TEST_POSTGRES_URL
//
// With -profile DIR the server and the workers write CPU profiles there
// (go tool pprof DIR/server.pprof). Each run also prints the CPU time the
// server, the workers, PostgreSQL and this program used.
package main

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rgrid/rgrid/bench/internal/benchkit"
	"github.com/rgrid/rgrid/client"
)

var (
	figAPI = benchkit.Figure{Name: "queue.api", Unit: "jobs/s", Target: ">=2000",
		Desc: "through the API: server (PostgreSQL) + 4 instant workers, submit of the first to finish of the last"}
	figSubmit = benchkit.Figure{Name: "queue.api.submit", Unit: "jobs/s",
		Desc: "of which submitting alone (concurrent batches of 100, POST /v1/jobs/batch), while the workers run"}
)

type options struct {
	n, runs, workers, slots, submitters, batch int
	profile                                    string
}

func main() {
	var o options
	flag.IntVar(&o.n, "n", benchkit.Pick(10_000, 1_000), "jobs per run")
	flag.IntVar(&o.runs, "runs", benchkit.Runs(5), "runs")
	flag.IntVar(&o.workers, "workers", 4, "workers")
	flag.IntVar(&o.slots, "slots", 32, "slots per worker")
	flag.IntVar(&o.submitters, "submitters", 16, "concurrent submissions")
	flag.IntVar(&o.batch, "batch", 100, "jobs per submission (1: POST /v1/jobs, else POST /v1/jobs/batch)")
	flag.StringVar(&o.profile, "profile", "", "write CPU profiles of the server and workers to this directory")
	flag.Parse()
	benchkit.Main("apiqueue", 15*time.Minute, func(ctx context.Context) error { return run(ctx, o) })
}

func run(ctx context.Context, o options) error {
	k, err := benchkit.New("rgrid-bench-apiqueue-", "rgrid-test/python:3.11")
	if err != nil {
		return err
	}
	defer k.Close()
	if o.profile != "" {
		if o.profile, err = filepath.Abs(o.profile); err != nil {
			return err
		}
	}
	g, err := k.StartGrid(ctx, benchkit.GridOptions{DBPrefix: "rgrid_bench_api",
		Workers: o.workers, Slots: o.slots, ProfileDir: o.profile})
	if err != nil {
		return err
	}
	server, workers := g.Server, g.Workers
	b := &bench{c: g.Client, pool: g.Pool, batch: o.batch}

	fmt.Printf("%d jobs per run, %d concurrent submitters; %d instant workers × %d slots; server on PostgreSQL\n",
		o.n, o.submitters, o.workers, o.slots)
	if _, _, err := b.round(ctx, min(o.n, 500), o.submitters); err != nil { // warm up
		return fmt.Errorf("warm-up: %w", err)
	}
	// The database is new: give the planner the statistics that a
	// database in use has (autovacuum would, a minute later), so that the
	// runs measure the steady state rather than plans made for empty
	// tables.
	if _, err := b.pool.Exec(ctx, `ANALYZE jobs, job_attempts`); err != nil {
		return err
	}
	for i := range o.runs {
		cpu := startCPU(server, workers)
		took, submit, err := b.round(ctx, o.n, o.submitters)
		if err != nil {
			return fmt.Errorf("run %d: %w", i+1, err)
		}
		fmt.Printf("run %d: %d jobs in %.2f s (submitting took %.2f s); CPU: %s\n", i+1, o.n, took.Seconds(), submit.Seconds(), cpu.since())
		figAPI.Report(float64(o.n) / took.Seconds())
		figSubmit.Report(float64(o.n) / submit.Seconds())
	}
	if o.profile != "" {
		server.Stop(10 * time.Second)
		for _, w := range workers {
			w.Stop(10 * time.Second)
		}
		fmt.Printf("CPU profiles in %s\n", o.profile)
	}
	return nil
}

type bench struct {
	c     *client.Client
	pool  *pgxpool.Pool
	batch int
}

// round submits n jobs and waits for all of them to succeed. It returns
// the time from the first submit to the last finish, and to the last
// submit answered.
func (b *bench) round(ctx context.Context, n, submitters int) (took, submit time.Duration, err error) {
	took, submit, noStart, err := b.roundCounted(ctx, n, submitters)
	if noStart > 0 {
		// A run that ends at once can be reported finished before the
		// worker's start report lands; the job then has no start time.
		fmt.Printf("(%d of %d jobs have no start time: their result was recorded before the worker's start report)\n", noStart, n)
	}
	return took, submit, err
}

func (b *bench) roundCounted(ctx context.Context, n, submitters int) (took, submit time.Duration, noStart int, err error) {
	var before int64
	if err := b.pool.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM jobs`).Scan(&before); err != nil {
		return 0, 0, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	start := time.Now()
	noop := func(int) client.SubmitRequest {
		return client.SubmitRequest{FileName: "noop.py", Script: []byte("pass\n")}
	}
	submitAll := func() error { return benchkit.SubmitBatches(ctx, b.c, n, b.batch, submitters, noop) }
	if b.batch <= 1 {
		submitAll = func() error { return benchkit.Submit(ctx, b.c, n, submitters, noop) }
	}
	if err := submitAll(); err != nil {
		return 0, 0, 0, err
	}
	submit = time.Since(start)
	for {
		var done, bad int
		var last *time.Time
		err := b.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state = 'succeeded'),
			count(*) FILTER (WHERE state NOT IN ('queued', 'leased', 'running', 'succeeded')),
			count(*) FILTER (WHERE state = 'succeeded' AND started_at IS NULL),
			max(finished_at) FROM jobs WHERE seq > $1`, before).Scan(&done, &bad, &noStart, &last)
		switch {
		case err != nil:
			return 0, 0, 0, err
		case bad > 0:
			return 0, 0, 0, fmt.Errorf("%d jobs did not succeed", bad)
		case done == n:
			return last.Sub(start), submit, noStart, nil
		}
		select {
		case <-ctx.Done():
			return 0, 0, 0, fmt.Errorf("%d of %d jobs finished: %w", done, n, ctx.Err())
		case <-time.After(250 * time.Millisecond): // the time comes from finished_at; polling often would load the database
		}
	}
}

// cpuMark holds CPU times at the start of a run.
type cpuMark struct {
	server  *benchkit.Proc
	workers []*benchkit.Proc
	times   map[string]time.Duration
}

func startCPU(server *benchkit.Proc, workers []*benchkit.Proc) cpuMark {
	m := cpuMark{server: server, workers: workers}
	m.times = m.read()
	return m
}

func (m cpuMark) read() map[string]time.Duration {
	t := map[string]time.Duration{}
	if d, err := benchkit.CPUTime(m.server.Process.Pid); err == nil {
		t["server"] = d
	}
	for _, w := range m.workers {
		if d, err := benchkit.CPUTime(w.Process.Pid); err == nil {
			t["workers"] += d
		}
	}
	if d, err := benchkit.PostgresCPU(); err == nil {
		t["postgres"] = d
	}
	if d, err := benchkit.SelfCPU(); err == nil {
		t["submitter"] = d
	}
	return t
}

// since formats the CPU each part used since the mark.
func (m cpuMark) since() string {
	now := m.read()
	var parts []string
	for _, k := range []string{"server", "workers", "postgres", "submitter"} {
		if v, ok := now[k]; ok {
			parts = append(parts, fmt.Sprintf("%s %.1f s", k, (v-m.times[k]).Seconds()))
		}
	}
	return strings.Join(parts, ", ")
}
