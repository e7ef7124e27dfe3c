// Command queuestore measures RGrid's queue at the store level: how many
// no-op jobs per second RGrid's PostgreSQL store (internal/store/postgres)
// claims and completes, beside River (bench/river, its own module) on the
// same PostgreSQL cluster, in the same run, by the same method:
//
//   - empty the tables (TRUNCATE, VACUUM FULL) and insert N queued jobs
//     before the clock starts (RGrid: CreateJob as the server calls it on
//     submit; River: InsertMany in batches of 5,000);
//   - time from the start of the workers to the last job completed.
//
// RGrid's workers (4 × 500 slots: as many jobs at once as River's 2,000
// workers) are simulated in process with the store calls the server makes
// for a real worker: per lease request Heartbeat, AttemptsToStop and
// ClaimJobs for as many jobs as the worker has free slots (the lease
// handler and scheduler.Lease; with the agent's cooldown: while the queue
// is busy, a worker with under half its slots free waits up to 5 ms for
// more), and per job a start and a result report. The jobs run in
// goroutines, one per slot, like the agent's, and their reports go through
// one batcher per worker, like the agent's reporter: whatever piled up
// while the last call was in flight is handed to StartAttempts and
// FinishAttempts together (the reports handler), and a result folds in its
// attempt's start report if that had not gone yet.
// Rounds alternate RGrid first and River first.
//
//	go run ./bench/queuestore -n 10000 -runs 5   # needs RGRID_TEST_POSTGRES_URL
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rgrid/rgrid/bench/internal/benchkit"
	"github.com/rgrid/rgrid/internal/database"
	"github.com/rgrid/rgrid/internal/store"
	"github.com/rgrid/rgrid/internal/store/postgres"
)

var (
	figRGrid = benchkit.Figure{Name: "queue.store.rgrid", Unit: "jobs/s", Anchor: "queue.store.river", Target: ">=1x",
		Desc: "RGrid store (PostgreSQL): claim, start and finish no-op jobs"}
	figRiver = benchkit.Figure{Name: "queue.store.river", Unit: "jobs/s",
		Desc: "River v0.51.1 on the same cluster: InsertMany, no-op worker (river bench method)"}
)

type options struct {
	n, runs, workers, slots int
	cpuprofile              string
}

func main() {
	var o options
	flag.IntVar(&o.n, "n", benchkit.Pick(10_000, 2_000), "jobs per run")
	flag.IntVar(&o.runs, "runs", benchkit.Runs(5), "runs of each queue")
	// 4 × 500: as many jobs at once as River's benchmark client runs
	// (2,000 workers), so that both queues are bound by the same thing.
	// With fewer slots the figure measures the round trips a job waits
	// for, not the store's throughput.
	flag.IntVar(&o.workers, "workers", 4, "simulated RGrid workers")
	flag.IntVar(&o.slots, "slots", 500, "slots per simulated RGrid worker")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of this process during RGrid's rounds here")
	flag.Parse()
	benchkit.Main("queuestore", 10*time.Minute, func(ctx context.Context) error { return run(ctx, o) })
}

