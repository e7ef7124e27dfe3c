// Command runoverhead measures what RGrid adds to running a script in a
// container: the wall time of "rgrid run hello.py" against a warm server
// and Docker worker, next to "docker run --rm IMAGE python3 hello.py" on the
// same machine, median of N runs each, interleaved in one run. Each run
// prints its two samples as RESULT lines (bench/README.md), and the phases
// of the rgrid run's start as the server recorded them (GET /v1/jobs/{id}:
// lease, image, stage, container, first byte), whose medians it prints at
// the end. hello.py sits alone in a directory of its own: rgrid run sends
// the script's directory as the job's inputs.
//
//	go run ./bench/runoverhead -n 10 -image rgrid-test/python:3.11
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rgrid/rgrid/bench/internal/benchkit"
	"github.com/rgrid/rgrid/client"
)

var (
	figRGrid = benchkit.Figure{Name: "run.rgrid", Unit: "ms", Anchor: "run.docker", Target: "<=0.5x",
		Desc: "rgrid run hello.py, warm server (SQLite) + docker worker, wall time"}
	figDocker = benchkit.Figure{Name: "run.docker", Unit: "ms",
		Desc: "docker run --rm IMAGE python3 hello.py, wall time"}
	// The phases of the rgrid run's start, as GET /v1/jobs/{id} returns them.
	figPhases = []struct {
		fig benchkit.Figure
		of  func(client.StartTimes) time.Duration
	}{
		{benchkit.Figure{Name: "run.rgrid.lease", Unit: "ms", Desc: "of run.rgrid: submitted to leased by the worker"},
			func(s client.StartTimes) time.Duration { return s.Lease }},
		{benchkit.Figure{Name: "run.rgrid.image", Unit: "ms", Desc: "of run.rgrid: the image made ready (present: inspected)"},
			func(s client.StartTimes) time.Duration { return s.Image }},
		{benchkit.Figure{Name: "run.rgrid.stage", Unit: "ms", Desc: "of run.rgrid: the script and its directory staged"},
			func(s client.StartTimes) time.Duration { return s.Stage }},
		{benchkit.Figure{Name: "run.rgrid.container", Unit: "ms", Desc: "of run.rgrid: container created and started"},
			func(s client.StartTimes) time.Duration { return s.Container }},
		{benchkit.Figure{Name: "run.rgrid.firstbyte", Unit: "ms", Desc: "of run.rgrid: process started to its first output byte"},
			func(s client.StartTimes) time.Duration { return s.FirstByte }},
	}
)

func main() {
	n := flag.Int("n", benchkit.Runs(10), "runs of each command")
	image := flag.String("image", "rgrid-test/python:3.11", "Python image (needs python3.11)")
	warm := flag.Int("warm", 1, "the worker's --warm: warm containers kept waiting (0: every job starts a new container)")
	flag.Parse()
	benchkit.Main("runoverhead", 10*time.Minute, func(ctx context.Context) error { return run(ctx, *n, *image, *warm) })
}

func run(ctx context.Context, n int, image string, warm int) error {
	k, err := benchkit.New("rgrid-bench-", image)
	if err != nil {
		return err
	}
	defer k.Close()
	dir, bin := k.Dir, k.Bin
	// Not beside the binary and the database: the script's directory is
	// the job's working directory, sent with it.
	scriptDir := filepath.Join(dir, "script")
	if err := os.Mkdir(scriptDir, 0o700); err != nil {
		return err
	}
	hello := filepath.Join(scriptDir, "hello.py")
	if err := os.WriteFile(hello, []byte("print('Hello from RGrid!')\n"), 0o600); err != nil {
		return err
	}
	_, env, c, err := k.DockerGrid(filepath.Join(dir, "rgrid.db"), "--warm", strconv.Itoa(warm))
	if err != nil {
		return err
	}

	rgrid := func() error {
		cmd := exec.CommandContext(ctx, bin, "run", hello)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Hello") {
			return fmt.Errorf("rgrid run: %v %s", err, out)
		}
		return nil
	}
	docker := func() error {
		cmd := exec.CommandContext(ctx, "docker", "run", "--rm", "-v", scriptDir+":/b:ro", image, "python3", "/b/hello.py")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Hello") {
			return fmt.Errorf("docker run: %v %s", err, out)
		}
		return nil
	}
	// Warm both paths once.
	if err := rgrid(); err != nil {
		return err
	}
	if err := docker(); err != nil {
		return err
	}
	var rg, dk []time.Duration
	phases := make([][]time.Duration, len(figPhases))
	for range n {
		if warm > 0 {
			// Timed from a container waiting, as the figure says.
			if err := benchkit.AwaitWarm(ctx, c, benchkit.BenchWorker, 30*time.Second); err != nil {
				return err
			}
		}
		d, err := benchkit.Timed(rgrid)
		if err != nil {
			return err
		}
		rg = append(rg, d)
		figRGrid.Report(msf(d))
		st, err := benchkit.LastStart(ctx, c)
		if err != nil {
			return err
		}
		for i, p := range figPhases {
			phases[i] = append(phases[i], p.of(st))
			p.fig.Report(msf(p.of(st)))
		}
		if d, err = benchkit.Timed(docker); err != nil {
			return err
		}
		dk = append(dk, d)
		figDocker.Report(msf(d))
	}
	mr, md := benchkit.Median(rg), benchkit.Median(dk)
	fmt.Printf("runs: %d each, interleaved; image %s\n", n, image)
	fmt.Printf("rgrid run hello.py (warm server + docker worker): median %s (min %s, max %s)\n", ms(mr), ms(slices.Min(rg)), ms(slices.Max(rg)))
	fmt.Printf("docker run --rm IMAGE python3 hello.py:           median %s (min %s, max %s)\n", ms(md), ms(slices.Min(dk)), ms(slices.Max(dk)))
	fmt.Printf("ratio rgrid/docker: %.2f× (target ≤ 0.5×, issue 19)\n", float64(mr)/float64(md))
	fmt.Printf("rgrid run's start, median of each phase:")
	var sum time.Duration
	for i, p := range figPhases {
		m := benchkit.Median(phases[i])
		sum += m
		fmt.Printf(" %s %.1f ms;", strings.TrimPrefix(p.fig.Name, "run.rgrid."), msf(m))
	}
	fmt.Printf(" together %.0f ms of the %s\n", msf(sum), ms(mr))
	return nil
}

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", msf(d)) }
