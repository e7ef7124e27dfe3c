// Command latency measures how long a single job waits to start when the
// workers are idle: an rgrid server on PostgreSQL and 4 idle instant
// workers (bench/internal/instantworker, long-polling for work), then N
// jobs submitted one at a time, each once the previous one has finished.
//
// Submit-to-start of a job is from the moment this program sends its
// POST /v1/jobs to the job's started time as the server records it (the
// worker reports the start once the executor has started the run; the
// instant executor starts at once, so no container start is counted).
// Both clocks are this machine's. The test executor's runs last 10 ms, so
// the start report goes alone, before the result: a result that folded a
// waiting start report in would record the start when the run had already
// ended (ResultReport.Started). Should a job have no start time, its finish
// time stands in (an upper bound) and the run says how often. Each run
// reports p50 and p99.
//
//	go run ./bench/latency -n 1000 -runs 5   # needs RGRID_TEST_POSTGRES_URL
package main

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rgrid/rgrid/bench/internal/benchkit"
	"github.com/rgrid/rgrid/client"
)

var (
	figP50 = benchkit.Figure{Name: "latency.p50", Unit: "ms", Target: "<=5",
		Desc: "submit to start of single jobs, idle instant workers: median"}
	figP99 = benchkit.Figure{Name: "latency.p99", Unit: "ms", Target: "<=20",
		Desc: "submit to start of single jobs, idle instant workers: 99th percentile"}
)

type options struct {
	n, runs, workers int
	gap              time.Duration
}

func main() {
	var o options
	flag.IntVar(&o.n, "n", benchkit.Pick(1_000, 200), "jobs per run")
	flag.IntVar(&o.runs, "runs", benchkit.Runs(5), "runs")
	flag.IntVar(&o.workers, "workers", 4, "idle workers")
	flag.DurationVar(&o.gap, "gap", 2*time.Millisecond, "pause after a job finishes, so the workers are back waiting")
	flag.Parse()
	benchkit.Main("latency", 15*time.Minute, func(ctx context.Context) error { return run(ctx, o) })
}

func run(ctx context.Context, o options) error {
	k, err := benchkit.New("rgrid-bench-latency-", "rgrid-test/python:3.11")
	if err != nil {
		return err
	}
	defer k.Close()
	g, err := k.StartGrid(ctx, benchkit.GridOptions{DBPrefix: "rgrid_bench_latency",
		Workers: o.workers, Slots: 1, RunTime: 10 * time.Millisecond})
	if err != nil {
		return err
	}
	c, pool := g.Client, g.Pool
	fmt.Printf("%d single jobs per run, one at a time, %s apart; %d idle instant workers; server on PostgreSQL\n", o.n, o.gap, o.workers)
	if _, _, err := once(ctx, c, pool, 20, o.gap); err != nil { // warm up
		return fmt.Errorf("warm-up: %w", err)
	}
	for i := range o.runs {
		lat, noStart, err := once(ctx, c, pool, o.n, o.gap)
		if err != nil {
			return fmt.Errorf("run %d: %w", i+1, err)
		}
		slices.Sort(lat)
		p50, p99 := percentile(lat, 50), percentile(lat, 99)
		fmt.Printf("run %d: submit to start p50 %s, p99 %s, max %s", i+1, ms(p50), ms(p99), ms(lat[len(lat)-1]))
		if noStart > 0 {
			fmt.Printf(" (%d jobs without a start time: their finish counted)", noStart)
		}
		fmt.Println()
		figP50.Report(msf(p50))
		figP99.Report(msf(p99))
	}
	return nil
}

// once runs n jobs one after another and returns their submit-to-start
// times, and how many had no start time recorded.
func once(ctx context.Context, c *client.Client, pool *pgxpool.Pool, n int, gap time.Duration) (lat []time.Duration, noStart int, err error) {
	sent := make(map[string]time.Time, n)
	ids := make([]string, 0, n)
	for range n {
		t := time.Now()
		j, err := c.Submit(ctx, client.SubmitRequest{FileName: "noop.py", Script: []byte("pass\n")})
		if err != nil {
			return nil, 0, err
		}
		sent[j.ID] = t
		ids = append(ids, j.ID)
		if err := waitDone(ctx, c, j.ID); err != nil {
			return nil, 0, err
		}
		select {
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		case <-time.After(gap):
		}
	}
	rows, err := pool.Query(ctx, `SELECT id, started_at, finished_at FROM jobs
		WHERE id = ANY($1) AND attempt = 1`, ids)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var started, finished *time.Time
		if err := rows.Scan(&id, &started, &finished); err != nil {
			return nil, 0, err
		}
		if started == nil {
			if finished == nil {
				return nil, 0, fmt.Errorf("job %s has neither a start nor a finish time", id)
			}
			started = finished
			noStart++
		}
		lat = append(lat, started.Sub(sent[id]))
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	if len(lat) != n {
		return nil, 0, fmt.Errorf("%d of %d jobs have a first attempt", len(lat), n)
	}
	return lat, noStart, nil
}

// waitDone waits for a job to end, following it with the log long-poll
// (which answers when the job changes) rather than polling.
func waitDone(ctx context.Context, c *client.Client, id string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var after int64
	for {
		p, err := c.Logs(ctx, id, client.LogOptions{After: after, Wait: 10 * time.Second})
		if err != nil {
			return err
		}
		after = p.Next
		if p.State.Terminal() {
			if p.State != client.StateSucceeded {
				return fmt.Errorf("job %s ended %s", id, p.State)
			}
			return nil
		}
	}
}

// percentile of sorted d, nearest rank.
func percentile(d []time.Duration, p int) time.Duration {
	i := (len(d)*p + 99) / 100
	return d[max(i-1, 0)]
}

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", msf(d)) }
