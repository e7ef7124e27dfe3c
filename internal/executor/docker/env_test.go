package docker_test

// Jobs with requirements, against a real engine and a real pip installing
// a wheel of our own from an index of our own (wheel_test.go).

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/rgrid/rgrid/internal/executor"
	"github.com/rgrid/rgrid/internal/executor/docker"
	"github.com/rgrid/rgrid/internal/executor/executortest"
	"github.com/rgrid/rgrid/internal/testimages"
)

const helloScript = "import rgrid_hello\nprint(rgrid_hello.hello())\n"

func TestEnvInstalledOnceThenCached(t *testing.T) {
	b := setupEnv(t, nil)
	reqs := b.reqs(t, "rgrid-hello==1.0")

	got, sys := b.run(t, helloScript, reqs)
	got.wantExit(t, 0)
	if got.stdout != testimages.HelloOutput+"\n" {
		t.Errorf("stdout %q, want %q", got.stdout, testimages.HelloOutput+"\n")
	}
	for _, want := range []string{
		"rgrid: dependencies: installing 1 package into a new environment (cached for later runs)\n",
		"pip: Successfully installed rgrid-hello-1.0\n",
		"rgrid: dependencies: installed 1 package in ",
	} {
		if !strings.Contains(sys, want) {
			t.Errorf("system output lacks %q", want)
		}
	}
	if strings.Contains(got.stdout+got.stderr, "pip:") {
		t.Errorf("pip's output mixed into the script's: %q %q", got.stdout, got.stderr)
	}

	got, sys = b.run(t, helloScript, reqs)
	got.wantExit(t, 0)
	if got.stdout != testimages.HelloOutput+"\n" {
		t.Errorf("second run: stdout %q", got.stdout)
	}
	want := "rgrid: dependencies: using cached environment " + docker.EnvTag(b.python, reqs) + " (1 package)\n"
	if sys != want {
		t.Errorf("second run: system output %q, want only %q (no pip)", sys, want)
	}
	b.run(t, "print('no requirements')", nil) // its time, for comparison in the log
	b.assertNoLeftovers(t)
}

func TestEnvConcurrentStartsBuildOnce(t *testing.T) {
	b := setupEnv(t, nil)
	reqs := b.reqs(t, "rgrid-hello")
	const n = 2
	var wg sync.WaitGroup
	systems := make([]*executortest.Buffer, n)
	results := make([]outcome, n)
	errs := make([]error, n)
	for i := range n {
		systems[i] = executortest.NewBuffer()
		wg.Go(func() {
			spec := b.spec(t, helloScript, reqs, systems[i])
			spec.Attempt = i + 1
			out, errw := executortest.NewBuffer(), executortest.NewBuffer()
			spec.Stdout, spec.Stderr = out, errw
			h, err := b.ex.Start(t.Context(), spec)
			if err != nil {
				errs[i] = err
				return
			}
			ctx, cancel := context.WithTimeout(t.Context(), waitBound)
			defer cancel()
			res, err := h.Wait(ctx)
			results[i], errs[i] = outcome{res: res, stdout: out.String(), stderr: errw.String()}, err
		})
	}
	wg.Wait()
	var installs, pipRuns int
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("run %d: %v", i, errs[i])
		}
		results[i].wantExit(t, 0)
		sys := systems[i].String()
		t.Logf("run %d system output:\n%s", i, sys)
		installs += strings.Count(sys, "rgrid: dependencies: installing")
		pipRuns += strings.Count(sys, "pip: Successfully installed")
	}
	if installs != 1 || pipRuns != 1 {
		t.Errorf("%d installs and %d pip runs for two concurrent starts, want 1 and 1", installs, pipRuns)
	}
	b.assertNoLeftovers(t)
}

func TestEnvMisspelledPackage(t *testing.T) {
	b := setupEnv(t, nil)
	reqs := b.reqs(t, "rgrid-helo==1.0")
	sys := executortest.NewBuffer()
	h, err := b.ex.Start(t.Context(), b.spec(t, helloScript, reqs, sys))
	if err == nil {
		_ = h.Kill(t.Context())
		t.Fatal("Start with a package the index lacks: want an error")
	}
	t.Logf("error: %v\nsystem output:\n%s", err, sys.String())
	var de *executor.DependencyError
	if !errors.Is(err, executor.ErrDependencyInstall) || !errors.As(err, &de) {
		t.Fatalf("want ErrDependencyInstall with a *DependencyError, got %#v", err)
	}
	for _, want := range []string{`"rgrid-helo==1.0"`, "not found", "http://pypi:8080/simple"} {
		if !strings.Contains(de.Hint, want) {
			t.Errorf("hint %q lacks %q", de.Hint, want)
		}
	}
	if !strings.Contains(de.Output, "No matching distribution found for rgrid-helo") {
		t.Errorf("output lacks pip's reason: %q", de.Output)
	}
	if !strings.Contains(sys.String(), "pip: ERROR: ") {
		t.Errorf("pip's output not shown to the user")
	}
	if b.imageExists(t, reqs) {
		t.Error("a failed install left an environment image")
	}
	b.assertNoLeftovers(t)
}

