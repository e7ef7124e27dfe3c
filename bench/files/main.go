// Command files measures what sending a project costs `rgrid run`, end to
// end through the binary, on a 1,058 MiB project (256 files of 4 MiB and
// 4,096 small ones, benchkit.MakeProject):
//
//   - upload: `rgrid run --detach noop.py` in the project, the first time
//     (a new server and blob store, an empty hash cache): listing,
//     hashing, asking which blobs are missing, sending them all, queueing
//     the job. Against the local store (the server writes the blobs to a
//     directory) anchored to `cp -r` of the project, and against the S3
//     store on SeaweedFS (the client sends to presigned URLs) anchored to
//     `aws s3 cp --recursive` of the same directory where the aws CLI is
//     installed. MiB/s of file content.
//   - rerun: `rgrid run noop.py` in the unchanged project on a warm server
//     (local store) and Docker worker, anchored to `rgrid run --no-workdir
//     noop.py` (a run with no inputs) on the same grid; and the same re-run
//     with an empty hash cache each time (the client reads every file
//     again), for what the cache saves. Wall time, milliseconds.
//
// Each run measures every figure once, interleaved: all the upload runs
// first, then all the re-runs (after one warm-up re-run). The S3 server is
// RGRID_TEST_S3_URL when set, else one started with scripts/s3.sh; only
// loopback is reached.
//
//	go run ./bench/files [-n 5]
package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rgrid/rgrid/bench/internal/benchkit"
	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/blob"
)

var (
	figUpLocal = benchkit.Figure{Name: "files.upload.local", Unit: "MiB/s", Anchor: "files.cp.local",
		Desc: "rgrid run --detach of a new 1 GiB project, server with the local store: list, hash, send, queue"}
	figCp = benchkit.Figure{Name: "files.cp.local", Unit: "MiB/s",
		Desc: "cp -r of the same project into a new directory"}
	figUpS3 = benchkit.Figure{Name: "files.upload.s3", Unit: "MiB/s", Anchor: "files.upload.s3.awscli", Target: ">=1x",
		Desc: "rgrid run --detach of a new 1 GiB project, server with the S3 store (SeaweedFS, loopback): sent to presigned URLs"}
	figAws = benchkit.Figure{Name: "files.upload.s3.awscli", Unit: "MiB/s",
		Desc: "aws s3 cp --recursive of the same project to the same S3 server"}
	figRerun = benchkit.Figure{Name: "files.rerun", Unit: "ms", Anchor: "files.rerun.none", Target: "<=1.1x",
		Desc: "rgrid run noop.py in the unchanged 1 GiB project, warm server and Docker worker, wall time"}
	figNone = benchkit.Figure{Name: "files.rerun.none", Unit: "ms",
		Desc: "rgrid run --no-workdir noop.py on the same grid: a run with no inputs"}
	figNoCache = benchkit.Figure{Name: "files.rerun.nocache", Unit: "ms",
		Desc: "the unchanged re-run with an empty hash cache: the client reads and hashes every file again"}
)

func main() {
	n := flag.Int("n", benchkit.Runs(5), "runs of each figure")
	image := flag.String("image", "rgrid-test/python:3.11", "Python image")
	big := flag.Int("big", benchkit.Pick(256, 32), "files of 4 MiB")
	small := flag.Int("small", benchkit.Pick(4096, 512), "small files (1 to 16 KiB)")
	bin := flag.String("rgrid", "", "an rgrid binary to measure instead of one built from this tree (an A/B against another tree)")
	warm := flag.Int("warm", 0, "the worker's --warm: 0 by default (every run starts a new container); above 0 each run waits for a warm container, so both start warm")
	flag.Parse()
	workerWarm = *warm
	if benchkit.Quick() { // a smaller project: not the same figures
		for _, f := range []*benchkit.Figure{&figUpLocal, &figCp, &figUpS3, &figAws, &figRerun, &figNone, &figNoCache} {
			f.Name += ".quick"
			if f.Anchor != "" {
				f.Anchor += ".quick"
			}
		}
	}
	benchkit.Main("files", 30*time.Minute, func(ctx context.Context) error { return run(ctx, *n, *image, *big, *small, *bin) })
}

