// Command river is the anchor of RGrid's store-level queue benchmark
// (bench/queuestore): River working no-op jobs on PostgreSQL, measured the
// way River's own "river bench --num-total-jobs N" measures it:
//
//   - truncate river_job and VACUUM FULL it, so every run starts alike;
//   - insert N no-op jobs with InsertMany in batches of 5,000 before the
//     client starts (not timed);
//   - start a client with River's benchmark settings (2,000 workers, fetch
//     cooldown 2 ms, fetch poll interval 20 ms) and a no-op worker;
//   - count completion events from a subscription and time from the
//     client's start to the last one.
//
// It lives in a Go module of its own so that River never enters RGrid's
// go.mod. It is given a database it may truncate and prints one line per
// run that bench/queuestore reads:
//
//	river-bench: run=1 jobs=20000 seconds=1.234 jobs_per_s=16207.5
//
//	go run . -db postgres://postgres@127.0.0.1:5432/rgrid_bench_river -n 20000 -runs 1
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// insertBatch is River's benchmark's InsertMany batch size.
const insertBatch = 5_000

func main() {
	db := flag.String("db", "", "PostgreSQL URL of a database this program may truncate (required)")
	n := flag.Int("n", 20_000, "jobs per run")
	runs := flag.Int("runs", 1, "runs")
	limit := flag.Duration("timeout", 5*time.Minute, "give up after this long")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *limit)
	defer cancel()
	if err := run(ctx, *db, *n, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "river bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, db string, n, runs int) error {
	if db == "" {
		return errors.New("pass -db postgres://…")
	}
	if n < 1 || runs < 1 {
		return errors.New("-n and -runs must be at least 1")
	}
	// The pool as "river bench" makes it: pgxpool's defaults.
	pool, err := pgxpool.New(ctx, db)
	if err != nil {
		return err
	}
	defer pool.Close()
	driver := riverpgxv5.New(pool)
	migrator, err := rivermigrate.New(driver, nil)
	if err != nil {
		return err
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for i := range runs {
		took, err := once(ctx, pool, n)
		if err != nil {
			return fmt.Errorf("run %d: %w", i+1, err)
		}
		fmt.Printf("river-bench: run=%d jobs=%d seconds=%.3f jobs_per_s=%.1f\n", i+1, n, took.Seconds(), float64(n)/took.Seconds())
	}
	return nil
}

// once works n jobs and returns the time from the client's start to the
// last completion.
func once(ctx context.Context, pool *pgxpool.Pool, n int) (time.Duration, error) {
	for _, q := range []string{"TRUNCATE river_job", "VACUUM FULL river_job"} {
		if _, err := pool.Exec(ctx, q); err != nil {
			return 0, fmt.Errorf("%s: %w", q, err)
		}
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &noopWorker{})
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		FetchCooldown:     2 * time.Millisecond,
		FetchPollInterval: 20 * time.Millisecond,
		Logger:            slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 2_000}},
		Workers:           workers,
	})
	if err != nil {
		return 0, err
	}
	events, unsubscribe := client.SubscribeConfig(&river.SubscribeConfig{
		ChanSize: n + 1_000,
		Kinds:    []river.EventKind{river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled},
	})
	defer unsubscribe()

	batch := make([]river.InsertManyParams, 0, insertBatch)
	for i := 0; i < n; {
		batch = batch[:0]
		for ; i < n && len(batch) < insertBatch; i++ {
			batch = append(batch, river.InsertManyParams{Args: noopArgs{Num: i + 1}})
		}
		if _, err := client.InsertMany(ctx, batch); err != nil {
			return 0, fmt.Errorf("insert: %w", err)
		}
	}

	start := time.Now()
	if err := client.Start(ctx); err != nil {
		return 0, err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = client.Stop(sctx)
	}()
	var last time.Time
	for done := 0; done < n; {
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%d of %d jobs worked: %w", done, n, ctx.Err())
		case ev := <-events:
			if ev == nil {
				return 0, errors.New("subscription closed")
			}
			if ev.Kind != river.EventKindJobCompleted {
				return 0, fmt.Errorf("job %d ended %s", ev.Job.ID, ev.Kind)
			}
			last = time.Now()
			done++
		}
	}
	var left int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM river_job WHERE state <> 'completed'").Scan(&left); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, err
	}
	if left != 0 {
		return 0, fmt.Errorf("%d jobs not completed after %d completion events", left, n)
	}
	return last.Sub(start), nil
}

type noopArgs struct {
	Num int `json:"num"`
}

func (noopArgs) Kind() string { return "noop" }

type noopWorker struct {
	river.WorkerDefaults[noopArgs]
}

func (*noopWorker) Work(context.Context, *river.Job[noopArgs]) error { return nil }