func run(ctx context.Context, o options) error {
	admin, err := benchkit.AdminURL()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "rgrid-bench-queuestore-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	rgridURL, dropRGrid, err := benchkit.CreateDB(ctx, admin, "rgrid_bench_store")
	if err != nil {
		return err
	}
	defer dropRGrid()
	if err := migrate(ctx, rgridURL); err != nil {
		return err
	}
	st, err := postgres.Open(ctx, rgridURL)
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }()

	riverURL, dropRiver, err := benchkit.CreateDB(ctx, admin, "rgrid_bench_river")
	if err != nil {
		return err
	}
	defer dropRiver()
	riverBin := filepath.Join(dir, "riverbench")
	build := exec.CommandContext(ctx, "go", "build", "-o", riverBin, ".")
	build.Dir = "bench/river"
	if out, err := build.CombinedOutput(); err != nil {
		figRiver.NotMeasured(fmt.Sprintf("bench/river did not build: %v: %s", err, lastLine(out)))
		riverBin = ""
	}

	stopProfile, err := benchkit.StartCPUProfile(o.cpuprofile)
	if err != nil {
		return err
	}
	defer stopProfile()
	fmt.Printf("%d no-op jobs per run; RGrid: %d simulated workers × %d slots; River: 2,000 workers\n", o.n, o.workers, o.slots)
	for i := range o.runs {
		rgridFirst := i%2 == 0
		for _, q := range []bool{rgridFirst, !rgridFirst} {
			if q {
				took, err := storeRound(ctx, st, o)
				if err != nil {
					return fmt.Errorf("run %d of RGrid: %w", i+1, err)
				}
				fmt.Printf("run %d: RGrid %d jobs in %.3f s\n", i+1, o.n, took.Seconds())
				figRGrid.Report(float64(o.n) / took.Seconds())
				continue
			}
			if riverBin == "" {
				continue
			}
			jps, err := riverRound(ctx, riverBin, riverURL, o.n)
			if err != nil {
				return fmt.Errorf("run %d of River: %w", i+1, err)
			}
			fmt.Printf("run %d: River %d jobs at %.0f jobs/s\n", i+1, o.n, jps)
			figRiver.Report(jps)
		}
	}
	return nil
}

func migrate(ctx context.Context, url string) error {
	st, err := database.Open(ctx, url, database.Options{Migrate: true})
	if err != nil {
		return err
	}
	return st.Close()
}

// workerDefaults are rgrid worker's default limits, which every lease
// request carries and ClaimJobs records on each job.
var workerDefaults = store.Limits{MemoryBytes: 512 << 20, CPUs: 1, Pids: 256, TimeoutSeconds: 300}

