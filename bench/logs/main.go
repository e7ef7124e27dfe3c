// Command logs measures RGrid's log path on a server and a Docker worker:
//
//   - throughput: a job writes N numbered lines to stdout as fast as it can;
//     lines per second from the job's start to the moment all of them are
//     stored (the worker reports the result only after its last upload is
//     stored, so the job's finish time is when the store has every line).
//     The script's own time to produce the lines is inside the figure.
//   - follow latency: a job prints a line every few milliseconds with the
//     time it printed it; a follower on the SSE endpoint (as rgrid logs -f
//     uses it) notes when each line arrives. Same machine, same clock.
//
// Each is run -n times (BENCH_RUNS); each run prints RESULT lines (see
// bench/README.md), and a summary of medians at the end.
//
//	go run ./bench/logs -n 5 [-db postgres://…] [-lines 1000000]
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rgrid/rgrid/bench/internal/benchkit"
	"github.com/rgrid/rgrid/client"
)

const latencyPy = `import sys, time
n, pause = int(sys.argv[1]), float(sys.argv[2])
for i in range(n):
    print(i, time.time_ns(), flush=True)
    time.sleep(pause)
`

func main() {
	n := flag.Int("n", benchkit.Runs(5), "runs of each measurement")
	lines := flag.Int("lines", benchkit.Pick(1_000_000, 200_000), "lines the throughput job prints")
	latLines := flag.Int("latency-lines", benchkit.Pick(1000, 200), "lines the latency job prints, one every -pause")
	pause := flag.Duration("pause", 5*time.Millisecond, "pause between the latency job's lines")
	image := flag.String("image", "rgrid-test/python:3.11", "Python image (needs python3)")
	db := flag.String("db", os.Getenv("RGRID_TEST_POSTGRES_URL"), "the server's database (default: a SQLite file; RGRID_TEST_POSTGRES_URL if set)")
	profile := flag.String("cpuprofile", "", "a directory: run the server and the worker under bench/internal/profiled and write server.pprof and worker.pprof there")
	flag.Parse()
	if benchkit.Quick() { // fewer lines: not the same figures
		for _, f := range []*benchkit.Figure{&figRate, &figP50, &figP99} {
			f.Name += ".quick"
		}
	}
	benchkit.Main("logs", 20*time.Minute, func(ctx context.Context) error {
		return run(ctx, *n, *lines, *latLines, *pause, *image, *db, *profile)
	})
}

var (
	figRate = benchkit.Figure{Name: "logs.lines", Unit: "lines/s", Target: ">=2000000",
		Desc: "log lines per second from a job's stdout to the store (Docker worker, 1,000,000 lines)"}
	figP50 = benchkit.Figure{Name: "logs.follow.p50", Unit: "ms",
		Desc: "line printed to line shown by an SSE follower: median"}
	figP99 = benchkit.Figure{Name: "logs.follow.p99", Unit: "ms", Target: "<=100",
		Desc: "line printed to line shown by an SSE follower: 99th percentile"}
)

func run(ctx context.Context, n, lines, latLines int, pause time.Duration, image, db, profile string) error {
	k, err := benchkit.New("rgrid-bench-logs-", image)
	if err != nil {
		return err
	}
	defer k.Close()
	if db == "" {
		db = filepath.Join(k.Dir, "rgrid.db")
	}
	if strings.HasPrefix(db, "postgres") {
		// A database of our own in the cluster, dropped afterwards.
		url, drop, err := benchkit.CreateDB(ctx, db, "rgrid_bench_logs")
		if err != nil {
			return err
		}
		defer drop()
		db = url
	}
	// Under a profile, rgrid runs as bench/internal/profiled, which the
	// worker cannot mount as the containers' init: it is given rgrid's
	// static build instead.
	bin, serverArgs, workerArgs := k.Bin, []string{}, []string{}
	if profile != "" {
		if bin, err = k.Build("./bench/internal/profiled"); err != nil {
			return err
		}
		serverArgs = []string{"-cpuprofile", filepath.Join(profile, "server.pprof")}
		workerArgs = []string{"-cpuprofile", filepath.Join(profile, "worker.pprof")}
	}
	addr, server, err := k.StartBin(bin, benchkit.Listening, append(serverArgs, "server", "--listen", "127.0.0.1:0", "--db", db, "--migrate")...)
	if err != nil {
		return err
	}
	url := "http://" + addr
	_, worker, err := k.StartBin(bin, benchkit.Registered, append(workerArgs, "worker", "--server", url, "--executor", "docker", "--worker-id", "bench-logs", "--init", k.Bin)...)
	if err != nil {
		return err
	}
	if profile != "" {
		defer server.Stop(30 * time.Second) // the profiles are written on SIGTERM
		defer worker.Stop(30 * time.Second)
	}
	c, err := client.New(url, "")
	if err != nil {
		return err
	}
	dialect := "SQLite"
	if strings.HasPrefix(db, "postgres") {
		dialect = "PostgreSQL"
	}
	fmt.Printf("log path on %s, Docker worker, image %s\n", dialect, image)

	var rates []float64
	for i := range n + 1 {
		rate, err := throughput(ctx, c, lines)
		if err != nil {
			return err
		}
		if i == 0 {
			continue // warm-up: image cache, connections
		}
		rates = append(rates, rate)
		fmt.Printf("throughput run %d: %.0f lines/s\n", i, rate)
		figRate.Report(rate)
	}
	var p50s, p99s []float64
	for i := range n {
		p50, p99, err := latency(ctx, c, latLines, pause)
		if err != nil {
			return err
		}
		p50s, p99s = append(p50s, p50), append(p99s, p99)
		fmt.Printf("latency run %d: p50 %.1f ms, p99 %.1f ms\n", i+1, p50, p99)
		figP50.Report(p50)
		figP99.Report(p99)
	}
	fmt.Println()
	fmt.Printf("%-40s %12s %12s %12s %5s\n", "figure", "median", "min", "max", "runs")
	row := func(name, unit string, v []float64) {
		s := slices.Clone(v)
		slices.Sort(s)
		med := (s[(len(s)-1)/2] + s[len(s)/2]) / 2
		fmt.Printf("%-40s %12s %12s %12s %5d\n", name, format(med, unit), format(s[0], unit), format(s[len(s)-1], unit), len(s))
	}
	row("log lines per second to the store", "lines/s", rates)
	row("follow latency p50", "ms", p50s)
	row("follow latency p99", "ms", p99s)
	return nil
}