// workerWarm is the worker's --warm (flag -warm).
var workerWarm int

type bench struct {
	k       *benchkit.Kit
	proj    string // the project, with noop.py
	total   int64  // its bytes
	s3      string // the S3 store's setting
	aws     string // the aws CLI, "" if not installed
	scratch string
}

func run(ctx context.Context, n int, image string, big, small int, bin string) error {
	k, err := benchkit.New("rgrid-bench-files-", image)
	if err != nil {
		return err
	}
	defer k.Close()
	if bin != "" {
		if k.Bin, err = filepath.Abs(bin); err != nil {
			return err
		}
	}
	b := &bench{k: k, proj: filepath.Join(k.Dir, "proj"), scratch: filepath.Join(k.Dir, "scratch")}
	files, total, err := benchkit.MakeProject(b.proj, big, small, 1)
	if err != nil {
		return err
	}
	b.total = total + int64(len(noop))
	if err := os.WriteFile(filepath.Join(b.proj, "noop.py"), []byte(noop), 0o644); err != nil {
		return err
	}
	fmt.Printf("project: %d files, %.1f MiB, in %s\n", len(files)+1, benchkit.MiB(b.total), b.proj)
	raw, stop, err := benchkit.S3Server(ctx)
	if err != nil {
		return err
	}
	defer stop()
	b.s3 = raw
	if b.aws, _ = exec.LookPath("aws"); b.aws == "" {
		figAws.NotMeasured("the aws CLI is not installed")
		figUpS3.Anchor, figUpS3.Target = "", ""
	}
	// The uploads first, then the re-runs: 3 GiB written by each round of
	// uploads pushes the worker's blob cache out of the page cache, which
	// a re-run interleaved with them would pay for as reads from the disk.
	for i := range n {
		if err := ctx.Err(); err != nil {
			return err
		}
		fmt.Printf("uploads, run %d of %d\n", i+1, n)
		if err := b.uploads(ctx, i); err != nil {
			return err
		}
	}
	grid, err := b.warmGrid(ctx)
	if err != nil {
		return err
	}
	for i := range n {
		if err := ctx.Err(); err != nil {
			return err
		}
		fmt.Printf("re-runs, run %d of %d\n", i+1, n)
		if err := b.reruns(ctx, grid); err != nil {
			return err
		}
	}
	return nil
}

const noop = "print('ok')\n"

