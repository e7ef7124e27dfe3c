// Package e2e drives the real rgrid binary: servers, workers and the CLI as
// separate processes, against SQLite and a real PostgreSQL.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/executor/executortest"
)

var rgridBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rgrid-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	rgridBin = filepath.Join(dir, "rgrid")
	build := exec.Command("go", "build", "-o", rgridBin, "../cmd/rgrid")
	// Static, as releases are: its Docker workers mount it as their job
	// containers' init.
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build rgrid:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// isolatedEnv is an environment with its own data and config directories
// and no RGRID_* settings from the developer's shell.
func isolatedEnv(t *testing.T, extra ...string) []string {
	t.Helper()
	home := t.TempDir()
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "RGRID_") || strings.HasPrefix(kv, "XDG_") || strings.HasPrefix(kv, "HOME=") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "HOME="+home, "RGRID_DATA_DIR="+filepath.Join(home, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(home, "config"), "TMPDIR="+privateTmp(t))
	return append(env, extra...)
}

// privateTmp is a TMPDIR for one test's processes, so its workers' run
// directories (TMPDIR/rgrid-runs) are the test's own: the workers a test
// ends are killed, they leave their runs mounted, and a Docker worker that
// finds mounts below a shared run directory not mounted by itself keeps
// its warm pool off. At the test's end, after its workers (started later,
// so stopped earlier), what they left mounted below it is unmounted,
// lazily and deepest first, and the directory removed.
func privateTmp(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "rgrid-e2e-tmp-")
	if err != nil {
		t.Fatal(err)
	}
	if dir, err = filepath.EvalSymlinks(dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		points := executortest.MountsUnder(t, dir)
		for i := len(points) - 1; i >= 0; i-- { // mounted later, listed later
			if err := unix.Unmount(points[i], unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
				t.Errorf("unmount %s: %v", points[i], err)
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("remove the test's TMPDIR: %v", err)
		}
	})
	return dir
}

type result struct {
	stdout, stderr string
	code           int
}

// rgrid runs the CLI to completion.
func rgrid(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, rgridBin, args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("rgrid %v: %v", args, err)
	}
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// proc is a long-running rgrid process (server or worker).
type proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  bytes.Buffer
	done chan struct{}
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// start launches rgrid in the background; the test's cleanup stops it.
// Its stderr is kept (output) for the test's failure message; readiness
// is awaited on a condition (waitReady), never on what it prints.
func start(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	return startBin(t, rgridBin, env, args...)
}

// startBin is start with another rgrid binary.
func startBin(t *testing.T, bin string, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		if t.Failed() {
			t.Logf("output of %s:\n%s", strings.Join(cmd.Args, " "), p.output())
		}
	})
	return p
}

// errExited: the process ended before it got ready.
var errExited = errors.New("exited before it was ready")

// awaitReady polls ready until it holds, for up to 30 s; errExited if the
// process ends first.
func (p *proc) awaitReady(ready func() bool) error {
	deadline := time.Now().Add(30 * time.Second)
	for !ready() {
		select {
		case <-p.done:
			return errExited
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("not ready after 30 s")
		}
	}
	return nil
}

// waitReady is awaitReady that fails the test.
func (p *proc) waitReady(t *testing.T, what string, ready func() bool) {
	t.Helper()
	if err := p.awaitReady(ready); err != nil {
		t.Fatalf("%s: %s %v:\n%s", strings.Join(p.cmd.Args, " "), what, err, p.output())
	}
}

// healthy reports whether a server answers its health check at url.
func healthy(url string) bool {
	c, err := client.New(url, "")
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = c.Health(ctx)
	return err == nil
}

