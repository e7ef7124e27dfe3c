// Package benchkit is what the bench programs share: the output contract
// (RESULT and NOTMEASURED lines, see result.go and bench/README.md), run
// counts and quick mode from the environment scripts/bench.sh sets, an
// rgrid binary built from this tree in a temporary directory with a config
// that points python3.11 at a local image, rgrid processes started and
// stopped, databases in the PostgreSQL cluster of scripts/pg.sh, memory and
// CPU time from /proc, and medians.
package benchkit

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Kit is one benchmark's directory, binary and processes.
type Kit struct {
	Dir, Bin string
	Env      []string // the environment rgrid processes get
	procs    []*Proc
	cleanups []func()
}

// Listening and Registered match the lines rgrid server and rgrid worker
// print once they are ready; the first submatch is the address or word.
var (
	Listening  = regexp.MustCompile(`listening"? addr=(\S+)`)
	Registered = regexp.MustCompile(`msg=(registered)`)
)

// New builds rgrid (run from the repository's root) into a temporary
// directory and writes a config file pointing python3.11 at image.
func New(prefix, image string) (*Kit, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, err
	}
	k := &Kit{Dir: dir, Bin: filepath.Join(dir, "rgrid")}
	// Static, as releases are: its Docker worker mounts it as the job
	// containers' init.
	build := exec.Command("go", "build", "-o", k.Bin, "./cmd/rgrid")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("build: %v\n%s", err, out)
	}
	cfg := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("[[runtimes]]\nname = \"python3.11\"\nimage = %q\n", image)), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	k.Env = append(os.Environ(), "RGRID_CONFIG="+cfg, "RGRID_DATA_DIR="+filepath.Join(dir, "data"))
	return k, nil
}

// Proc is a process started by a Kit.
type Proc struct {
	*exec.Cmd
	done chan struct{} // closed once the process has exited
}

// Start runs rgrid with args in its own process group and returns the
// first submatch of ready in its stderr, once it appears.
func (k *Kit) Start(ready *regexp.Regexp, args ...string) (string, *Proc, error) {
	return k.StartBin(k.Bin, ready, args...)
}

// StartBin is Start for another binary (one built with Build, say).
func (k *Kit) StartBin(bin string, ready *regexp.Regexp, args ...string) (string, *Proc, error) {
	c := exec.Command(bin, args...)
	c.Env = k.Env
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := c.StderrPipe()
	if err != nil {
		return "", nil, err
	}
	if err := c.Start(); err != nil {
		return "", nil, err
	}
	p := &Proc{Cmd: c, done: make(chan struct{})}
	k.procs = append(k.procs, p)
	found := make(chan string, 1)
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if m := ready.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		_ = c.Wait()
	}()
	select {
	case v := <-found:
		return v, p, nil
	case <-p.done:
		return "", nil, fmt.Errorf("%s %s exited before it was ready", filepath.Base(bin), strings.Join(args, " "))
	case <-time.After(30 * time.Second):
		return "", nil, fmt.Errorf("%s %s did not start", filepath.Base(bin), strings.Join(args, " "))
	}
}

// Stop sends SIGTERM to p's process group and waits up to timeout for p to
// exit (a drain, a profile written), then kills the group.
func (p *Proc) Stop(timeout time.Duration) {
	_ = syscall.Kill(-p.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
	}
	_ = syscall.Kill(-p.Process.Pid, syscall.SIGKILL)
}

// Build builds the main package pkg (e.g. "./bench/internal/instantworker",
// relative to the repository's root) into the kit's directory and returns
// the binary's path.
func (k *Kit) Build(pkg string) (string, error) {
	bin := filepath.Join(k.Dir, filepath.Base(pkg))
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s: %v\n%s", pkg, err, out)
	}
	return bin, nil
}

// Defer registers f to run at Close, before the directory is removed and
// after the processes are killed; the last registered runs first.
func (k *Kit) Defer(f func()) { k.cleanups = append(k.cleanups, f) }

// Close stops every process started (SIGTERM, so that a worker removes
// its warm containers; SIGKILL for what has not exited 10 s later), runs
// the Defer functions and removes the directory.
func (k *Kit) Close() {
	for _, p := range k.procs {
		_ = syscall.Kill(-p.Process.Pid, syscall.SIGTERM)
	}
	deadline := time.After(10 * time.Second)
	for _, p := range k.procs {
		select {
		case <-p.done:
		case <-deadline:
		}
	}
	for _, p := range k.procs {
		_ = syscall.Kill(-p.Process.Pid, syscall.SIGKILL)
	}
	for _, p := range k.procs {
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
		}
	}
	for i := len(k.cleanups) - 1; i >= 0; i-- {
		k.cleanups[i]()
	}
	_ = os.RemoveAll(k.Dir)
}

// Median of d (which it leaves unsorted).
func Median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return (s[(len(s)-1)/2] + s[len(s)/2]) / 2
}

// Timed runs fn and says how long it took.
func Timed(fn func() error) (time.Duration, error) {
	start := time.Now()
	err := fn()
	return time.Since(start), err
}
