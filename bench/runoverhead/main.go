// Command runoverhead measures what RGrid adds to running a script in a
// container: the wall time of "rgrid run hello.py" against a warm server
// and Docker worker, next to "docker run --rm IMAGE python3 hello.py" on the
// same machine, median of N runs each, interleaved in one run. Each run
// prints its two samples as RESULT lines (bench/README.md).
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
	"strings"
	"time"

	"github.com/rgrid/rgrid/bench/internal/benchkit"
)

var (
	figRGrid = benchkit.Figure{Name: "run.rgrid", Unit: "ms", Anchor: "run.docker", Target: "<=1.25x",
		Desc: "rgrid run hello.py, warm server (SQLite) + docker worker, wall time"}
	figDocker = benchkit.Figure{Name: "run.docker", Unit: "ms",
		Desc: "docker run --rm IMAGE python3 hello.py, wall time"}
)

func main() {
	n := flag.Int("n", benchkit.Runs(10), "runs of each command")
	image := flag.String("image", "rgrid-test/python:3.11", "Python image (needs python3.11)")
	flag.Parse()
	benchkit.Main("runoverhead", 10*time.Minute, func(ctx context.Context) error { return run(ctx, *n, *image) })
}

func run(ctx context.Context, n int, image string) error {
	k, err := benchkit.New("rgrid-bench-", image)
	if err != nil {
		return err
	}
	defer k.Close()
	dir, bin := k.Dir, k.Bin
	hello := filepath.Join(dir, "hello.py")
	if err := os.WriteFile(hello, []byte("print('Hello from RGrid!')\n"), 0o600); err != nil {
		return err
	}
	addr, _, err := k.Start(benchkit.Listening, "server", "--listen", "127.0.0.1:0", "--db", filepath.Join(dir, "rgrid.db"), "--migrate")
	if err != nil {
		return err
	}
	url := "http://" + addr
	if _, _, err := k.Start(benchkit.Registered, "worker", "--server", url, "--executor", "docker", "--worker-id", "bench"); err != nil {
		return err
	}
	env := append(k.Env, "RGRID_SERVER="+url)

	rgrid := func() error {
		c := exec.CommandContext(ctx, bin, "run", hello)
		c.Env = env
		out, err := c.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Hello") {
			return fmt.Errorf("rgrid run: %v %s", err, out)
		}
		return nil
	}
	docker := func() error {
		c := exec.CommandContext(ctx, "docker", "run", "--rm", "-v", dir+":/b:ro", image, "python3", "/b/hello.py")
		out, err := c.CombinedOutput()
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
	for range n {
		d, err := benchkit.Timed(rgrid)
		if err != nil {
			return err
		}
		rg = append(rg, d)
		figRGrid.Report(msf(d))
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
	fmt.Printf("ratio rgrid/docker: %.2f× (target ≤ 1.25×)\n", float64(mr)/float64(md))
	return nil
}

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", msf(d)) }