// startListening starts an rgrid that serves on the address given by its
// "--listen ADDR" (args has the placeholder listenHere), and returns once
// it answers its health check there, with its URL. The address is a free
// loopback port; one taken by someone else between the probe and the
// bind makes rgrid exit, and another is tried.
func startListening(t *testing.T, env []string, ready func(url string) bool, args ...string) (*proc, string) {
	t.Helper()
	for try := 0; ; try++ {
		addr := freeAddr(t)
		withAddr := slices.Clone(args)
		for i, a := range withAddr {
			if a == listenHere {
				withAddr[i] = addr
			}
		}
		p := start(t, env, withAddr...)
		url := "http://" + addr
		err := p.awaitReady(func() bool { return healthy(url) && (ready == nil || ready(url)) })
		if err == nil {
			return p, url
		}
		if !errors.Is(err, errExited) || !strings.Contains(p.output(), "address already in use") || try == 2 {
			t.Fatalf("%s: %v:\n%s", strings.Join(p.cmd.Args, " "), err, p.output())
		}
	}
}

// listenHere stands for the free address startListening picks.
const listenHere = "LISTEN_HERE"

// startServer runs "rgrid server" on db and returns its URL once it
// answers. extra may carry a --listen of its own (a fixed address).
func startServer(t *testing.T, env []string, db string, extra ...string) (*proc, string) {
	t.Helper()
	args := append([]string{"server", "--db", db, "--migrate"}, extra...)
	if i := slices.Index(extra, "--listen"); i >= 0 && i+1 < len(extra) {
		p := start(t, env, args...)
		url := "http://" + extra[i+1]
		p.waitReady(t, "answering at "+url, func() bool { return healthy(url) })
		return p, url
	}
	return startListening(t, env, nil, append(args, "--listen", listenHere)...)
}

// startDev runs "rgrid dev" and returns its URL once it answers and its
// worker has registered.
func startDev(t *testing.T, env []string) (*proc, string) {
	t.Helper()
	return startListening(t, env, func(url string) bool { return workerActive(url, "") }, "dev", "--listen", listenHere)
}

// workerActive reports whether the server at url lists worker id as
// active; "" asks for any worker.
func workerActive(url, id string) bool {
	c, err := client.New(url, "")
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ws, err := c.Workers(ctx)
	if err != nil {
		return false
	}
	for _, w := range ws {
		if (id == "" || w.ID == id) && w.State == "active" {
			return true
		}
	}
	return false
}

// startWorker runs "rgrid worker" against url and waits until the server
// lists it as active.
func startWorker(t *testing.T, env []string, url, id string, slots int, extra ...string) *proc {
	t.Helper()
	args := append([]string{"worker", "--server", url, "--worker-id", id, "--slots", fmt.Sprint(slots)}, extra...)
	p := start(t, env, args...)
	removeWarmAtEnd(t, p, id)
	p.waitReady(t, "registered as "+id, func() bool { return workerActive(url, id) })
	return p
}

// removeWarmAtEnd: the test's end kills the worker p with SIGKILL
// (start), which leaves its warm containers waiting; a worker of this id
// would remove them when it started again, and none will, so the test's
// end removes them.
func removeWarmAtEnd(t *testing.T, p *proc, id string) {
	t.Cleanup(func() {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		removeContainers(t, "rgrid.worker="+id, "rgrid.pool=1")
	})
}

func newClient(t *testing.T, url string) *client.Client {
	t.Helper()
	c, err := client.New(url, "")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// writeScript writes a script file into a fresh directory.
func writeScript(t *testing.T, name, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// waitTerminal polls until every job has ended.
func waitTerminal(t *testing.T, c *client.Client, ids []string, within time.Duration) map[string]client.Job {
	t.Helper()
	deadline := time.Now().Add(within)
	out := map[string]client.Job{}
	for len(out) < len(ids) {
		for _, id := range ids {
			if _, ok := out[id]; ok {
				continue
			}
			j, err := c.Job(t.Context(), id)
			if err != nil {
				t.Fatalf("get %s: %v", id, err)
			}
			if j.State.Terminal() {
				out[id] = j
			}
		}
		if len(out) == len(ids) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d jobs still not finished after %s", len(ids)-len(out), len(ids), within)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return out
}
