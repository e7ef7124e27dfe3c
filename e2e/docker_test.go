package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	rgclient "github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/testdb"
	"github.com/rgrid/rgrid/internal/testimages"
)

// dockerGrid is a server on PostgreSQL and one worker with the Docker
// executor, the python3.11 runtime pointed at the locally built image.
func dockerGrid(t *testing.T, slots int, workerArgs ...string) *grid {
	t.Helper()
	g, _ := dockerGridWorker(t, slots, workerArgs...)
	return g
}

// dockerGridWorker is dockerGrid that also returns the worker's process.
func dockerGridWorker(t *testing.T, slots int, workerArgs ...string) (*grid, *proc) {
	t.Helper()
	return dockerGridEnv(t, slots, nil, workerArgs...)
}

// dockerGridEnv is dockerGridWorker with extraEnv in the environment of
// the server, the worker and the CLI.
func dockerGridEnv(t *testing.T, slots int, extraEnv []string, workerArgs ...string) (*grid, *proc) {
	t.Helper()
	img := testimages.Python(t)
	cfg := filepath.Join(t.TempDir(), "config.toml")
	err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
[[runtimes]]
name = "python3.11"
image = %q

[[runtimes]]
name = "missing"
image = "rgrid-test/does-not-exist:1"
command = ["python3"]
`, img)), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	env := isolatedEnv(t, append([]string{"RGRID_CONFIG=" + cfg}, extraEnv...)...)
	// Heartbeats every 30 s: what reaches a worker sooner (a cancel) came
	// through its long poll, not a heartbeat.
	_, url := startServer(t, env, testdb.PostgresURL(t), "--heartbeat-interval", "30s", "--dead-after", "90s")
	// Worker ids are unique per test: a starting worker removes every
	// container labelled with its id.
	w := startWorker(t, env, url, "dw-"+strings.ReplaceAll(t.Name(), "/", "-"), slots,
		append([]string{"--executor", "docker"}, workerArgs...)...)
	return &grid{env: env, url: url, c: newClient(t, url)}, w
}

func TestDockerLimitsAndOutcomes(t *testing.T) {
	t.Parallel()
	g := dockerGrid(t, 3)

	t.Run("out of memory ends oom_killed and names --memory", func(t *testing.T) {
		t.Parallel()
		script := writeScript(t, "hog.py", `chunks = []
for i in range(8):
    chunks.append(bytearray(256 * 1024 * 1024))
    print("allocated", (i + 1) * 256, "MB", flush=True)
`)
		r := g.rgrid(t, "run", "--timeout", "60s", script)
		if r.code != 137 {
			t.Fatalf("exit %d, want 137; stderr %q", r.code, r.stderr)
		}
		s := g.rgrid(t, "status", jobIDByFile(t, g, "hog.py"))
		if !strings.Contains(r.stderr, "Hint: give it more memory with --memory, e.g. --memory 1g") {
			t.Errorf("rgrid run's hint does not name --memory with a larger value:\n%s", r.stderr)
		}
		for _, want := range []string{"oom_killed", "512 MiB", "--memory 1g"} {
			if !strings.Contains(s.stdout, want) {
				t.Errorf("status lacks %q:\n%s", want, s.stdout)
			}
		}
	})

	t.Run("timeout ends timed_out near the limit", func(t *testing.T) {
		t.Parallel()
		script := writeScript(t, "sleepy.py", "import time\nprint('sleeping', flush=True)\ntime.sleep(600)\n")
		start := time.Now()
		r := g.rgrid(t, "run", "--timeout", "5s", script)
		took := time.Since(start)
		if r.code != 124 || !strings.Contains(r.stderr, "killed after 5 s") ||
			!strings.Contains(r.stderr, "Hint: give it more time with --timeout, e.g. --timeout 10s") {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
		if took > 20*time.Second {
			t.Errorf("took %s for a 5 s limit", took)
		}
	})

	t.Run("fork bomb ends and the worker runs the next job", func(t *testing.T) {
		t.Parallel()
		script := writeScript(t, "bomb.py", `import os, time
end = time.time() + 8
while time.time() < end:
    try:
        os.fork()
    except OSError:
        pass
`)
		start := time.Now()
		r := g.rgrid(t, "run", "--timeout", "20s", script)
		t.Logf("fork bomb ended with exit code %d after %s", r.code, time.Since(start))
		ok := writeScript(t, "ok.py", "print('still fine')\n")
		if r := g.rgrid(t, "run", ok); r.code != 0 || r.stdout != "still fine\n" {
			t.Errorf("next job: %d %q %q", r.code, r.stdout, r.stderr)
		}
	})

	// The script's directory is the job's working directory (writable),
	// and what the job writes there comes back: the second run sees the
	// first's "seen" as an input, and nothing of /tmp.
	t.Run("filesystem: read-only root, writable tmp and workdir, non-root, nothing left over", func(t *testing.T) {
		t.Parallel()
		script := writeScript(t, "fs.py", `import os
def tryw(p):
    try:
        with open(p, "w") as f:
            f.write("x")
        return "ok"
    except OSError as e:
        return "denied"
print("uid", os.getuid())
print("root", tryw("/etc/rgrid-test"))
print("usr", tryw("/usr/rgrid-test"))
print("input", tryw(os.path.join(os.path.dirname(os.path.abspath(__file__)), "x")))
print("tmp", tryw("/tmp/left-over"))
print("work", tryw("left-over"))
print("seen", os.path.exists("/tmp/seen"), os.path.exists("seen"))
tryw("/tmp/seen"); tryw("seen")
`)
		for i := range 2 {
			r := g.rgrid(t, "run", script)
			if r.code != 0 {
				t.Fatalf("run %d: %d %q", i, r.code, r.stderr)
			}
			want := fmt.Sprintf("uid 65534\nroot denied\nusr denied\ninput ok\ntmp ok\nwork ok\nseen False %v\n",
				map[bool]string{false: "False", true: "True"}[i == 1])
			if r.stdout != want {
				t.Errorf("run %d:\n%s\nwant:\n%s", i, r.stdout, want)
			}
		}
	})

	t.Run("recorded limits are the worker's defaults when not asked", func(t *testing.T) {
		t.Parallel()
		script := writeScript(t, "quick.py", "print(1)\n")
		if r := g.rgrid(t, "run", script); r.code != 0 {
			t.Fatalf("%d %q", r.code, r.stderr)
		}
		j, err := g.c.Job(t.Context(), jobIDByFile(t, g, "quick.py"))
		if err != nil {
			t.Fatal(err)
		}
		if j.Limits.TimeoutSeconds != 300 || j.Limits.MemoryBytes != 512<<20 || j.Limits.CPUs != 1 || j.Limits.Pids != 256 {
			t.Errorf("recorded limits = %+v", j.Limits)
		}
	})

	t.Run("a job over the worker's maximum is refused at submission", func(t *testing.T) {
		t.Parallel()
		script := writeScript(t, "big.py", "print(1)\n")
		r := g.rgrid(t, "run", "--memory", "64g", script)
		if r.code != 2 || !strings.Contains(r.stderr, "8 GiB") || !strings.Contains(r.stderr, "--max-memory") {
			t.Errorf("%d %q", r.code, r.stderr)
		}
	})

	t.Run("a missing image ends error with the engine's reason and a hint", func(t *testing.T) {
		t.Parallel()
		script := writeScript(t, "img.py", "print(1)\n")
		r := g.rgrid(t, "run", "--runtime", "missing", script)
		if r.code != 125 || !strings.Contains(r.stderr, "rgrid-test/does-not-exist:1") ||
			!strings.Contains(r.stderr, "Hint: check the runtime's image name (rgrid runtimes)") {
			t.Errorf("%d %q", r.code, r.stderr)
		}
		j, err := g.c.Job(t.Context(), jobIDByFile(t, g, "img.py"))
		if err != nil || j.State != rgclient.StateError || j.Reason != "image_pull_failed" {
			t.Errorf("job: %v %s %s", err, j.State, j.Reason)
		}
	})
}

func jobIDByFile(t *testing.T, g *grid, name string) string {
	t.Helper()
	l, err := g.c.Jobs(t.Context(), rgclient.ListOptions{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range l.Jobs {
		if j.FileName == name {
			return j.ID
		}
	}
	t.Fatalf("no job for %s", name)
	return ""
}

func TestDockerNetworkIsOptIn(t *testing.T) {
	t.Parallel()
	g := dockerGrid(t, 2)
	// A server of the test's own on the Docker bridge's gateway: the only
	// place the job may reach, and only with --network.
	gw := bridgeGateway(t)
	ln, err := net.Listen("tcp", net.JoinHostPort(gw, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("hello from the host\n"))
			c.Close()
		}
	}()
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	script := writeScript(t, "net.py", fmt.Sprintf(`import socket
try:
    s = socket.create_connection((%q, %s), timeout=3)
    print(s.recv(100).decode().strip())
except OSError as e:
    print("no network:", type(e).__name__)
`, host, port))
	if r := g.rgrid(t, "run", script); !strings.HasPrefix(r.stdout, "no network") {
		t.Errorf("without --network: %q %q", r.stdout, r.stderr)
	}
	if r := g.rgrid(t, "run", "--network", script); r.stdout != "hello from the host\n" {
		t.Errorf("with --network: %q %q", r.stdout, r.stderr)
	}
}

func bridgeGateway(t *testing.T) string {
	t.Helper()
	cli, err := client.New(client.FromEnv)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	n, err := cli.NetworkInspect(ctx, "bridge", client.NetworkInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range n.Network.IPAM.Config {
		if c.Gateway.IsValid() {
			return c.Gateway.String()
		}
	}
	// Older engines leave the gateway out: it is the bridge interface's
	// own address.
	name := n.Network.Options["com.docker.network.bridge.name"]
	if name == "" {
		name = "docker0"
	}
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		t.Fatalf("bridge interface %s: %v", name, err)
	}
	addrs, _ := ifc.Addrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
			return ipn.IP.String()
		}
	}
	t.Fatalf("bridge interface %s has no IPv4 address", name)
	return ""
}

func TestDockerCPUAndCancel(t *testing.T) {
	t.Parallel()
	g := dockerGrid(t, 2)

	t.Run("half a CPU is half a CPU", func(t *testing.T) {
		t.Parallel()
		script := writeScript(t, "busy.py", `import time
wall0, cpu0 = time.monotonic(), time.process_time()
while time.monotonic() - wall0 < 4:
    pass
print(round((time.process_time() - cpu0) / (time.monotonic() - wall0), 2))
`)
		r := g.rgrid(t, "run", "--cpus", "0.5", script)
		ratio, err := strconv.ParseFloat(strings.TrimSpace(r.stdout), 64)
		if err != nil {
			t.Fatalf("%d %q %q", r.code, r.stdout, r.stderr)
		}
		t.Logf("CPU seconds per wall second with --cpus 0.5: %.2f", ratio)
		// The ceiling proves the limit; the floor only that the loop ran (a
		// loaded machine may give the job less than its half core).
		if ratio < 0.2 || ratio > 0.65 {
			t.Errorf("ratio %.2f, want about 0.5", ratio)
		}
	})

	t.Run("cancel reaches the busy worker at once, not at its next heartbeat", func(t *testing.T) {
		t.Parallel()
		script := writeScript(t, "wait.py", "import time\nprint('up', flush=True)\ntime.sleep(600)\n")
		id := strings.TrimSpace(g.rgrid(t, "run", "--detach", script).stdout)
		page, err := g.c.Logs(t.Context(), id, rgclient.LogOptions{Wait: 30 * time.Second})
		if err != nil || len(page.Chunks) == 0 {
			t.Fatalf("no output: %v", err)
		}
		start := time.Now()
		if r := g.rgrid(t, "cancel", id); r.code != 0 {
			t.Fatal(r.stderr)
		}
		// Well inside one 30 s heartbeat interval, however loaded the
		// machine: the container's stop itself is a few seconds at worst.
		j := waitTerminal(t, g.c, []string{id}, 20*time.Second)[id]
		t.Logf("canceled in %s", time.Since(start))
		if j.State != rgclient.StateCanceled {
			t.Errorf("state %s, want canceled", j.State)
		}
	})
}

// A worker never falls back to running jobs without isolation on its own.
func TestWorkerWithoutDockerRefusesToStart(t *testing.T) {
	t.Parallel()
	env := isolatedEnv(t, "DOCKER_HOST=unix:///nonexistent/docker.sock")
	for _, args := range [][]string{
		{"worker", "--server", "http://127.0.0.1:1", "--executor", "docker"},
		{"worker", "--server", "http://127.0.0.1:1"},
	} {
		r := rgrid(t, env, args...)
		if r.code == 0 || !strings.Contains(r.stderr, "Error: ") || !strings.Contains(r.stderr, "--executor process") ||
			!strings.Contains(r.stderr, "nonexistent/docker.sock") {
			t.Errorf("%v: code %d, stderr %q", args, r.code, r.stderr)
		}
	}
}
