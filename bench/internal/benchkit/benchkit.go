// Package benchkit is what the bench programs share: an rgrid binary built
// from this tree in a temporary directory, a config that points python3.11
// at a local image, rgrid processes started and stopped, and medians.
package benchkit

import (
	"bufio"
	"fmt"
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
	procs    []*exec.Cmd
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
	if out, err := exec.Command("go", "build", "-o", k.Bin, "./cmd/rgrid").CombinedOutput(); err != nil {
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

// Start runs rgrid with args in its own process group and returns the
// first submatch of ready in its stderr, once it appears.
func (k *Kit) Start(ready *regexp.Regexp, args ...string) (string, *exec.Cmd, error) {
	c := exec.Command(k.Bin, args...)
	c.Env = k.Env
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := c.StderrPipe()
	if err != nil {
		return "", nil, err
	}
	if err := c.Start(); err != nil {
		return "", nil, err
	}
	k.procs = append(k.procs, c)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := ready.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		_ = c.Wait()
	}()
	select {
	case v := <-found:
		return v, c, nil
	case <-time.After(30 * time.Second):
		return "", nil, fmt.Errorf("rgrid %s did not start", strings.Join(args, " "))
	}
}

// Close kills every process started and removes the directory.
func (k *Kit) Close() {
	for _, c := range k.procs {
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
	}
	_ = os.RemoveAll(k.Dir)
}

// Median of d (which it leaves unsorted).
func Median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return (s[(len(s)-1)/2] + s[len(s)/2]) / 2
}
