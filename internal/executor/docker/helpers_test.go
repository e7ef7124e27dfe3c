package docker_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/rgrid/rgrid/internal/executor"
	"github.com/rgrid/rgrid/internal/executor/docker"
	"github.com/rgrid/rgrid/internal/executor/executortest"
	"github.com/rgrid/rgrid/internal/testimages"
)

// runToken ends the worker IDs of this test process, so that its leak
// check (and its tests) never see another process's containers.
var runToken = rand.Text()[:8]

// TestMain fails the package if its tests leave a container behind.
func TestMain(m *testing.M) {
	code := m.Run()
	if staticInitDir != "" {
		os.RemoveAll(staticInitDir)
	}
	if left := leftContainers(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "containers left behind by the tests: %s\n", strings.Join(left, ", "))
		code = 1
	}
	os.Exit(code)
}

// leftContainers lists the containers of this process's workers that are
// still on the engine.
func leftContainers() []string {
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return nil
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cli.ContainerList(ctx, client.ContainerListOptions{
		All: true, Filters: make(client.Filters).Add("label", "rgrid.managed=true"),
	})
	if err != nil {
		return nil // no engine: the tests were skipped
	}
	var left []string
	for _, c := range res.Items {
		if w := c.Labels["rgrid.worker"]; strings.HasSuffix(w, "-"+runToken) {
			left = append(left, fmt.Sprintf("%.12s (worker %s, job %s)", c.ID, w, c.Labels["rgrid.job"]))
		}
	}
	// Environment build containers (env_build.go).
	builds, err := cli.ContainerList(ctx, client.ContainerListOptions{
		All: true, Filters: make(client.Filters).Add("label", "rgrid.env.build"),
	})
	if err != nil {
		return left
	}
	for _, c := range builds.Items {
		if w := c.Labels["rgrid.env.build"]; strings.HasSuffix(w, "-"+runToken) {
			left = append(left, fmt.Sprintf("%.12s (build container of worker %s)", c.ID, w))
		}
	}
	return left
}

type run struct {
	h              executor.Handle
	stdout, stderr *executortest.Buffer
	began          time.Time
}

type outcome struct {
	res            executor.Result
	stdout, stderr string
	elapsed        time.Duration
}

func (b *testBundle) start(t *testing.T, spec executor.Spec) *run {
	t.Helper()
	r := &run{stdout: executortest.NewBuffer(), stderr: executortest.NewBuffer(), began: time.Now()}
	spec.Stdout, spec.Stderr = r.stdout, r.stderr
	if b.warm {
		b.awaitWarm(t, spec)
		r.began = time.Now()
	}
	h, err := b.ex.Start(t.Context(), spec)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if b.warm && !docker.RanWarm(h) {
		t.Fatal("the run did not start in a warm container")
	}
	r.h = h
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitBound)
		defer cancel()
		_ = h.Kill(ctx)
	})
	return r
}

func (r *run) wait(t *testing.T) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitBound)
	defer cancel()
	res, err := r.h.Wait(ctx)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return outcome{res: res, stdout: r.stdout.String(), stderr: r.stderr.String(), elapsed: time.Since(r.began)}
}

// awaitWarm waits until a warm container for spec waits in b's pool.
func (b *testBundle) awaitWarm(t *testing.T, spec executor.Spec) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitBound)
	defer cancel()
	if err := docker.AwaitWarm(ctx, b.ex, spec); err != nil {
		t.Fatalf("AwaitWarm: %v", err)
	}
}

// runHelper runs the helper with script and waits for it.
func (b *testBundle) runHelper(t *testing.T, script string, tweak func(*executor.Spec)) outcome {
	t.Helper()
	return b.start(t, b.helperSpec(t, script, tweak)).wait(t)
}

func (o outcome) wantExit(t *testing.T, code int) {
	t.Helper()
	if o.res.Outcome != executor.Exited || o.res.ExitCode != code {
		t.Fatalf("want exited with code %d, got %+v\nstdout: %s\nstderr: %s", code, o.res, o.stdout, o.stderr)
	}
}

func dockerClient(t *testing.T) *client.Client {
	t.Helper()
	cli, err := client.New(client.FromEnv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func listContainers(t *testing.T, label string) []container.Summary {
	t.Helper()
	res, err := dockerClient(t).ContainerList(t.Context(), client.ContainerListOptions{
		All: true, Filters: make(client.Filters).Add("label", label),
	})
	if err != nil {
		t.Fatal(err)
	}
	return res.Items
}

// assertNoLeftovers checks that no container of the test's worker and no
// run directory is left. A run is removed just after its result, so that
// is waited for.
func assertNoLeftovers(t *testing.T, b *testBundle) {
	t.Helper()
	if b.warm {
		docker.ClosePool(b.ex) // its waiting containers and their directories go too
	}
	executortest.AssertReleased(t, b.workDir) // mounts and loop devices too; waits
	awaitNoContainers(t, "rgrid.worker="+b.worker)
}

// awaitNoContainers waits up to 30 s for no container to carry label.
func awaitNoContainers(t *testing.T, label string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		list := listContainers(t, label)
		if len(list) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%d containers (%s) left behind, first %s", len(list), label, list[0].ID)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testWriter sends the executor's log to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// stagedSpec is a Python job staged as job/main.py with a disk limit.
func (b *testBundle) stagedSpec(t *testing.T, script string) executor.Spec {
	return b.helperSpec(t, "", func(s *executor.Spec) {
		s.Image, s.Command, s.FileName, s.Script = testimages.Python(t), []string{"python3.11"}, "job/main.py", nil
		s.Stage = func(dir string) error {
			if err := os.Mkdir(filepath.Join(dir, "job"), 0o755); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, "job", "main.py"), []byte(script), 0o644)
		}
		s.Limits.DiskBytes = 32 << 20
	})
}
