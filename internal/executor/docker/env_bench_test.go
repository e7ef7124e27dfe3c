package docker_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/rgrid/rgrid/internal/deps"
	"github.com/rgrid/rgrid/internal/executor"
	"github.com/rgrid/rgrid/internal/executor/docker"
	"github.com/rgrid/rgrid/internal/testimages"
)

// BenchmarkDependencyCache measures what a cached environment costs: the
// same script run from the environment of a requirement set (a cache hit)
// and with no requirements, 10 runs each, interleaved, medians compared;
// and the first, cold run that builds the environment. Run it once:
//
//	go test -run '^$' -bench DependencyCache -benchtime 1x ./internal/executor/docker
func BenchmarkDependencyCache(b *testing.B) {
	python := testimages.Python(b)
	index := testimages.StartIndex(b)
	token := strings.ToLower(rand.Text()[:12])
	ex, err := docker.New(b.Context(), docker.Options{
		WorkerID: "bench-" + token, WorkDir: b.TempDir(), DepsNetwork: index.Network,
		PipIndexURL: "http://pypi:8080/simple", PipTrustedHost: "pypi",
	})
	if err != nil {
		b.Fatal(err)
	}
	defer ex.Close()
	// A set of this run's own, so the first run really builds.
	set, err := deps.ParseRequirements("requirements.txt",
		[]byte(fmt.Sprintf("rgrid-hello==1.0 ; platform_release != %q\n", token)))
	if err != nil {
		b.Fatal(err)
	}
	reqs := set.Lines()
	b.Cleanup(func() {
		cli, err := client.New(client.FromEnv)
		if err == nil {
			_, _ = cli.ImageRemove(context.Background(), docker.EnvTag(python, reqs), client.ImageRemoveOptions{Force: true})
			cli.Close()
		}
	})
	run := func(reqs []string) time.Duration {
		start := time.Now()
		h, err := ex.Start(b.Context(), executor.Spec{
			JobID: "bench-" + token, Attempt: 1, Image: python, Command: []string{"python3.11"},
			FileName: "hello.py", Script: []byte("print('hello')\n"), Requirements: reqs,
			Limits: executor.Limits{MemoryBytes: 512 << 20, CPUs: 1, Pids: 256, Timeout: time.Minute},
			Stdout: io.Discard, Stderr: io.Discard, System: io.Discard,
		})
		if err != nil {
			b.Fatal(err)
		}
		res, err := h.Wait(b.Context())
		if err != nil || res.Outcome != executor.Exited || res.ExitCode != 0 {
			b.Fatalf("run: %v %+v", err, res)
		}
		return time.Since(start)
	}
	for range b.N {
		cold := run(reqs)
		run(nil) // warm the plain path too
		var plain, hit []time.Duration
		for range 10 {
			plain = append(plain, run(nil))
			hit = append(hit, run(reqs))
		}
		mp, mh := median(plain), median(hit)
		b.ReportMetric(cold.Seconds(), "cold-build-s")
		b.ReportMetric(float64(mp.Milliseconds()), "no-reqs-median-ms")
		b.ReportMetric(float64(mh.Milliseconds()), "cache-hit-median-ms")
		b.ReportMetric(float64(mh)/float64(mp), "hit/no-reqs")
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return (s[(len(s)-1)/2] + s[len(s)/2]) / 2
}
