package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rgrid/rgrid/client"
)

// scripts/start-worker.sh says exactly what is wrong when the server or
// Docker does not answer, and otherwise runs a worker in the foreground
// with the settings of .env.
func TestLivenessStartWorkerScript(t *testing.T) {
	t.Parallel()
	script, err := filepath.Abs("../scripts/start-worker.sh")
	if err != nil {
		t.Fatal(err)
	}
	g := newLiveGrid(t, liveOptions{})
	env := append(isolatedEnv(t), "RGRID_BIN="+rgridBin)

	t.Run("a server that does not answer is named, with the file it came from", func(t *testing.T) {
		dir := t.TempDir()
		bad := "http://" + freeAddr(t)
		writeEnvFile(t, dir, "RGRID_SERVER="+bad, "RGRID_EXECUTOR=process")
		r := runScript(t, dir, env, script)
		for _, want := range []string{"the server at RGRID_SERVER=" + bad, filepath.Join(dir, ".env"), "does not answer", "fix:", "curl " + bad + "/v1/health"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
			}
		}
		if r.code != 2 {
			t.Errorf("exit %d, want 2", r.code)
		}
	})

	t.Run("no server configured", func(t *testing.T) {
		r := runScript(t, t.TempDir(), env, script)
		if r.code != 2 || !strings.Contains(r.stderr, "RGRID_SERVER is not set") || !strings.Contains(r.stderr, "RGRID_SERVER=http://") {
			t.Errorf("exit %d:\n%s", r.code, r.stderr)
		}
	})

	t.Run("a Docker engine that does not answer is named, with the way out", func(t *testing.T) {
		dir := t.TempDir()
		writeEnvFile(t, dir, "RGRID_SERVER="+g.url)
		r := runScript(t, dir, append(env, "DOCKER_HOST=unix:///nonexistent/docker.sock"), script)
		if r.code != 2 || !strings.Contains(r.stderr, "Docker") || !strings.Contains(r.stderr, "RGRID_EXECUTOR=process") {
			t.Errorf("exit %d:\n%s", r.code, r.stderr)
		}
	})

	t.Run("with a server that answers, the worker registers and drains on SIGTERM", func(t *testing.T) {
		dir := t.TempDir()
		id := workerID(t, "script")
		writeEnvFile(t, dir, "# the worker's settings", "RGRID_SERVER="+g.url, "export RGRID_WORKER_ID="+id,
			"RGRID_SLOTS=3", `RGRID_EXECUTOR="process"`)
		cmd := exec.Command("bash", script)
		cmd.Dir, cmd.Env = dir, env
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		p := startProc(t, cmd, func() bool { return workerActive(g.url, id) })
		ws, err := g.c.Workers(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var found *client.Worker
		for i := range ws {
			if ws[i].ID == id {
				found = &ws[i]
			}
		}
		if found == nil || found.Slots != 3 || found.Executor != "process" {
			t.Fatalf("worker %s not registered with 3 process slots: %+v", id, ws)
		}
		job := g.submit(t, "hi.sh", "echo hi from the started worker\n")
		j := waitTerminal(t, g.c, []string{job}, 30*time.Second)[job]
		if j.State != client.StateSucceeded || j.WorkerID != id {
			t.Errorf("job %s (%s) on %q, want succeeded on %s; output %q", j.State, j.Message, j.WorkerID, id, allOutput(t, g.c, job))
		}
		// The script exec'd the worker: the signal reaches it.
		if err := syscall.Kill(cmd.Process.Pid, syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := waitExit(t, p, 20*time.Second); code != 0 {
			t.Errorf("exit %d after SIGTERM, want 0:\n%s", code, p.output())
		}
	})
}

func writeEnvFile(t *testing.T, dir string, lines ...string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func runScript(t *testing.T, dir string, env []string, script string) result {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "bash", script)
	cmd.Dir, cmd.Env = dir, env
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", script, err)
	}
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// startProc is the harness's start for a command other than rgrid: it
// waits until ready holds, and kills the process group when the test ends.
func startProc(t *testing.T, cmd *exec.Cmd, ready func() bool) *proc {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stderr)
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
	p.waitReady(t, "getting ready", ready)
	return p
}

func allOutput(t *testing.T, c *client.Client, id string) string {
	t.Helper()
	page, err := c.Logs(t.Context(), id, client.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, ch := range page.Chunks {
		fmt.Fprintf(&b, "[%s] %s", ch.Stream, ch.Data)
	}
	return b.String()
}
