// Command bigout measures a job with a large output end to end: the wall
// time of "rgrid run bigout.py > FILE" of a script printing 1,000,000
// lines, against a warm server (SQLite) and Docker worker, next to the same
// script run by the local python3 into a file and, for reference, by
// "docker run --rm IMAGE python3 bigout.py > FILE", interleaved in one run
// (issue 19: rgrid at most 1.5× the local run). Every run's file must hold
// exactly the script's lines, byte for byte. The local python3 is the
// interpreter itself (sys.executable), not a shim in front of it; without
// one on the machine the local figure and the ratio are not measured.
//
//	go run ./bench/bigout -n 5 -lines 1000000
package main

import (
	"bytes"
	"context"
	"errors"
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
	figRGrid = benchkit.Figure{Name: "bigout.rgrid", Unit: "ms", Anchor: "bigout.local", Target: "<=1.5x",
		Desc: "rgrid run bigout.py > FILE, 1,000,000 lines (13 MB; --log-limit 64m), warm server (SQLite) + docker worker --warm 1, wall time"}
	figLocal = benchkit.Figure{Name: "bigout.local", Unit: "ms",
		Desc: "python3 bigout.py > FILE on this machine, wall time"}
	figDocker = benchkit.Figure{Name: "bigout.docker", Unit: "ms", Anchor: "bigout.local",
		Desc: "docker run --rm IMAGE python3 bigout.py > FILE, wall time (reference)"}
)

func main() {
	n := flag.Int("n", benchkit.Runs(5), "runs of each command")
	lines := flag.Int("lines", benchkit.Pick(1_000_000, 200_000), "lines the script prints")
	image := flag.String("image", "rgrid-test/python:3.11", "Python image (needs python3.11)")
	warm := flag.Int("warm", 1, "the worker's --warm: warm containers kept waiting")
	flag.Parse()
	if *lines != 1_000_000 { // not the same figures
		suffix := ".lines" + strconv.Itoa(*lines)
		for _, f := range []*benchkit.Figure{&figRGrid, &figLocal, &figDocker} {
			f.Name += suffix
			if f.Anchor != "" {
				f.Anchor += suffix
			}
		}
	}
	benchkit.Main("bigout", 15*time.Minute, func(ctx context.Context) error { return run(ctx, *n, *lines, *image, *warm) })
}

func run(ctx context.Context, n, lines int, image string, warm int) error {
	k, err := benchkit.New("rgrid-bench-", image)
	if err != nil {
		return err
	}
	defer k.Close()
	// Alone in its directory: rgrid run sends the script's directory as
	// the job's inputs.
	scriptDir := filepath.Join(k.Dir, "script")
	if err := os.Mkdir(scriptDir, 0o700); err != nil {
		return err
	}
	script := filepath.Join(scriptDir, "bigout.py")
	if err := os.WriteFile(script, []byte(benchkit.LinesPy), 0o600); err != nil {
		return err
	}
	outFile := filepath.Join(k.Dir, "out.txt")
	want := expected(lines)
	arg := strconv.Itoa(lines)
	_, env, api, err := k.DockerGrid(filepath.Join(k.Dir, "rgrid.db"), "--warm", strconv.Itoa(warm))
	// The worker is killed at the end: its warm container stays behind
	// unless removed.
	k.Defer(func() { benchkit.RemoveContainers("bench") })
	if err != nil {
		return err
	}

	toFile := func(name string, cmd *exec.Cmd) error {
		f, err := os.Create(outFile)
		if err != nil {
			return err
		}
		defer f.Close()
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = f, &stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %v\n%s", name, err, stderr.Bytes())
		}
		return nil
	}
	check := func(name string) error {
		got, err := os.ReadFile(outFile)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("%s: the file has %d lines (%d bytes), want exactly the script's %d lines (%d bytes)",
				name, bytes.Count(got, []byte("\n")), len(got), lines, len(want))
		}
		return nil
	}
	rgrid := func() error {
		cmd := exec.CommandContext(ctx, k.Bin, "run", "--log-limit", "64m", script, arg)
		cmd.Env = env
		return toFile("rgrid run", cmd)
	}
	docker := func() error {
		return toFile("docker run", exec.CommandContext(ctx, "docker", "run", "--rm", "-v", scriptDir+":/b:ro", image, "python3", "/b/bigout.py", arg))
	}
	var local func() error
	python, err := localPython(ctx)
	if err != nil {
		figLocal.NotMeasured(err.Error())
		figRGrid.NotMeasured("no local run to compare with: " + err.Error())
	} else {
		local = func() error { return toFile("local python3", exec.CommandContext(ctx, python, script, arg)) }
	}

	type cmd struct {
		name string
		fn   func() error
		fig  benchkit.Figure
		got  []time.Duration
	}
	cmds := []*cmd{{name: "rgrid run", fn: rgrid, fig: figRGrid}, {name: "docker run", fn: docker, fig: figDocker}}
	if local != nil {
		cmds = append([]*cmd{{name: "local python3", fn: local, fig: figLocal}}, cmds...)
	}
	// Warm every path once, checking its output.
	for _, c := range cmds {
		if err := c.fn(); err != nil {
			return err
		}
		if err := check(c.name); err != nil {
			return err
		}
	}
	for range n {
		for _, c := range cmds {
			if c.name == "rgrid run" && warm > 0 {
				// Timed from a container waiting, as the figure says.
				if err := benchkit.AwaitWarm(ctx, api, benchkit.BenchWorker, 30*time.Second); err != nil {
					return err
				}
			}
			d, err := benchkit.Timed(c.fn)
			if err != nil {
				return err
			}
			if err := check(c.name); err != nil {
				return err
			}
			c.got = append(c.got, d)
			if local == nil && c.fig.Name == figRGrid.Name {
				continue // reported as not measured
			}
			c.fig.Report(msf(d))
		}
	}
	fmt.Printf("runs: %d each, interleaved; %d lines (%d bytes) to a file; image %s\n", n, lines, len(want), image)
	for _, c := range cmds {
		fmt.Printf("%-14s median %s (min %s, max %s)\n", c.name+":", ms(benchkit.Median(c.got)), ms(slices.Min(c.got)), ms(slices.Max(c.got)))
	}
	if local != nil {
		ml := float64(benchkit.Median(cmds[0].got))
		fmt.Printf("ratio rgrid/local: %.2f× (target ≤ 1.5×, issue 19); docker/local: %.2f×\n",
			float64(benchkit.Median(cmds[1].got))/ml, float64(benchkit.Median(cmds[2].got))/ml)
	}
	return nil
}

// localPython is the path of the local python3 interpreter itself: a
// version manager's shim (pyenv) in front of it would add its own start
// to every local run.
func localPython(ctx context.Context) (string, error) {
	if _, err := exec.LookPath("python3"); err != nil {
		return "", errors.New("no python3 on this machine's PATH")
	}
	out, err := exec.CommandContext(ctx, "python3", "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		return "", fmt.Errorf("python3 -c 'import sys; print(sys.executable)': %v", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// expected is what benchkit.LinesPy prints for n lines.
func expected(n int) []byte {
	b := make([]byte, 0, n*13)
	for i := range n {
		b = fmt.Appendf(b, "line %07d\n", i)
	}
	return b
}

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", msf(d)) }
