// Command replicas measures how long a job waits to start when it is
// submitted to one server replica and the idle workers long-poll another:
// two rgrid server processes on one PostgreSQL database, 2 idle instant
// workers (bench/internal/instantworker) on replica B, and N jobs
// submitted one at a time to replica A, each once the previous has ended.
// The anchor, in the same run, submits the same way to replica B itself.
//
// Without replica notifications (LISTEN/NOTIFY) a job submitted to A waits
// for B's next one-second poll: a p50 near 500 ms. Submit-to-start is from
// this program's POST to the start time the server records; both clocks
// are this machine's.
//
//	go run ./bench/replicas -n 200 -runs 3   # needs RGRID_TEST_POSTGRES_URL
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
	figCross = benchkit.Figure{Name: "replicas.cross.p50", Unit: "ms", Target: "<=50",
		Desc: "submit to start, job submitted to replica A, idle workers on replica B: median"}
	figSame = benchkit.Figure{Name: "replicas.same.p50", Unit: "ms",
		Desc: "anchor: submit to start, job submitted to replica B where the workers are: median"}
)

func main() {
	n := flag.Int("n", benchkit.Pick(200, 50), "jobs per run and path")
	runs := flag.Int("runs", benchkit.Runs(3), "runs")
	flag.Parse()
	benchkit.Main("replicas", 15*time.Minute, func(ctx context.Context) error { return run(ctx, *n, *runs) })
}

func run(ctx context.Context, n, runs int) error {
	k, err := benchkit.New("rgrid-bench-replicas-", "rgrid-test/python:3.11")
	if err != nil {
		return err
	}
	defer k.Close()
	apiA, db, _, err := k.ServerPG(ctx, "rgrid_bench_replicas", "")
	if err != nil {
		return err
	}
	addrB, _, err := k.Start(benchkit.Listening, "server", "--listen", "127.0.0.1:0", "--db", db)
	if err != nil {
		return err
	}
	apiB := "http://" + addrB
	if _, err := k.InstantWorkers(apiB, 2, 1, 10*time.Millisecond, ""); err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, db)
	if err != nil {
		return err
	}
	k.Defer(pool.Close)
	a, err := client.New(apiA, "")
	if err != nil {
		return err
	}
	b, err := client.New(apiB, "")
	if err != nil {
		return err
	}
	fmt.Printf("%d single jobs per run and path, one at a time; 2 idle instant workers on replica B; two replicas on PostgreSQL\n", n)
	if _, err := once(ctx, a, b, pool, 10); err != nil { // warm up
		return fmt.Errorf("warm-up: %w", err)
	}
	for i := range runs {
		cross, err := once(ctx, a, b, pool, n)
		if err != nil {
			return fmt.Errorf("run %d: %w", i+1, err)
		}
		same, err := once(ctx, b, b, pool, n)
		if err != nil {
			return fmt.Errorf("run %d: %w", i+1, err)
		}
		fmt.Printf("run %d: submit to start p50 across replicas %s (max %s); same replica %s\n",
			i+1, ms(benchkit.Median(cross)), ms(slices.Max(cross)), ms(benchkit.Median(same)))
		figCross.Report(msf(benchkit.Median(cross)))
		figSame.Report(msf(benchkit.Median(same)))
	}
	return nil
}

// once submits n jobs to sub one after another, each once the previous
// has ended (followed through follow), and returns their submit-to-start
// times.
func once(ctx context.Context, sub, follow *client.Client, pool *pgxpool.Pool, n int) ([]time.Duration, error) {
	var lat []time.Duration
	for range n {
		t := time.Now()
		j, err := sub.Submit(ctx, client.SubmitRequest{FileName: "noop.py", Script: []byte("pass\n")})
		if err != nil {
			return nil, err
		}
		if err := waitDone(ctx, follow, j.ID); err != nil {
			return nil, err
		}
		var started, finished *time.Time
		if err := pool.QueryRow(ctx, `SELECT started_at, finished_at FROM jobs WHERE id = $1`, j.ID).Scan(&started, &finished); err != nil {
			return nil, err
		}
		if started == nil {
			started = finished // an upper bound
		}
		lat = append(lat, started.Sub(t))
	}
	return lat, nil
}

// waitDone follows a job with the log long-poll until it ends.
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

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", msf(d)) }
