// Command batchparallel measures a batch against the shell's way of doing
// the same: 200 items of a 1 s Python script with "rgrid run --array
// 0-199 --parallel 4" on one 4-slot Docker worker (server on SQLite,
// warm), next to "parallel -j4 docker run --rm IMAGE python3 item.py" of
// the same script on the same machine, interleaved in one run. Each run
// prints its two samples as RESULT lines (bench/README.md). Without GNU
// parallel (scripts/bench.sh installs it from the distribution's packages
// when it can) the figures are NOTMEASURED.
//
//	go run ./bench/batchparallel -items 200 -image rgrid-test/python:3.11
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
)

var (
	figRGrid = benchkit.Figure{Name: "batch.parallel.rgrid", Unit: "s", Anchor: "batch.parallel.gnu", Target: "<=1.15x",
		Desc: "rgrid run --array (200 items of a 1 s script) --parallel 4, one 4-slot docker worker, warm server (SQLite), wall time"}
	figGNU = benchkit.Figure{Name: "batch.parallel.gnu", Unit: "s",
		Desc: "parallel -j4 docker run --rm IMAGE python3 item.py, the same 200 items of a 1 s script, wall time"}
)

// itemPy takes a second, as the benchmark asks.
const itemPy = "import sys, time\ntime.sleep(1)\nprint('item', sys.argv[1] if len(sys.argv) > 1 else '')\n"

func main() {
	items := flag.Int("items", benchkit.Pick(200, 24), "items of the batch")
	runs := flag.Int("n", benchkit.Runs(5), "runs of each command")
	image := flag.String("image", "rgrid-test/python:3.11", "Python image (needs python3.11)")
	flag.Parse()
	benchkit.Main("batchparallel", 19*time.Minute, func(ctx context.Context) error { return run(ctx, *items, *runs, *image) })
}

func run(ctx context.Context, items, runs int, image string) error {
	if items != 200 {
		// Measured differently: named otherwise (bench/README.md).
		for _, f := range []*benchkit.Figure{&figRGrid, &figGNU} {
			f.Name = strings.Replace(f.Name, "batch.parallel.", fmt.Sprintf("batch.parallel%d.", items), 1)
			f.Anchor = strings.Replace(f.Anchor, "batch.parallel.", fmt.Sprintf("batch.parallel%d.", items), 1)
			f.Desc = strings.Replace(f.Desc, "200 items", fmt.Sprintf("%d items", items), 1)
		}
	}
	if _, err := exec.LookPath("parallel"); err != nil {
		reason := "GNU parallel is not installed (scripts/bench.sh installs the distribution's package when it can)"
		figRGrid.NotMeasured(reason)
		figGNU.NotMeasured(reason)
		return nil
	}
	k, err := benchkit.New("rgrid-bench-batch-", image)
	if err != nil {
		return err
	}
	defer k.Close()
	proj := filepath.Join(k.Dir, "proj")
	if err := os.MkdirAll(proj, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(proj, "item.py"), []byte(itemPy), 0o644); err != nil {
		return err
	}
	addr, _, err := k.Start(benchkit.Listening, "server", "--listen", "127.0.0.1:0", "--db", filepath.Join(k.Dir, "rgrid.db"), "--migrate")
	if err != nil {
		return err
	}
	url := "http://" + addr
	const workerID = "bench-batchparallel"
	k.Defer(func() { benchkit.RemoveContainers(workerID) })
	if _, _, err := k.Start(benchkit.Registered, "worker", "--server", url, "--executor", "docker", "--worker-id", workerID, "--slots", "4"); err != nil {
		return err
	}
	env := append(k.Env, "RGRID_SERVER="+url)
	last := strconv.Itoa(items - 1)
	rgrid := func() error {
		c := exec.CommandContext(ctx, k.Bin, "run", "item.py", "--array", "0-"+last, "--parallel", "4", "--no-outputs")
		c.Dir, c.Env = proj, env
		out, err := c.CombinedOutput()
		if err != nil || !strings.Contains(string(out), fmt.Sprintf("all %d items succeeded", items)) {
			return fmt.Errorf("rgrid run --array: %v %s", err, tail(out))
		}
		return nil
	}
	gnu := func() error {
		args := []string{"-j4", "--halt", "now,fail=1", "docker", "run", "--rm", "--network", "none", "-v", proj + ":/b:ro", image,
			"python3", "/b/item.py", ":::"}
		for i := range items {
			args = append(args, strconv.Itoa(i))
		}
		c := exec.CommandContext(ctx, "parallel", args...)
		out, err := c.CombinedOutput()
		if err != nil || strings.Count(string(out), "item ") != items {
			return fmt.Errorf("parallel -j4 docker run: %v %s", err, tail(out))
		}
		return nil
	}
	// Warm both paths: the image, the worker's first container.
	if err := warm(ctx, k.Bin, proj, env, image); err != nil {
		return err
	}
	var rg, gn []time.Duration
	for range runs {
		d, err := benchkit.Timed(rgrid)
		if err != nil {
			return err
		}
		rg = append(rg, d)
		figRGrid.Report(d.Seconds())
		if d, err = benchkit.Timed(gnu); err != nil {
			return err
		}
		gn = append(gn, d)
		figGNU.Report(d.Seconds())
	}
	mr, mg := benchkit.Median(rg), benchkit.Median(gn)
	fmt.Printf("runs: %d each, interleaved; %d items of a 1 s script, 4 at once; image %s\n", runs, items, image)
	fmt.Printf("rgrid run --array --parallel 4:     median %.1f s (min %.1f, max %.1f)\n", mr.Seconds(), slices.Min(rg).Seconds(), slices.Max(rg).Seconds())
	fmt.Printf("parallel -j4 docker run --rm IMAGE: median %.1f s (min %.1f, max %.1f)\n", mg.Seconds(), slices.Min(gn).Seconds(), slices.Max(gn).Seconds())
	fmt.Printf("ratio rgrid/parallel: %.2f× (target ≤ 1.15×; the floor is %d s)\n", float64(mr)/float64(mg), (items+3)/4)
	return nil
}

func warm(ctx context.Context, bin, proj string, env []string, image string) error {
	c := exec.CommandContext(ctx, bin, "run", "item.py", "warm")
	c.Dir, c.Env = proj, env
	if out, err := c.CombinedOutput(); err != nil {
		return fmt.Errorf("rgrid run (warm): %v %s", err, tail(out))
	}
	if out, err := exec.CommandContext(ctx, "docker", "run", "--rm", "-v", proj+":/b:ro", image, "python3", "/b/item.py").CombinedOutput(); err != nil {
		return fmt.Errorf("docker run (warm): %v %s", err, tail(out))
	}
	return nil
}

func tail(out []byte) string {
	s := string(out)
	if len(s) > 2000 {
		s = "…" + s[len(s)-2000:]
	}
	return s
}