func format(v float64, unit string) string {
	if unit == "ms" {
		return strconv.FormatFloat(v, 'f', 1, 64) + " ms"
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// throughput runs one job printing lines and returns lines per second from
// its start to its last line stored.
func throughput(ctx context.Context, c *client.Client, lines int) (float64, error) {
	j, err := c.Submit(ctx, client.SubmitRequest{
		FileName: "lines.py", Script: []byte(benchkit.LinesPy), Args: []string{strconv.Itoa(lines)},
		LogLimit: 1 << 30,
	})
	if err != nil {
		return 0, err
	}
	j, err = wait(ctx, c, j.ID)
	if err != nil {
		return 0, err
	}
	if j.State != client.StateSucceeded || j.StartedAt == nil || j.FinishedAt == nil {
		return 0, fmt.Errorf("throughput job %s ended %s: %s", j.ID, j.State, j.Message)
	}
	// Check the store has every line, once, in order, before trusting the
	// time.
	var got int
	var after int64
	var first, last time.Time // the worker's stamps: when it read the first and last output
	for {
		page, err := c.Logs(ctx, j.ID, client.LogOptions{After: after, Streams: []client.Stream{client.Stdout}, Limit: 10000})
		if err != nil {
			return 0, err
		}
		for _, ch := range page.Chunks {
			got += bytes.Count(ch.Data, []byte("\n"))
			if first.IsZero() {
				first = ch.Time
			}
			last = ch.Time
		}
		if len(page.Chunks) == 0 {
			break
		}
		after = page.Next
	}
	if got != lines {
		return 0, fmt.Errorf("throughput job %s: %d lines stored, want %d", j.ID, got, lines)
	}
	// Where the time went: the worker stamps each chunk when it starts
	// reading it, on the same machine's clock as the server's.
	fmt.Printf("  job %s: started to first output %s, first to last output %s, last output to finished %s\n", j.ID,
		ms(first.Sub(*j.StartedAt)), ms(last.Sub(first)), ms(j.FinishedAt.Sub(last)))
	return float64(lines) / j.FinishedAt.Sub(*j.StartedAt).Seconds(), nil
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
}

func wait(ctx context.Context, c *client.Client, id string) (client.Job, error) {
	for {
		j, err := c.Job(ctx, id)
		if err != nil || j.State.Terminal() {
			return j, err
		}
		select {
		case <-ctx.Done():
			return j, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// latency follows a job that stamps each line with the time it printed it
// and returns the p50 and p99 of arrival minus print, in milliseconds.
func latency(ctx context.Context, c *client.Client, lines int, pause time.Duration) (float64, float64, error) {
	j, err := c.Submit(ctx, client.SubmitRequest{
		FileName: "stamp.py", Script: []byte(latencyPy),
		Args: []string{strconv.Itoa(lines), strconv.FormatFloat(pause.Seconds(), 'f', -1, 64)},
	})
	if err != nil {
		return 0, 0, err
	}
	var lat []float64
	var partial []byte
	_, err = c.Follow(ctx, j.ID, client.FollowOptions{Streams: []client.Stream{client.Stdout}}, func(ch client.LogChunk) error {
		now := time.Now().UnixNano()
		partial = append(partial, ch.Data...)
		for {
			i := bytes.IndexByte(partial, '\n')
			if i < 0 {
				break
			}
			f := strings.Fields(string(partial[:i]))
			partial = partial[i+1:]
			if len(f) != 2 {
				return fmt.Errorf("unexpected line %q", f)
			}
			printed, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return err
			}
			lat = append(lat, float64(now-printed)/1e6)
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	if len(lat) != lines {
		return 0, 0, errors.New("latency job: lines lost")
	}
	slices.Sort(lat)
	return lat[len(lat)/2], lat[len(lat)*99/100], nil
}
