// Command corpus measures what RGrid costs a short real-world script: over
// the corpus in bench/corpus/scripts (about 100 small stdlib-only Python
// programs, each with doctests it runs at its start), the wall time of
// "rgrid run SCRIPT" against a warm server (SQLite) and Docker worker, next
// to the local run "python3 SCRIPT" on this machine, interleaved script by
// script. Each script is copied into a directory of its own and both
// commands run from there, as a user would run a one-file project (rgrid
// run sends the script's directory as the job's inputs).
//
// A run is one pass over the whole corpus (every script once locally, once
// through rgrid); each run prints one RESULT line per figure: the median
// over scripts of the rgrid wall times (corpus.rgrid.median) and of the
// local ones (corpus.local.median), and the median and 90th percentile over
// scripts of each script's rgrid/local ratio (corpus.ratio,
// corpus.ratio.p90). Every command must exit 0 and both must print the same
// stdout, else the program fails: a bench must not time failures. At the
// end it prints the medians over scripts of each script's median over the
// runs, and the medians of the rgrid runs' start phases as the server
// recorded them (GET /v1/jobs/{id}); -v prints a table per script to stderr.
//
// The local python3 is the interpreter "python3" on PATH resolves to
// (sys.executable), run directly: a version manager's shim in front of it
// (pyenv's is a shell script) is not part of a local run's cost.
//
//	go run ./bench/corpus -n 5 -v
package main

import (
	"bytes"
	"context"
	"embed"
	"flag"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rgrid/rgrid/bench/internal/benchkit"
	"github.com/rgrid/rgrid/client"
)

// The corpus, embedded so the built program needs no source tree beside it.
//
//go:embed scripts/*.py
var scripts embed.FS

// Target is issue 19's: the median script through rgrid at most 3× its
// local run.
var (
	figRGrid = benchkit.Figure{Name: "corpus.rgrid.median", Unit: "ms", Anchor: "corpus.local.median",
		Desc: "rgrid run SCRIPT from its directory, warm server (SQLite) + docker worker: median over the corpus of one pass"}
	figLocal = benchkit.Figure{Name: "corpus.local.median", Unit: "ms",
		Desc: "python3 SCRIPT locally, the same scripts interleaved: median over the corpus of one pass"}
	figRatio = benchkit.Figure{Name: "corpus.ratio", Unit: "x", Target: "<=3",
		Desc: "median over the corpus of each script's rgrid/local wall-time ratio in one pass"}
	figRatioP90 = benchkit.Figure{Name: "corpus.ratio.p90", Unit: "x",
		Desc: "90th percentile over the corpus of each script's rgrid/local ratio in one pass"}
)

// The rgrid runs' start phases, as GET /v1/jobs/{id} returns them.
var phases = []struct {
	name string
	of   func(client.StartTimes) time.Duration
}{
	{"lease", func(s client.StartTimes) time.Duration { return s.Lease }},
	{"image", func(s client.StartTimes) time.Duration { return s.Image }},
	{"stage", func(s client.StartTimes) time.Duration { return s.Stage }},
	{"container", func(s client.StartTimes) time.Duration { return s.Container }},
	{"firstbyte", func(s client.StartTimes) time.Duration { return s.FirstByte }},
}

func main() {
	n := flag.Int("n", benchkit.Runs(5), "passes over the corpus (each script once locally and once through rgrid per pass)")
	image := flag.String("image", "rgrid-test/python:3.11", "Python image (needs python3.11)")
	warm := flag.Int("warm", 1, "the worker's --warm: warm containers kept waiting (0: every job starts a new container)")
	verbose := flag.Bool("v", false, "print each script's medians to stderr")
	flag.Parse()
	benchkit.Main("corpus", 30*time.Minute, func(ctx context.Context) error { return run(ctx, *n, *image, *verbose, *warm) })
}

// script is one corpus script and its samples.
type script struct {
	name, dir    string // file name, and the directory it was copied to
	local, rgrid []time.Duration
	stdout       []byte // the local run's first stdout, which every run must print
	phases       [][]time.Duration
}