// storeRound empties the tables, queues o.n jobs and returns the time the
// simulated workers take to work them all.
func storeRound(ctx context.Context, st *postgres.Store, o options) (time.Duration, error) {
	for _, q := range []string{"TRUNCATE jobs, job_attempts, job_log_chunks, workers", "VACUUM FULL jobs", "VACUUM FULL job_attempts"} {
		if _, err := st.Pool().Exec(ctx, q); err != nil {
			return 0, fmt.Errorf("%s: %w", q, err)
		}
	}
	ids := make([]string, o.workers)
	for i := range ids {
		ids[i] = fmt.Sprintf("bench-%d", i+1)
		now := time.Now()
		if _, err := st.UpsertWorker(ctx, store.Worker{ID: ids[i], Name: ids[i], Hostname: "bench", Executor: "instant",
			Slots: o.slots, State: "active", RegisteredAt: now, LastHeartbeat: now, Instance: ids[i]}, now.Add(-15*time.Second)); err != nil {
			return 0, err
		}
	}
	if err := queue(ctx, st, o.n); err != nil {
		return 0, err
	}

	var (
		finished atomic.Int64
		last     atomic.Int64 // unix nanoseconds of the last FinishAttempt
		errOnce  sync.Once
		firstErr error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	start := time.Now()
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			if err := simulateWorker(ctx, st, id, o.slots, func() {
				finished.Add(1)
				last.Store(time.Now().UnixNano())
			}); err != nil {
				fail(err)
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return 0, firstErr
	}
	if got := finished.Load(); got != int64(o.n) {
		return 0, fmt.Errorf("%d of %d jobs finished", got, o.n)
	}
	return time.Unix(0, last.Load()).Sub(start), nil
}

// queue creates n jobs as the submit handler does, four at a time.
func queue(ctx context.Context, st *postgres.Store, n int) error {
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		errs = make([]error, 4)
	)
	for g := range errs {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(n) && errs[g] == nil; i = next.Add(1) {
				now := time.Now().UTC()
				_, errs[g] = st.CreateJob(ctx, store.NewJob{
					ID: fmt.Sprintf("job_bench_%08d", i), Script: []byte("pass\n"), FileName: "noop.py",
					Runtime: "python3.11", MaxAttempts: 3, CreatedAt: now,
				})
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// simulateWorker is one worker's lease loop: it asks for as many jobs as
// it has free slots and runs each in a goroutine that reports start and
// result, until a claim comes back empty (all jobs are queued before the
// start, so nothing is left to claim) and its jobs are done.
func simulateWorker(ctx context.Context, st *postgres.Store, id string, slots int, finished func()) error {
	var (
		mu       sync.Mutex
		inFlight int
		freed    = make(chan struct{}, 1)
		jobErr   error
		jobs     sync.WaitGroup
	)
	bctx, stopBatcher := context.WithCancel(ctx)
	defer stopBatcher() // after the jobs, which wait for its answers
	reports := newBatcher(bctx, st)
	defer jobs.Wait()
	busy := false // a lease found jobs: the agent's cooldown applies
	for ctx.Err() == nil {
		mu.Lock()
		free, err := slots-inFlight, jobErr
		mu.Unlock()
		if err != nil {
			return err
		}
		if free == 0 {
			select {
			case <-freed:
			case <-ctx.Done():
			}
			continue
		}
		if busy && free < (slots+1)/2 {
			// The agent's lease cooldown: with a busy queue, let more
			// slots free up (up to 5 ms) and lease them together.
			t := time.NewTimer(5 * time.Millisecond)
			select {
			case <-t.C:
			case <-freed:
				t.Stop()
				continue
			case <-ctx.Done():
				t.Stop()
				continue
			}
		}
		// The lease handler: a lease counts as a heartbeat; then the
		// scheduler looks for attempts to stop and claims.
		if err := st.Heartbeat(ctx, id, id, time.Now().UTC()); err != nil {
			return err
		}
		if _, err := st.AttemptsToStop(ctx, id); err != nil {
			return err
		}
		claimed, err := st.ClaimJobs(ctx, store.ClaimParams{WorkerID: id, Max: free, Defaults: workerDefaults, Now: time.Now().UTC()})
		if err != nil {
			return err
		}
		if len(claimed) == 0 {
			jobs.Wait()
			mu.Lock()
			err := jobErr
			mu.Unlock()
			return err
		}
		busy = true
		mu.Lock()
		inFlight += len(claimed)
		mu.Unlock()
		for _, j := range claimed {
			jobs.Go(func() {
				err := work(ctx, reports, store.AttemptRef{JobID: j.ID, Attempt: j.Attempt})
				mu.Lock()
				inFlight--
				if err != nil && jobErr == nil {
					jobErr = err
				}
				mu.Unlock()
				if err == nil {
					finished()
				}
				select {
				case freed <- struct{}{}:
				default:
				}
			})
		}
	}
	return ctx.Err()
}

// work is one no-op job on a worker, as the agent runs it: the start
// report is queued (its answer is not waited for), and the result, which
// says the run started, follows at once.
func work(ctx context.Context, b *batcher, ref store.AttemptRef) error {
	started := b.queue(&report{start: &ref})
	code := 0
	j, err := b.wait(ctx, b.queue(&report{finish: &store.FinishParams{JobID: ref.JobID, Attempt: ref.Attempt,
		State: store.StateSucceeded, ExitCode: &code, Started: true}}))
	if err == nil && j.State != store.StateSucceeded {
		err = fmt.Errorf("job %s ended %s", j.ID, j.State)
	}
	if _, serr := b.wait(ctx, started); err == nil {
		err = serr
	}
	return err
}

// batcher is one worker's reporter and the server's reports handler in
// one, as internal/worker's reporter: reports queue up while a store call
// is in flight and go together, in order, and a result folds in its
// attempt's start report if that is still waiting.
type batcher struct {
	st      *postgres.Store
	mu      sync.Mutex
	pending []*report
	wake    chan struct{}
	last    int // the size of the last batch
}

// lingerFor is how long to wait for more reports after the first: none
// when the last batch was a single report (a quiet worker), else 2 ms.
func lingerFor(last int) time.Duration {
	if last <= 1 {
		return 0
	}
	return 2 * time.Millisecond
}

type report struct {
	start  *store.AttemptRef
	finish *store.FinishParams
	folded *report // a start report this result carries
	answer chan reportAnswer
}

type reportAnswer struct {
	job store.Job
	err error
}

func newBatcher(ctx context.Context, st *postgres.Store) *batcher {
	b := &batcher{st: st, wake: make(chan struct{}, 1)}
	go b.run(ctx)
	return b
}

// queue queues r and returns it, for wait.
func (b *batcher) queue(r *report) *report {
	r.answer = make(chan reportAnswer, 1)
	b.mu.Lock()
	if r.finish != nil && r.finish.Started {
		ref := store.AttemptRef{JobID: r.finish.JobID, Attempt: r.finish.Attempt}
		if i := slices.IndexFunc(b.pending, func(q *report) bool { return q.start != nil && *q.start == ref }); i >= 0 {
			r.folded = b.pending[i]
			b.pending = slices.Delete(b.pending, i, i+1)
		}
	}
	b.pending = append(b.pending, r)
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
	return r
}

// wait waits for r's answer.
func (b *batcher) wait(ctx context.Context, r *report) (store.Job, error) {
	select {
	case a := <-r.answer:
		return a.job, a.err
	case <-ctx.Done():
		return store.Job{}, ctx.Err()
	}
}

func (b *batcher) take() []*report {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := min(500, len(b.pending))
	batch := slices.Clone(b.pending[:n])
	b.pending = slices.Delete(b.pending, 0, n)
	return batch
}

func (b *batcher) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.wake:
		}
		for {
			if d := lingerFor(b.last); d > 0 {
				time.Sleep(d)
			}
			batch := b.take()
			if len(batch) == 0 {
				break
			}
			b.last = len(batch)
			b.send(ctx, batch)
		}
	}
}

