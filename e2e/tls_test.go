package e2e

// TLS between the roles: a server under a private CA serves HTTPS, and a
// worker and the CLI given that CA (--ca-cert) run a job through it; a
// client without the CA is refused with the problem and the fix named,
// and a worker without it stops instead of retrying for ever.

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/testcerts"
)

// startTLSServer runs "rgrid server" with a certificate for 127.0.0.1
// signed by ca, on a free loopback port, and returns its https:// URL
// and a client that trusts ca once it answers.
func startTLSServer(t *testing.T, env []string, ca *testcerts.CA, dir string) (*proc, string, *client.Client) {
	t.Helper()
	cert, key := ca.Server(t, time.Time{}, time.Time{}, "127.0.0.1").Write(t, dir)
	for try := 0; ; try++ {
		addr := freeAddr(t)
		p := start(t, env, "server", "--db", filepath.Join(dir, "rgrid.db"), "--migrate", "--listen", addr,
			"--tls-cert", cert, "--tls-key", key)
		url := "https://" + addr
		c, err := client.New(url, "")
		if err == nil {
			c, err = c.WithCACert(ca.PEM)
		}
		if err != nil {
			t.Fatal(err)
		}
		err = p.awaitReady(func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_, err := c.Health(ctx)
			return err == nil
		})
		if err == nil {
			return p, url, c
		}
		if !errors.Is(err, errExited) || !strings.Contains(p.output(), "address already in use") || try == 2 {
			t.Fatalf("rgrid server with TLS: %v:\n%s", err, p.output())
		}
	}
}

func TestTLSPrivateCA(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := isolatedEnv(t)
	ca := testcerts.New(t, "rgrid e2e CA")
	caFile := ca.WriteCA(t, dir)
	server, url, c := startTLSServer(t, env, ca, dir)
	if !strings.Contains(server.output(), "scheme=https") {
		t.Errorf("the server does not say it serves HTTPS:\n%s", server.output())
	}

	worker := start(t, env, "worker", "--server", url, "--ca-cert", caFile, "--worker-id", "w1", "--executor", "process", "--slots", "1")
	worker.waitReady(t, "registered as w1", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		ws, err := c.Workers(ctx)
		return err == nil && len(ws) == 1 && ws[0].ID == "w1" && ws[0].State == "active"
	})

	script := writeScript(t, "hello.sh", "echo \"hello $1\"\necho \"to stderr\" >&2\nexit 3\n")
	r := rgrid(t, env, "run", "--server", url, "--ca-cert", caFile, script, "tls")
	if r.code != 3 || r.stdout != "hello tls\n" || r.stderr != "to stderr\n" {
		t.Fatalf("run with --ca-cert: exit %d, stdout %q, stderr %q; want 3, \"hello tls\\n\", \"to stderr\\n\"", r.code, r.stdout, r.stderr)
	}

	// Without the CA: refused before anything is sent, the fix named.
	r = rgrid(t, env, "run", "--server", url, script, "tls")
	want := "Error: the rgrid server at " + url + " has a certificate signed by a CA this machine does not trust\nHint: pass --ca-cert FILE"
	if r.code == 0 || r.stdout != "" || !strings.HasPrefix(r.stderr, want) {
		t.Errorf("run without --ca-cert: exit %d, stdout %q, stderr:\n%s\nwant a non-zero exit and\n%s…", r.code, r.stdout, r.stderr, want)
	}
	// The same from the environment and through plain HTTP.
	r = rgrid(t, append(env, "RGRID_SERVER="+url, "RGRID_CA_CERT="+caFile), "list")
	if r.code != 0 || strings.Count(r.stdout, "hello.sh") != 1 {
		t.Errorf("list with RGRID_CA_CERT: exit %d, stdout:\n%s\nstderr:\n%s\nwant the one job", r.code, r.stdout, r.stderr)
	}
	r = rgrid(t, env, "list", "--server", "http://"+strings.TrimPrefix(url, "https://"))
	if r.code == 0 || !strings.Contains(r.stderr, "Hint: use https://") {
		t.Errorf("list over plain HTTP: exit %d, stderr:\n%s\nwant a hint to use https://", r.code, r.stderr)
	}

	// scripts/start-worker.sh checks the server with the CA, and its
	// worker uses it; without it the check fails and names the server.
	startWorker, err := filepath.Abs("../scripts/start-worker.sh")
	if err != nil {
		t.Fatal(err)
	}
	scriptEnv := append(withDataDir(env, t.TempDir()), "RGRID_BIN="+rgridBin)
	envDir := t.TempDir()
	writeEnvFile(t, envDir, "RGRID_SERVER="+url, "RGRID_EXECUTOR=process", "RGRID_CA_CERT="+filepath.Join(envDir, "nope.pem"))
	if r := runScript(t, envDir, scriptEnv, startWorker); r.code != 2 || !strings.Contains(r.stderr, "nope.pem (") || !strings.Contains(r.stderr, "is not a readable file") {
		t.Errorf("start-worker.sh with a missing RGRID_CA_CERT: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	writeEnvFile(t, envDir, "RGRID_SERVER="+url, "RGRID_EXECUTOR=process")
	if r := runScript(t, envDir, scriptEnv, startWorker); r.code != 2 || !strings.Contains(r.stderr, "the server at RGRID_SERVER="+url) {
		t.Errorf("start-worker.sh without RGRID_CA_CERT: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	writeEnvFile(t, envDir, "RGRID_SERVER="+url, "RGRID_EXECUTOR=process", "RGRID_CA_CERT="+caFile, "RGRID_WORKER_ID=w3")
	cmd := exec.Command("bash", startWorker)
	cmd.Dir, cmd.Env = envDir, scriptEnv
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	startProc(t, cmd, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		ws, err := c.Workers(ctx)
		return err == nil && slices.ContainsFunc(ws, func(w client.Worker) bool { return w.ID == "w3" && w.State == "active" })
	})

	// A worker without the CA stops at once, saying why.
	lost := start(t, withDataDir(env, t.TempDir()), "worker", "--server", url, "--worker-id", "w2", "--executor", "process")
	if err := lost.awaitReady(func() bool { return false }); !errors.Is(err, errExited) {
		t.Fatalf("a worker without --ca-cert: %v, want it to exit:\n%s", err, lost.output())
	}
	if code := lost.cmd.ProcessState.ExitCode(); code == 0 || !strings.Contains(lost.output(), want) {
		t.Errorf("a worker without --ca-cert: exit %d, output:\n%s\nwant a non-zero exit and\n%s…", code, lost.output(), want)
	}
}
