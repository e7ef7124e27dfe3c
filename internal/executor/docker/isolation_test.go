package docker_test

// What a job must not be able to do, and the limits it must hit, checked
// with the helper image against a real engine.

import (
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/rgrid/rgrid/internal/executor"
)

func TestOOMKilled(t *testing.T) {
	b := setup(t)
	got := b.runHelper(t, "alloc 2048 256", func(s *executor.Spec) { s.Limits.MemoryBytes = 512 << 20 })
	if got.res.Outcome != executor.OOMKilled {
		t.Fatalf("want OOM killed, got %+v\nstdout: %s", got.res, got.stdout)
	}
	if want := "exceeded its memory limit of 512 MiB"; got.res.Message != want {
		t.Errorf("message %q, want %q", got.res.Message, want)
	}
	if got.res.ExitCode != 137 || strings.Contains(got.stdout, "done") {
		t.Errorf("exit code %d, stdout %q: the allocation must not have finished", got.res.ExitCode, got.stdout)
	}
}

func TestExit137IsNotOOM(t *testing.T) {
	b := setup(t)
	// Exit status 137 without a memory kill: the OOM verdict must come
	// from the engine, not from the number.
	b.runHelper(t, "exit 137", nil).wantExit(t, 137)
}

func TestTimeout(t *testing.T) {
	b := setup(t)
	got := b.runHelper(t, "sleep 600", func(s *executor.Spec) { s.Limits.Timeout = 5 * time.Second })
	if got.res.Outcome != executor.TimedOut {
		t.Fatalf("want timed out, got %+v", got.res)
	}
	if want := "killed after 5 s (the job's time limit)"; got.res.Message != want {
		t.Errorf("message %q, want %q", got.res.Message, want)
	}
	// The job sleeps 600 s: the bounds say the limit ended it, with room
	// for a loaded engine (creating and starting a container has taken
	// 4 s here while the e2e suite ran beside it; Wait's elapsed time
	// includes that, the job's duration does not).
	if got.res.ExitCode != 137 || got.res.Duration < 5*time.Second || got.res.Duration > 20*time.Second || got.elapsed > 60*time.Second {
		t.Errorf("exit code %d, duration %v, Wait after %v; want 137, 5–20 s, < 60 s",
			got.res.ExitCode, got.res.Duration, got.elapsed)
	}
}

func TestKillIsQuick(t *testing.T) {
	b := setup(t)
	r := b.start(t, b.helperSpec(t, "sleep 600", nil))
	r.stdout.WaitFor(t, "sleeping")
	began := time.Now()
	if err := r.h.Kill(t.Context()); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	took := time.Since(began)
	t.Logf("Kill returned after %v", took)
	if took > 2*time.Second {
		t.Errorf("Kill took %v, want < 2 s", took)
	}
	got := r.wait(t)
	if got.res.Outcome != executor.Killed || got.res.ExitCode != 137 || got.res.Message != "killed on request" {
		t.Errorf("want killed, got %+v", got.res)
	}
	if err := r.h.Kill(t.Context()); err != nil {
		t.Errorf("second Kill: %v", err)
	}
	assertNoLeftovers(t, b)
}

func TestForkBombContained(t *testing.T) {
	b := setup(t)
	r := b.start(t, b.helperSpec(t, "forkbomb 8", func(s *executor.Spec) {
		s.Limits.Pids = 256
		s.Limits.Timeout = 30 * time.Second
	}))
	r.stdout.WaitFor(t, "forkbomb: started")
	// The host must still be able to start processes while the bomb goes.
	if out, err := exec.CommandContext(t.Context(), "true").CombinedOutput(); err != nil {
		t.Errorf("host cannot start a process during the fork bomb: %v %s", err, out)
	}
	got := r.wait(t)
	t.Logf("fork bomb ended after %v: %+v; stdout %q; stderr %.300q", got.elapsed, got.res, got.stdout, got.stderr)
	// Evidence that the kernel refused new tasks (EAGAIN): the helper's
	// count of refused starts, or the Go runtime dying for want of a thread.
	refused := strings.Contains(got.stderr, "errno=11") || strings.Contains(got.stderr, "resource temporarily unavailable")
	if m := regexp.MustCompile(`(\d+) refused`).FindStringSubmatch(got.stdout); m != nil {
		n, _ := strconv.Atoi(m[1])
		refused = refused || n > 0
	}
	if !refused {
		t.Errorf("the pids limit never refused a process")
	}
	b.runHelper(t, "echo-lines 1", nil).wantExit(t, 0)
	assertNoLeftovers(t, b)
}