func (b *batcher) send(ctx context.Context, batch []*report) {
	var (
		starts   []store.AttemptRef
		finishes []store.FinishParams
		sr, fr   []*report
	)
	now := time.Now().UTC()
	for _, r := range batch {
		if r.start != nil {
			starts, sr = append(starts, *r.start), append(sr, r)
		} else {
			p := *r.finish
			p.Now = now
			finishes, fr = append(finishes, p), append(fr, r)
		}
	}
	if len(starts) > 0 {
		jobs, errs, err := b.st.StartAttempts(ctx, starts, now)
		for i, r := range sr {
			a := reportAnswer{err: err}
			if err == nil {
				a = reportAnswer{job: jobs[i], err: errs[i]}
			}
			r.answer <- a
		}
	}
	if len(finishes) > 0 {
		jobs, errs, err := b.st.FinishAttempts(ctx, finishes)
		for i, r := range fr {
			a := reportAnswer{err: err}
			if err == nil {
				a = reportAnswer{job: jobs[i], err: errs[i]}
			}
			r.answer <- a
			if r.folded != nil {
				r.folded.answer <- a
			}
		}
	}
}

var riverLine = regexp.MustCompile(`^river-bench: .*jobs_per_s=([0-9.]+)`)

// riverRound runs one River round in bench/river's binary and returns its
// jobs per second.
func riverRound(ctx context.Context, bin, url string, n int) (float64, error) {
	cmd := exec.CommandContext(ctx, bin, "-db", url, "-n", strconv.Itoa(n), "-runs", "1")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("%v: %s", err, lastLine(out))
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if m := riverLine.FindStringSubmatch(sc.Text()); m != nil {
			return strconv.ParseFloat(m[1], 64)
		}
	}
	return 0, fmt.Errorf("no result in its output: %q", out)
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}
