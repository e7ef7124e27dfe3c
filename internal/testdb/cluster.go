package testdb

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Cluster is a PostgreSQL cluster of one test's own, for tests that stop
// or restart the database under a running server; the shared cluster at
// RGRID_TEST_POSTGRES_URL must never go down under other tests.
type Cluster struct {
	bin  string // directory holding initdb and pg_ctl
	dir  string // the cluster's temporary directory; data/ is the data directory
	as   string // the user running PostgreSQL when the test runs as root
	port int
}

// OwnCluster starts a private cluster the way scripts/pg.sh does (trust
// authentication, a free port on 127.0.0.1, fsync off) and stops and
// removes it when the test ends. Without PostgreSQL's programs it skips
// the test, or fails it when CI=true.
func OwnCluster(t testing.TB) *Cluster {
	t.Helper()
	bin, err := postgresBinDir()
	if err != nil {
		unavailable(t, err.Error()+"; install PostgreSQL (apt-get install postgresql) or run scripts/test.sh")
	}
	c := &Cluster{bin: bin}
	base := ""
	if os.Getuid() == 0 {
		// PostgreSQL refuses to run as root.
		for _, name := range []string{"postgres", "rgrid-pg"} {
			if _, err := user.Lookup(name); err == nil {
				c.as = name
				break
			}
		}
		if c.as == "" {
			unavailable(t, "running as root and there is no postgres user to run PostgreSQL as; run scripts/test.sh, which creates one")
		}
		base = "/tmp" // root's TMPDIR may be out of the cluster owner's reach
	}
	c.dir, err = os.MkdirTemp(base, "rgrid-own-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(c.dir) })
	if err := os.Chmod(c.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if c.as != "" {
		u, err := user.Lookup(c.as)
		if err != nil {
			t.Fatal(err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(c.dir, uid, gid); err != nil {
			t.Fatalf("hand %s to %s: %v", c.dir, c.as, err)
		}
	}
	if out, err := c.run(t, "initdb", "-D", c.data(), "-A", "trust", "-U", "postgres", "--no-sync",
		"-E", "UTF8", "--locale=C.UTF-8"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	// A port found free can be taken before PostgreSQL binds it: try a few.
	for try := 0; ; try++ {
		if c.port, err = freePort(); err != nil {
			t.Fatal(err)
		}
		out, err := c.run(t, "pg_ctl", "-D", c.data(), "-l", c.logFile(), "-w", "-t", "60", "-o", c.serverOptions(), "start")
		if err == nil {
			break
		}
		if try == 2 {
			t.Fatalf("start PostgreSQL: %v\n%s\n%s", err, out, c.serverLog())
		}
	}
	t.Cleanup(func() {
		// Immediate: the test is over and nothing in the cluster is kept.
		_, _ = c.run(t, "pg_ctl", "-D", c.data(), "-m", "immediate", "-w", "stop")
	})
	c.waitReady(t)
	return c
}

// URL is the superuser URL of the cluster's postgres database.
func (c *Cluster) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// Restart restarts the cluster as an operator would (pg_ctl restart -m
// fast: sessions are ended, in-flight transactions rolled back) and waits
// until it accepts connections again.
func (c *Cluster) Restart(t testing.TB) {
	t.Helper()
	if out, err := c.run(t, "pg_ctl", "-D", c.data(), "-l", c.logFile(), "-m", "fast", "-w", "-t", "60",
		"-o", c.serverOptions(), "restart"); err != nil {
		t.Fatalf("restart PostgreSQL: %v\n%s\n%s", err, out, c.serverLog())
	}
	c.waitReady(t)
}

// Stop stops the cluster (fast shutdown) until Start.
func (c *Cluster) Stop(t testing.TB) {
	t.Helper()
	if out, err := c.run(t, "pg_ctl", "-D", c.data(), "-m", "fast", "-w", "-t", "60", "stop"); err != nil {
		t.Fatalf("stop PostgreSQL: %v\n%s\n%s", err, out, c.serverLog())
	}
}

// Start starts a stopped cluster on the same port and waits until it
// accepts connections.
func (c *Cluster) Start(t testing.TB) {
	t.Helper()
	if out, err := c.run(t, "pg_ctl", "-D", c.data(), "-l", c.logFile(), "-w", "-t", "60",
		"-o", c.serverOptions(), "start"); err != nil {
		t.Fatalf("start PostgreSQL: %v\n%s\n%s", err, out, c.serverLog())
	}
	c.waitReady(t)
}

func (c *Cluster) data() string    { return filepath.Join(c.dir, "data") }
func (c *Cluster) logFile() string { return filepath.Join(c.dir, "server.log") }

func (c *Cluster) serverOptions() string {
	return fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "+
		"-c full_page_writes=off -c max_connections=100", c.port, c.dir)
}

func (c *Cluster) serverLog() string {
	b, _ := os.ReadFile(c.logFile())
	return string(b)
}

// run runs one of PostgreSQL's programs as the cluster's owner.
func (c *Cluster) run(t testing.TB, prog string, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	path := filepath.Join(c.bin, prog)
	var cmd *exec.Cmd
	if c.as != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", c.as, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	// pg_ctl's server inherits the descriptors: with a pipe here, the
	// command would not return until the server exits.
	f, err := os.CreateTemp("", "rgrid-pg-cmd-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	err = cmd.Run()
	out, _ := os.ReadFile(f.Name())
	return out, err
}

// waitReady waits until a TCP connection to the cluster succeeds; pg_ctl -w
// has already waited for the server to accept connections on its socket.
func (c *Cluster) waitReady(t testing.TB) {
	t.Helper()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port))
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("PostgreSQL does not accept connections on %s: %v\n%s", addr, err, c.serverLog())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// postgresBinDir finds initdb: on PATH, else the newest
// /usr/lib/postgresql/*/bin.
func postgresBinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return majorOf(a) - majorOf(b) })
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i], nil
		}
	}
	return "", fmt.Errorf("PostgreSQL's initdb is neither on PATH nor in /usr/lib/postgresql/*/bin")
}

// majorOf reads the version out of /usr/lib/postgresql/VERSION/bin.
func majorOf(dir string) int {
	n, _ := strconv.Atoi(strings.Split(filepath.Base(filepath.Dir(dir)), ".")[0])
	return n
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func unavailable(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}