func TestEnvJobKeepsIsolation(t *testing.T) {
	b := setupEnv(t, nil)
	reqs := b.reqs(t, "rgrid-hello>=1")
	script := fmt.Sprintf(`import os, socket, sys, rgrid_hello
print("uid", os.getuid(), os.getgid())
print("net", sorted(os.listdir("/sys/class/net")))
print("prefix", sys.prefix)
print("path", os.environ["PATH"])
try:
    open("/opt/rgrid/venv/x", "w")
    print("venv writable")
except OSError:
    print("venv read-only")
try:
    socket.create_connection((%q, 8080), timeout=2)
    print("index reachable")
except OSError:
    print("index unreachable")
`, b.index.IP)
	got, _ := b.run(t, script, reqs)
	got.wantExit(t, 0)
	for _, want := range []string{
		"uid 65534 65534\n", "net ['lo']\n", "prefix /opt/rgrid/venv\n",
		"path /opt/rgrid/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n",
		"venv read-only\n", "index unreachable\n",
	} {
		if !strings.Contains(got.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s%s", want, got.stdout, got.stderr)
		}
	}

	// The image runs like its base, carries its key and none of the build's
	// settings (pip's index could hold credentials).
	img, err := dockerClient(t).ImageInspect(t.Context(), docker.EnvTag(b.python, reqs))
	if err != nil {
		t.Fatal(err)
	}
	cfg := img.Config
	if key := cfg.Labels[docker.LabelEnvKey]; len(key) != 64 || !strings.HasSuffix(docker.EnvTag(b.python, reqs), ":"+key[:24]) {
		t.Errorf("label %s = %q", docker.LabelEnvKey, key)
	}
	if got := cfg.Labels[docker.LabelEnvBase]; got != b.python {
		t.Errorf("label %s = %q, want %q", docker.LabelEnvBase, got, b.python)
	}
	if !slices.Equal(cfg.Cmd, []string{"python3.11"}) || len(cfg.Entrypoint) != 0 {
		t.Errorf("image command %q, entrypoint %q; want the base's", cfg.Cmd, cfg.Entrypoint)
	}
	env := strings.Join(cfg.Env, "\n")
	if !strings.Contains(env, "VIRTUAL_ENV=/opt/rgrid/venv") || strings.Contains(env, "PIP_") || strings.Contains(env, "pypi") {
		t.Errorf("image environment %q", cfg.Env)
	}
}

func TestEnvBuildTimeout(t *testing.T) {
	b := setupEnv(t, func(o *docker.Options) { o.BuildTimeout = 2 * time.Second })
	reqs := b.reqs(t, "rgrid-hello<3")
	began := time.Now()
	_, err := b.ex.Start(t.Context(), b.spec(t, helloScript, reqs, nil))
	t.Logf("after %v: %v", time.Since(began), err)
	var de *executor.DependencyError
	if !errors.As(err, &de) || !errors.Is(err, executor.ErrDependencyInstall) {
		t.Fatalf("want a *DependencyError, got %#v", err)
	}
	if !strings.Contains(de.Hint, "longer than 2 s, the worker's build timeout") {
		t.Errorf("hint %q", de.Hint)
	}
	if took := time.Since(began); took > 15*time.Second {
		t.Errorf("a build past its 2 s timeout ended after %v", took)
	}
	if b.imageExists(t, reqs) {
		t.Error("a timed-out build left an environment image")
	}
	b.assertNoLeftovers(t)
}

// Its evictions are scoped (SetEnvScope): they remove only its own
// images, never those of the tests running beside it.
func TestEnvEvictsLeastRecentlyUsed(t *testing.T) {
	b := setupEnv(t, func(o *docker.Options) { o.EnvCacheBytes = 1 })
	docker.SetEnvScope(b.ex, b.worker)
	setA, setB, setC := b.reqs(t, "rgrid-hello<2"), b.reqs(t, "rgrid-hello~=1.0"), b.reqs(t, "rgrid-hello!=0.9")

	got, _ := b.run(t, helloScript, setA)
	got.wantExit(t, 0)
	got, _ = b.run(t, helloScript, setB)
	got.wantExit(t, 0)
	if b.imageExists(t, setA) || !b.imageExists(t, setB) {
		t.Fatalf("after building B beyond the cache size: A exists %v, B exists %v; want A evicted, B kept",
			b.imageExists(t, setA), b.imageExists(t, setB))
	}

	// B in use by a running job: building C must leave it.
	// Its time limit outlasts C's build on a loaded machine (a minute and
	// more), so that B stays in use throughout.
	inUse := b.spec(t, "import time\nprint('up', flush=True)\ntime.sleep(600)\n", setB, nil)
	inUse.Limits.Timeout = 10 * time.Minute
	r := b.start(t, inUse)
	r.stdout.WaitFor(t, "up")
	got, _ = b.run(t, helloScript, setC)
	got.wantExit(t, 0)
	if !b.imageExists(t, setB) || !b.imageExists(t, setC) {
		t.Errorf("B (in use) exists %v, C (just built) exists %v; want both", b.imageExists(t, setB), b.imageExists(t, setC))
	}
	if err := r.h.Kill(t.Context()); err != nil {
		t.Fatal(err)
	}
	b.assertNoLeftovers(t)
}

func TestRemoveOrphansRemovesStaleBuilds(t *testing.T) {
	b := setup(t)
	cli := dockerClient(t)
	c, err := cli.ContainerCreate(t.Context(), client.ContainerCreateOptions{
		Config: &container.Config{
			Image: b.helper, Cmd: []string{"/helper", "sleep", "600"},
			Labels: map[string]string{"rgrid.env.build": b.worker},
		},
		HostConfig: &container.HostConfig{NetworkMode: "none"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = cli.ContainerRemove(context.Background(), c.ID, client.ContainerRemoveOptions{Force: true})
	})
	if _, err := cli.ContainerStart(t.Context(), c.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ex.RemoveOrphans(t.Context(), func(string, int) bool { return true }); err != nil {
		t.Fatalf("RemoveOrphans: %v", err)
	}
	if list := listContainers(t, "rgrid.env.build="+b.worker); len(list) != 0 {
		t.Errorf("the build container a crash left is still there")
	}
}
