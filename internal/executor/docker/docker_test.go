package docker_test

import (
	"context"
	"errors"
	"log/slog"
	"regexp"
	"slices"
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

// waitBound is how long any one run may take before a test calls it hung.
const waitBound = 60 * time.Second

var unsafeChars = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

// testID names a test's jobs and (with runToken) its worker, so that
// tests running in parallel on one engine never see each other's
// containers.
func testID(t *testing.T) string {
	return "dockertest-" + strings.ToLower(unsafeChars.ReplaceAllString(t.Name(), "-"))
}

type testBundle struct {
	ex      *docker.Executor
	workDir string // the executor's root for run directories
	worker  string
	helper  string // the helper image
	// warm: every run of the bundle starts in a warm container (a test
	// run under TestWarm).
	warm bool
}

// setup is newBundle for a parallel test.
func setup(t *testing.T) *testBundle {
	t.Helper()
	t.Parallel()
	return newBundle(t)
}

func newBundle(t *testing.T) *testBundle {
	t.Helper()
	b := &testBundle{helper: testimages.Helper(t), workDir: t.TempDir(), worker: testID(t) + "-" + runToken,
		warm: strings.HasPrefix(t.Name(), "TestWarm/")}
	opts := docker.Options{
		Logger:   slog.New(slog.NewTextHandler(testWriter{t}, nil)),
		WorkerID: b.worker,
		WorkDir:  b.workDir,
		InitPath: testInit(t),
	}
	if b.warm {
		opts.PoolMax = 2
	}
	ex, err := docker.New(t.Context(), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { ex.Close() })
	b.ex = ex
	return b
}

func TestConformance(t *testing.T) {
	t.Parallel()
	rt := executortest.Runtime{Image: testimages.Python(t), Command: []string{"python3.11"}}
	executortest.Run(t,
		func(t *testing.T, cfg executortest.Config) executor.Executor {
			ex, err := docker.New(t.Context(), docker.Options{
				Logger:    slog.New(slog.NewTextHandler(testWriter{t}, nil)),
				WorkerID:  "executortest-" + runToken,
				WorkDir:   cfg.WorkDir,
				DiskQuota: cfg.DiskQuota,
				InitPath:  testInit(t),
			})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			t.Cleanup(func() { ex.Close() })
			return ex
		},
		rt,
		executortest.Options{ScriptOutsideWorkDir: true},
	)
}

// helperSpec is a run of the helper image doing script (a subcommand and
// its arguments), with the worker's default limits.
func (b *testBundle) helperSpec(t *testing.T, script string, tweak func(*executor.Spec)) executor.Spec {
	s := executor.Spec{
		JobID:    testID(t),
		Attempt:  1,
		Image:    b.helper,
		Command:  []string{"/helper"},
		FileName: "script",
		Script:   []byte(script),
		Limits:   executor.Limits{MemoryBytes: 512 << 20, CPUs: 1, Pids: 256, Timeout: waitBound / 2},
	}
	if tweak != nil {
		tweak(&s)
	}
	return s
}

func TestExitCodeAndOutput(t *testing.T) {
	b := setup(t)
	got := b.runHelper(t, "echo-lines 3", nil)
	got.wantExit(t, 0)
	if got.stdout != "out 0\nout 1\nout 2\n" || got.stderr != "err 0\nerr 1\nerr 2\n" {
		t.Errorf("got stdout %q, stderr %q", got.stdout, got.stderr)
	}
	b.runHelper(t, "exit 7", nil).wantExit(t, 7)
}

func TestEnvironment(t *testing.T) {
	b := setup(t)
	for name, want := range map[string]string{
		"HOME": "/rgrid/work", "TMPDIR": "/tmp", "PYTHONUNBUFFERED": "1", "LANG": "C.UTF-8",
		"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "JOB_VAR": "v",
	} {
		got := b.runHelper(t, "env "+name, func(s *executor.Spec) { s.Env = map[string]string{"JOB_VAR": "v"} })
		got.wantExit(t, 0)
		if got.stdout != want+"\n" {
			t.Errorf("%s = %q, want %q", name, got.stdout, want)
		}
	}
}

func TestBadSpecRefused(t *testing.T) {
	b := setup(t)
	for _, name := range []string{"", ".", "..", "../x.py", "a/b.py", "/etc/passwd", `a\b.py`, "a\x00.py"} {
		h, err := b.ex.Start(t.Context(), b.helperSpec(t, "exit 0", func(s *executor.Spec) { s.FileName = name }))
		if err == nil {
			_ = h.Kill(t.Context())
			t.Errorf("Start with file name %q: want error", name)
		}
	}
	if _, err := b.ex.Start(t.Context(), b.helperSpec(t, "exit 0", func(s *executor.Spec) { s.Command = nil })); err == nil {
		t.Error("Start with no command: want error")
	}
	assertNoLeftovers(t, b)
}

func TestMissingImageFailsFastWithHint(t *testing.T) {
	b := setup(t)
	var sys executortest.Buffer
	spec := b.helperSpec(t, "exit 0", func(s *executor.Spec) {
		s.Image = "rgrid-test/does-not-exist:1"
		s.System = &sys
	})
	began := time.Now()
	h, err := b.ex.Start(t.Context(), spec)
	took := time.Since(began)
	t.Logf("pull failure took %v: %v", took, err)
	if err == nil {
		_ = h.Kill(t.Context())
		t.Fatal("Start with a missing image that cannot be pulled: want error")
	}
	if !errors.Is(err, docker.ErrImagePull) || errors.Is(err, executor.ErrUnavailable) {
		t.Errorf("want ErrImagePull and not ErrUnavailable, got %v", err)
	}
	var pe *docker.PullError
	if !errors.As(err, &pe) || pe.Reason == "" || pe.Image != spec.Image {
		t.Fatalf("want a *PullError with the engine's reason, got %#v", err)
	}
	for _, want := range []string{"rgrid-test/does-not-exist:1", "image name", "config file"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if took > 30*time.Second {
		t.Errorf("pull failure took %v", took)
	}
	if !strings.Contains(sys.String(), "rgrid: pulling rgrid-test/does-not-exist:1") {
		t.Errorf("no pull notice for the user; system output %q", sys.String())
	}
	assertNoLeftovers(t, b)
}

func TestPullBoundedByPullTimeout(t *testing.T) {
	testimages.Docker(t)
	t.Parallel()
	ex, err := docker.New(t.Context(), docker.Options{WorkDir: t.TempDir(), PullTimeout: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	spec := (&testBundle{}).helperSpec(t, "exit 0", func(s *executor.Spec) { s.Image = "rgrid-test/does-not-exist:2" })
	_, err = ex.Start(t.Context(), spec)
	if !errors.Is(err, docker.ErrImagePull) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want ErrImagePull for a deadline, got %v", err)
	}
}

func TestImagePresent(t *testing.T) {
	b := setup(t)
	for image, want := range map[string]bool{b.helper: true, "rgrid-test/does-not-exist:1": false} {
		got, err := b.ex.ImagePresent(t.Context(), image)
		if err != nil || got != want {
			t.Errorf("ImagePresent(%s) = %v, %v; want %v", image, got, err, want)
		}
	}
}

// Not parallel: it changes the process's environment.
func TestUnreachableEngineUnavailable(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent.sock")
	_, err := docker.New(t.Context(), docker.Options{WorkDir: t.TempDir()})
	if !errors.Is(err, executor.ErrUnavailable) {
		t.Fatalf("New: got %v, want ErrUnavailable", err)
	}
	for _, want := range []string{"unix:///nonexistent.sock", "daemon running", "DOCKER_HOST", "/var/run/docker.sock"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if err := docker.Available(t.Context()); !errors.Is(err, executor.ErrUnavailable) {
		t.Errorf("Available: got %v, want ErrUnavailable", err)
	}
}

func TestLabelsAndRemovalAfterWait(t *testing.T) {
	b := setup(t)
	r := b.start(t, b.helperSpec(t, "sleep 600", func(s *executor.Spec) { s.Attempt = 3 }))
	r.stdout.WaitFor(t, "sleeping")
	list := listContainers(t, "rgrid.worker="+b.worker)
	if len(list) != 1 {
		t.Fatalf("want one container for the run, got %d", len(list))
	}
	want := map[string]string{"rgrid.job": testID(t), "rgrid.attempt": "3", "rgrid.worker": b.worker, "rgrid.managed": "true"}
	for k, v := range want {
		if got := list[0].Labels[k]; got != v {
			t.Errorf("label %s = %q, want %q", k, got, v)
		}
	}
	if err := r.h.Kill(t.Context()); err != nil {
		t.Fatal(err)
	}
	r.wait(t)
	assertNoLeftovers(t, b)

	b.runHelper(t, "exit 0", nil).wantExit(t, 0)
	assertNoLeftovers(t, b)
}

func TestRemoveOrphans(t *testing.T) {
	b := setup(t)
	cli := dockerClient(t)
	mk := func(job, worker string, start bool) string {
		c, err := cli.ContainerCreate(t.Context(), client.ContainerCreateOptions{
			Config: &container.Config{
				Image: b.helper, Cmd: []string{"/helper", "sleep", "600"},
				Labels: map[string]string{"rgrid.managed": "true", "rgrid.job": job, "rgrid.attempt": "1", "rgrid.worker": worker},
			},
			HostConfig: &container.HostConfig{NetworkMode: "none"},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_, _ = cli.ContainerRemove(context.Background(), c.ID, client.ContainerRemoveOptions{Force: true})
		})
		if start {
			if _, err := cli.ContainerStart(t.Context(), c.ID, client.ContainerStartOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		return c.ID
	}
	kept := mk("keep-me", b.worker, false)
	mk("drop-me", b.worker, true)
	other := mk("drop-me", b.worker+"-other", false) // another worker's: not ours to judge

	removed, err := b.ex.RemoveOrphans(t.Context(), func(job string, attempt int) bool {
		return job == "keep-me" && attempt == 1
	})
	if err != nil || removed != 1 {
		t.Fatalf("RemoveOrphans = %d, %v; want 1, nil", removed, err)
	}
	var left []string
	for _, c := range listContainers(t, "rgrid.job") {
		if c.Labels["rgrid.worker"] == b.worker || c.Labels["rgrid.worker"] == b.worker+"-other" {
			left = append(left, c.ID)
		}
	}
	if len(left) != 2 || !slices.Contains(left, kept) || !slices.Contains(left, other) {
		t.Errorf("left %v, want the kept one %s and the other worker's %s", left, kept, other)
	}
}
