// Package e2e drives the real rgrid binary: servers, workers and the CLI as
// separate processes, against SQLite and a real PostgreSQL.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rgrid/rgrid/client"
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
		"XDG_CONFIG_HOME="+filepath.Join(home, "config"))
	return append(env, extra...)
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

// start launches rgrid in the background; the test's cleanup stops it. If
// waitFor is set, start returns the first submatch of that pattern in its
// stderr (e.g. the address it listens on).
func start(t *testing.T, env []string, waitFor *regexp.Regexp, args ...string) (*proc, string) {
	t.Helper()
	cmd := exec.Command(rgridBin, args...)
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
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.log.WriteString(line + "\n")
			p.mu.Unlock()
			if waitFor != nil {
				if m := waitFor.FindStringSubmatch(line); m != nil {
					select {
					case found <- m[1]:
					default:
					}
				}
			}
		}
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		if t.Failed() {
			t.Logf("output of rgrid %s:\n%s", strings.Join(args, " "), p.output())
		}
	})
	if waitFor == nil {
		return p, ""
	}
	select {
	case v := <-found:
		return p, v
	case <-p.done:
		t.Fatalf("rgrid %v exited early:\n%s", args, p.output())
	case <-time.After(30 * time.Second):
		t.Fatalf("rgrid %v did not print %v:\n%s", args, waitFor, p.output())
	}
	return p, ""
}

var listenRe = regexp.MustCompile(`rgrid server listening"? addr=(\S+)`)

// startServer runs "rgrid server" on db and returns its URL.
func startServer(t *testing.T, env []string, db string, extra ...string) (*proc, string) {
	t.Helper()
	args := append([]string{"server", "--listen", "127.0.0.1:0", "--db", db, "--migrate"}, extra...)
	p, addr := start(t, env, listenRe, args...)
	return p, "http://" + addr
}

var registeredRe = regexp.MustCompile(`msg=registered .*worker=(\S+)`)

// startWorker runs "rgrid worker" against url and waits until it has
// registered.
func startWorker(t *testing.T, env []string, url, id string, slots int, extra ...string) *proc {
	t.Helper()
	args := append([]string{"worker", "--server", url, "--worker-id", id, "--slots", fmt.Sprint(slots)}, extra...)
	p, _ := start(t, env, registeredRe, args...)
	return p
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