// rgrid runs the rgrid binary in the project with env added, and returns
// its wall time.
func (b *bench) rgrid(ctx context.Context, env []string, args ...string) (time.Duration, error) {
	c := exec.CommandContext(ctx, b.k.Bin, args...)
	c.Dir = b.proj
	c.Env = append(append([]string{}, b.k.Env...), env...)
	start := time.Now()
	out, err := c.CombinedOutput()
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("rgrid %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return d, nil
}

// server starts a server with the blob store blobs, and returns its URL.
func (b *bench) server(name, blobs string) (string, *benchkit.Proc, error) {
	addr, p, err := b.k.Start(benchkit.Listening, "server", "--listen", "127.0.0.1:0",
		"--db", filepath.Join(b.k.Dir, name+".db"), "--migrate", "--blobs", blobs)
	if err != nil {
		return "", nil, err
	}
	return "http://" + addr, p, nil
}

// uploads measures one first upload to each store, and their anchors.
func (b *bench) uploads(ctx context.Context, i int) error {
	mibps := func(d time.Duration) float64 { return benchkit.MiB(b.total) / d.Seconds() }
	up := func(name, blobs string) (time.Duration, error) {
		url, p, err := b.server(name, blobs)
		if err != nil {
			return 0, err
		}
		defer p.Stop(10 * time.Second)
		cache := filepath.Join(b.scratch, name+"-cache")
		defer os.RemoveAll(cache)
		return b.rgrid(ctx, []string{"RGRID_SERVER=" + url, "RGRID_CACHE_DIR=" + cache},
			"run", "--detach", "--max-upload", "2GiB", "noop.py")
	}
	local := filepath.Join(b.scratch, fmt.Sprintf("blobs-%d", i))
	d, err := up(fmt.Sprintf("local-%d", i), local)
	os.RemoveAll(local)
	if err != nil {
		return err
	}
	figUpLocal.Report(mibps(d))

	cp := filepath.Join(b.scratch, "cp")
	start := time.Now()
	err = exec.CommandContext(ctx, "cp", "-r", b.proj, cp).Run()
	d = time.Since(start)
	os.RemoveAll(cp)
	if err != nil {
		return fmt.Errorf("cp -r: %w", err)
	}
	figCp.Report(mibps(d))

	stamp := time.Now().UnixNano()
	s3, err := withPrefix(b.s3, fmt.Sprintf("bench-files-%d/rgrid", stamp))
	if err != nil {
		return err
	}
	if d, err = up(fmt.Sprintf("s3-%d", i), s3); err != nil {
		return err
	}
	figUpS3.Report(mibps(d))
	if b.aws != "" {
		cfg, err := blob.ParseS3URL(b.s3, os.Getenv)
		if err != nil {
			return err
		}
		start := time.Now()
		if err := benchkit.AWSCopy(ctx, b.aws, cfg, b.proj, fmt.Sprintf("%sbench-files-%d/aws/", cfg.Prefix, stamp)); err != nil {
			return fmt.Errorf("aws s3 cp: %w", err)
		}
		figAws.Report(mibps(time.Since(start)))
	}
	return nil
}

// withPrefix is the S3 setting raw with its key prefix set to p.
func withPrefix(raw, p string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	u.Path = "/" + strings.TrimPrefix(strings.TrimSuffix(u.Path, "/")+"/"+p, "/")
	return u.String(), nil
}

// grid is the warm server and worker of the re-runs.
type grid struct {
	env []string
	api *client.Client
}

// warmGrid starts the server (local store) and Docker worker of the
// re-runs, and runs the project once, so that its blobs are on the
// server, in the worker's cache and in the client's hash cache.
func (b *bench) warmGrid(ctx context.Context) (*grid, error) {
	url, _, err := b.server("rerun", filepath.Join(b.k.Dir, "rerun-blobs"))
	if err != nil {
		return nil, err
	}
	if _, _, err := b.k.Start(benchkit.Registered, "worker", "--server", url, "--executor", "docker",
		"--worker-id", "bench-files", "--warm", strconv.Itoa(workerWarm)); err != nil {
		return nil, err
	}
	api, err := client.New(url, "")
	if err != nil {
		return nil, err
	}
	g := &grid{env: []string{"RGRID_SERVER=" + url, "RGRID_CACHE_DIR=" + filepath.Join(b.k.Dir, "cache")}, api: api}
	for range 2 { // the second run sees the hash cache settled
		if _, err := b.rgrid(ctx, g.env, "run", "--max-upload", "2GiB", "noop.py"); err != nil {
			return nil, err
		}
	}
	if _, err := b.rgrid(ctx, g.env, "run", "--no-workdir", "noop.py"); err != nil {
		return nil, err
	}
	return g, nil
}

// reruns measures the unchanged re-run, with and without the hash cache,
// and a run with no inputs.
// With -warm above 0, each run starts once the server says a warm
// container waits, so that the re-run and its anchor both start warm.
func (b *bench) reruns(ctx context.Context, g *grid) error {
	run := func(env []string, args ...string) (time.Duration, error) {
		if workerWarm > 0 {
			if err := benchkit.AwaitWarm(ctx, g.api, "bench-files", 30*time.Second); err != nil {
				return 0, err
			}
		}
		return b.rgrid(ctx, env, args...)
	}
	d, err := run(g.env, "run", "--max-upload", "2GiB", "noop.py")
	if err != nil {
		return err
	}
	figRerun.Report(ms(d))
	if d, err = run(g.env, "run", "--no-workdir", "noop.py"); err != nil {
		return err
	}
	figNone.Report(ms(d))
	empty := filepath.Join(b.scratch, "empty-cache")
	defer os.RemoveAll(empty)
	if d, err = run(append(g.env, "RGRID_CACHE_DIR="+empty), "run", "--max-upload", "2GiB", "noop.py"); err != nil {
		return err
	}
	figNoCache.Report(ms(d))
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
