package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	moby "github.com/moby/moby/client"

	"github.com/rgrid/rgrid/client"
)

// Autoscaling for real on one machine: the docker provider starts worker
// containers on a network of the test's own, as the queue asks.

const fleetWorkerImage = "rgrid-test/worker:e2e"

// buildWorkerImage builds an image of the python test image with a
// static rgrid in it, the image the docker pool's containers run.
func buildWorkerImage(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, "rgrid"), "../cmd/rgrid")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build a static rgrid: %v\n%s", err, out)
	}
	df := "FROM rgrid-test/python:3.11\nCOPY rgrid /usr/local/bin/rgrid\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	img := exec.Command("docker", "build", "-q", "-t", fleetWorkerImage, dir)
	img.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	if out, err := img.CombinedOutput(); err != nil {
		t.Fatalf("docker build %s (run scripts/images.sh first for rgrid-test/python:3.11): %v\n%s", fleetWorkerImage, err, out)
	}
}

// testNetwork creates a bridge network and returns its name and gateway
// (an address of this machine the containers reach); removed at the end.
func testNetwork(t *testing.T, name string) string {
	t.Helper()
	cli := dockerAPI(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if _, err := cli.NetworkCreate(ctx, name, moby.NetworkCreateOptions{Driver: "bridge", Labels: map[string]string{"rgrid-test": "fleet"}}); err != nil {
		t.Fatalf("create network %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, _ = cli.NetworkRemove(ctx, name, moby.NetworkRemoveOptions{})
	})
	n, err := cli.NetworkInspect(ctx, name, moby.NetworkInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range n.Network.IPAM.Config {
		if c.Gateway.IsValid() {
			return c.Gateway.String()
		}
	}
	t.Fatalf("network %s has no gateway", name)
	return ""
}

// freeAddrOn returns an address on ip nothing listens on.
func freeAddrOn(t *testing.T, ip string) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestDockerPoolScalesWithTheQueue: pool min 0 max 3; 12 queued 20 s
// jobs start workers (never more than 3), every job succeeds once and is
// charged at the pool's price, a
// restart of the server mid-scale neither leaks nor duplicates a worker
// container, and the pool returns to 0 after the idle window.
func TestDockerPoolScalesWithTheQueue(t *testing.T) {
	buildWorkerImage(t)
	var b [3]byte
	_, _ = rand.Read(b[:])
	pool := "e2e" + hex.EncodeToString(b[:])
	network := "rgrid-e2e-" + pool
	gw := testNetwork(t, network)
	label := "rgrid-pool=" + pool
	t.Cleanup(func() { removeContainers(t, label) })

	addr := freeAddrOn(t, gw)
	url := "http://" + addr
	config := writeScript(t, "config.toml", fmt.Sprintf(`
[[pools]]
name = %q
provider = "docker"
min = 0
max = 3
slots = 2
cpus = 2
memory = "2GiB"
price_per_hour = "0.02 EUR"
idle_window = "5s"
cooldown_out = "0s"
cooldown_in = "0s"
boot_timeout = "2m"

[pools.docker]
image = %q
network = %q
server_url = %q
`, pool, fleetWorkerImage, network, url))
	env := isolatedEnv(t, "RGRID_CONFIG="+config)
	db := filepath.Join(t.TempDir(), "rgrid.db")
	tokenFile := filepath.Join(t.TempDir(), "admin.token")
	args := []string{"--listen", addr, "--insecure-http", "--bootstrap-token-file", tokenFile, "--autoscale-interval", "1s",
		"--heartbeat-interval", "1s", "--dead-after", "6s"}
	srv, _ := startServer(t, env, db, args...)
	secret, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(url, strings.TrimSpace(string(secret)))
	if err != nil {
		t.Fatal(err)
	}

	// Watch the containers all along: never more than 3, no name twice.
	var (
		mu       sync.Mutex
		most     int
		seen     = map[string]string{} // container name → id
		problems []string
		stopSpy  = make(chan struct{})
		spyEnded = make(chan struct{})
	)
	cli := dockerAPI(t)
	go func() {
		defer close(spyEnded)
		for deadline := time.Now().Add(10 * time.Minute); time.Now().Before(deadline); {
			// Not containers(): a goroutine must not end the test.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			res, err := cli.ContainerList(ctx, moby.ContainerListOptions{All: true, Filters: make(moby.Filters).Add("label", label)})
			cancel()
			cs := res.Items
			mu.Lock()
			if err != nil {
				problems = append(problems, "list failed: "+err.Error())
			}
			most = max(most, len(cs))
			for _, ct := range cs {
				name := strings.TrimPrefix(ct.Names[0], "/")
				if id, ok := seen[name]; ok && id != ct.ID {
					problems = append(problems, "container "+name+" made twice")
				}
				seen[name] = ct.ID
			}
			mu.Unlock()
			select {
			case <-stopSpy:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	defer func() { close(stopSpy); <-spyEnded }()

	var ids []string
	for i := range 12 {
		j, err := c.Submit(t.Context(), client.SubmitRequest{FileName: fmt.Sprintf("sleep%d.py", i),
			Script: []byte("import time\ntime.sleep(20)\nprint('done')\n")})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}

	// Mid-scale (workers up, jobs running), restart the server.
	waitFor(t, 2*time.Minute, "a job running on an autoscaled worker", func() bool {
		js, err := c.Jobs(t.Context(), client.ListOptions{States: []client.JobState{client.StateRunning}})
		return err == nil && len(js.Jobs) > 0
	})
	// The workers running before the restart must all be there after it.
	// A container whose start the stopping server cut short (created, never
	// running) is the provider's to remove as half-made.
	running := map[string]bool{}
	for _, c := range containers(t, label) {
		if c.State == "running" {
			running[c.ID] = true
		}
	}
	if err := syscall.Kill(srv.cmd.Process.Pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitExit(t, srv, 30*time.Second)
	startServer(t, env, db, args...)
	after := map[string]bool{}
	for _, c := range containers(t, label) {
		after[c.ID] = true
	}
	for id := range running {
		if !after[id] {
			t.Errorf("the restart removed worker container %s, which was running before it", id[:12])
		}
	}

	jobs := waitTerminal(t, c, ids, 4*time.Minute)
	for _, id := range ids {
		j, err := c.Job(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		succeeded := 0
		for _, a := range j.Attempts {
			if a.State == client.StateSucceeded {
				succeeded++
			}
		}
		if jobs[id].State != client.StateSucceeded || succeeded != 1 {
			t.Errorf("job %s: %s, %d succeeded attempts (%s)", id, jobs[id].State, succeeded, attemptsSummary(j.Attempts))
		}
		// The pool's price reached its workers: 20 s at one slot's share
		// (1/2) of 0.02 EUR an hour is about 0.000056 EUR.
		if j.Cost == nil || j.Cost.Currency != "EUR" || j.Cost.Micros < 50 {
			t.Errorf("job %s on an autoscaled worker of a priced pool cost %+v", id, j.Cost)
		}
	}

	// Idle: drained and removed, down to 0.
	waitFor(t, 3*time.Minute, "the pool back to 0 worker containers", func() bool { return len(containers(t, label)) == 0 })
	pools, err := c.Pools(t.Context())
	if err != nil || !pools.Enabled || len(pools.Pools) != 1 || pools.Pools[0].Current != 0 {
		t.Errorf("rgrid pools: %+v, %v", pools, err)
	}
	// rgrid pools shows it (the CLI's own environment: no pools of its own).
	r := rgrid(t, isolatedEnv(t), "pools", "--server", url, "--token", strings.TrimSpace(string(secret)))
	if r.code != 0 || !strings.Contains(r.stdout, "POOL") || !strings.Contains(r.stdout, pool+"  docker") {
		t.Errorf("rgrid pools: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	t.Logf("rgrid pools:\n%s", r.stdout)
	mu.Lock()
	defer mu.Unlock()
	if most > 3 {
		t.Errorf("%d worker containers at once; max is 3", most)
	}
	if most == 0 {
		t.Errorf("no worker container was started")
	}
	if len(problems) > 0 {
		t.Errorf("while watching the containers: %v", problems)
	}
	t.Logf("worker containers: %d at most, %d in all", most, len(seen))
}