func run(ctx context.Context, n int, image string, verbose bool, warm int) error {
	if n < 1 {
		return fmt.Errorf("-n %d: need at least one pass", n)
	}
	python, version, err := localPython(ctx)
	if err != nil {
		return err
	}
	k, err := benchkit.New("rgrid-bench-corpus-", image)
	if err != nil {
		return err
	}
	defer k.Close()
	corpus, err := copyCorpus(filepath.Join(k.Dir, "corpus"))
	if err != nil {
		return err
	}
	_, env, c, err := k.DockerGrid(filepath.Join(k.Dir, "rgrid.db"), "--warm", strconv.Itoa(warm))
	if err != nil {
		return err
	}

	// exec runs a command in s's directory and checks that it exits 0 and
	// prints s's stdout (the first local run sets it).
	execIn := func(s *script, what string, argv ...string) error {
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Dir = s.dir
		cmd.Env = env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s %s: %v\n%s%s", what, s.name, err, stdout.Bytes(), stderr.Bytes())
		}
		if s.stdout == nil {
			s.stdout = slices.Clone(stdout.Bytes())
		} else if !bytes.Equal(stdout.Bytes(), s.stdout) {
			return fmt.Errorf("%s %s printed %q, the local run %q", what, s.name, stdout.Bytes(), s.stdout)
		}
		return nil
	}
	local := func(s *script) error { return execIn(s, "python3", python, s.name) }
	rgrid := func(s *script) error { return execIn(s, "rgrid run", k.Bin, "run", s.name) }

	// Warm both paths once (the image, the worker, the interpreter's files
	// in the page cache), with the first script.
	if err := local(corpus[0]); err != nil {
		return err
	}
	if err := rgrid(corpus[0]); err != nil {
		return err
	}
	started := time.Now()
	for pass := range n {
		var rg, lc []time.Duration
		var ratios []float64
		for _, s := range corpus {
			dl, err := benchkit.Timed(func() error { return local(s) })
			if err != nil {
				return err
			}
			dr, err := benchkit.Timed(func() error { return rgrid(s) })
			if err != nil {
				return err
			}
			st, err := benchkit.LastStart(ctx, c)
			if err != nil {
				return err
			}
			for i, p := range phases {
				s.phases[i] = append(s.phases[i], p.of(st))
			}
			s.local, s.rgrid = append(s.local, dl), append(s.rgrid, dr)
			lc, rg = append(lc, dl), append(rg, dr)
			ratios = append(ratios, float64(dr)/float64(dl))
		}
		figRGrid.Report(msf(benchkit.Median(rg)))
		figLocal.Report(msf(benchkit.Median(lc)))
		figRatio.Report(round2(quantile(ratios, 0.5)))
		figRatioP90.Report(round2(quantile(ratios, 0.9)))
		fmt.Printf("pass %d of %d: %d scripts, %s so far; load average %s\n", pass+1, n, len(corpus), time.Since(started).Round(time.Second), loadavg())
	}
	report(corpus, n, python, version, image, verbose)
	return nil
}

// report prints the medians over the corpus of each script's median, the
// start phases, and with verbose a table per script to stderr.
func report(corpus []*script, n int, python, version, image string, verbose bool) {
	var rg, lc []time.Duration
	var ratios []float64
	phaseMed := make([][]time.Duration, len(phases))
	for _, s := range corpus {
		mr, ml := benchkit.Median(s.rgrid), benchkit.Median(s.local)
		rg, lc = append(rg, mr), append(lc, ml)
		ratios = append(ratios, float64(mr)/float64(ml))
		for i := range phases {
			phaseMed[i] = append(phaseMed[i], benchkit.Median(s.phases[i]))
		}
	}
	fmt.Printf("corpus: %d scripts, %d passes, interleaved; local %s (%s); image %s\n", len(corpus), n, python, version, image)
	fmt.Printf("median over scripts of each script's median: rgrid run %.0f ms, local %.0f ms; ratio median %.2f× (target ≤ 3×), p90 %.2f×, max %.2f×\n",
		msf(benchkit.Median(rg)), msf(benchkit.Median(lc)), quantile(ratios, 0.5), quantile(ratios, 0.9), slices.Max(ratios))
	fmt.Printf("rgrid run's start, median over scripts of each phase:")
	var sum time.Duration
	for i, p := range phases {
		m := benchkit.Median(phaseMed[i])
		sum += m
		fmt.Printf(" %s %.1f ms;", p.name, msf(m))
	}
	fmt.Printf(" together %.0f ms\n", msf(sum))
	if !verbose {
		return
	}
	w := tabwriter.NewWriter(os.Stderr, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "script\tlocal ms\trgrid ms\tratio\t")
	for i, s := range corpus {
		fmt.Fprintf(w, "%s\t%.0f\t%.0f\t%.2f×\t\n", s.name, msf(lc[i]), msf(rg[i]), ratios[i])
	}
	_ = w.Flush()
}

// localPython is the interpreter python3 on PATH resolves to, and its
// version.
func localPython(ctx context.Context) (string, string, error) {
	out, err := exec.CommandContext(ctx, "python3", "-c", "import sys, platform; print(sys.executable); print(platform.python_version())").Output()
	if err != nil {
		return "", "", fmt.Errorf("python3 (the local runs' interpreter) did not run: %v; install Python 3.11 or put it on PATH", err)
	}
	exe, version, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if !strings.HasPrefix(version, "3.") || exe == "" {
		return "", "", fmt.Errorf("python3 on PATH is %q at %q; the corpus needs Python 3 (3.11 like the image)", version, exe)
	}
	return exe, version, nil
}

// copyCorpus writes each embedded script into a directory of its own
// under dir.
func copyCorpus(dir string) ([]*script, error) {
	names, err := fs.Glob(scripts, "scripts/*.py")
	if err != nil || len(names) == 0 {
		return nil, fmt.Errorf("no scripts in bench/corpus/scripts (%v)", err)
	}
	var out []*script
	for _, name := range names {
		data, err := scripts.ReadFile(name)
		if err != nil {
			return nil, err
		}
		base := path.Base(name)
		d := filepath.Join(dir, strings.TrimSuffix(base, ".py"))
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(d, base), data, 0o600); err != nil {
			return nil, err
		}
		out = append(out, &script{name: base, dir: d, phases: make([][]time.Duration, len(phases))})
	}
	return out, nil
}

// quantile is the q-quantile of v by linear interpolation (v is left
// unsorted).
func quantile(v []float64, q float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	pos := q * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(s)-1)
	return s[lo] + (s[hi]-s[lo])*(pos-float64(lo))
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