func TestNetwork(t *testing.T) {
	b := setup(t)
	// A server on this machine, reachable from the bridge and nowhere else.
	ln, err := net.Listen("tcp", net.JoinHostPort(bridgeGateway(t).String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan struct{}, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
			select {
			case accepted <- struct{}{}:
			default:
			}
		}
	}()
	addr := ln.Addr().String()

	for _, target := range []string{addr, "1.1.1.1:53"} {
		got := b.runHelper(t, "net "+target, nil)
		if got.res.ExitCode == 0 || strings.Contains(got.stdout, "connected") {
			t.Errorf("without network, dial %s succeeded: %+v %s", target, got.res, got.stdout)
		}
	}
	got := b.runHelper(t, "net "+addr, func(s *executor.Spec) { s.Network = true })
	got.wantExit(t, 0)
	select {
	case <-accepted:
	case <-t.Context().Done():
		t.Error("the server never saw the connection")
	}
}

func TestFilesystem(t *testing.T) {
	b := setup(t)
	for _, tc := range []struct {
		script string
		ok     bool
	}{
		{"write /x", false},
		{"write /etc/x", false},
		{"write /rgrid/input/x", false},
		{"write /rgrid/input/script", false},
		{"write /tmp/x", true},
		{"write /rgrid/work/x", true},
		{"write x", true}, // the working directory
	} {
		got := b.runHelper(t, tc.script, nil)
		if ok := got.res.Outcome == executor.Exited && got.res.ExitCode == 0; ok != tc.ok {
			t.Errorf("%s: want ok=%v, got %+v %s %s", tc.script, tc.ok, got.res, got.stdout, got.stderr)
		}
	}
	got := b.runHelper(t, "whoami", nil)
	got.wantExit(t, 0)
	if got.stdout != "uid=65534 gid=65534\n" {
		t.Errorf("runs as %q, want uid=65534 gid=65534", got.stdout)
	}
}

func TestRunsDoNotShareFiles(t *testing.T) {
	b := setup(t)
	for _, dir := range []string{"/tmp", "/rgrid/work"} {
		b.runHelper(t, "write "+dir+"/left-behind", nil).wantExit(t, 0)
		got := b.runHelper(t, "ls "+dir, nil)
		got.wantExit(t, 0)
		if strings.Contains(got.stdout, "left-behind") {
			t.Errorf("a later run sees %s/left-behind from an earlier one", dir)
		}
	}
}

// Not parallel: the lower bound needs the half core the quota allows, which
// the package's other tests would compete for on a small machine.
func TestCPULimit(t *testing.T) {
	b := newBundle(t)
	got := b.runHelper(t, "busy 4", func(s *executor.Spec) { s.Limits.CPUs = 0.5 })
	got.wantExit(t, 0)
	cpu, err := strconv.ParseFloat(strings.TrimPrefix(strings.TrimSpace(got.stdout), "cpu "), 64)
	if err != nil {
		t.Fatalf("want a CPU time, got %q", got.stdout)
	}
	load := loadAverage(t)
	t.Logf("a 4 s busy loop limited to 0.5 CPUs got %.3f s of CPU (load average %.1f on %d CPUs)", cpu, load, runtime.NumCPU())
	if cpu > 2.6 {
		t.Errorf("CPU time %.3f s, want about 2 s (1.4–2.6): the quota is not enforced", cpu)
	}
	// The quota is a ceiling, not a guarantee: on a host busier than its
	// cores (other packages' tests) the run may get less, through no fault
	// of the executor.
	if cpu < 1.4 {
		if load > float64(runtime.NumCPU()) {
			t.Logf("host overloaded: lower bound not checked")
		} else {
			t.Errorf("CPU time %.3f s, want about 2 s (1.4–2.6)", cpu)
		}
	}
}

// loadAverage is the host's one-minute load average.
func loadAverage(t *testing.T) float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		t.Fatal(err)
	}
	load, err := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	if err != nil {
		t.Fatal(err)
	}
	return load
}

// bridgeGateway returns this machine's address on Docker's default bridge.
func bridgeGateway(t *testing.T) netip.Addr {
	t.Helper()
	res, err := dockerClient(t).NetworkInspect(t.Context(), "bridge", client.NetworkInspectOptions{})
	if err != nil || len(res.Network.IPAM.Config) == 0 {
		t.Fatalf("inspect the bridge network: %v %+v", err, res.Network.IPAM)
	}
	cfg := res.Network.IPAM.Config[0]
	if cfg.Gateway.IsValid() {
		return cfg.Gateway
	}
	// Engines configured with a bridge IP (bip) list only the subnet: the
	// gateway is then the bridge interface's own address in it.
	if iface, err := net.InterfaceByName(res.Network.Options["com.docker.network.bridge.name"]); err == nil {
		addrs, _ := iface.Addrs()
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil && cfg.Subnet.Contains(p.Addr()) {
				return p.Addr()
			}
		}
	}
	return cfg.Subnet.Masked().Addr().Next() // Docker's default choice
}
