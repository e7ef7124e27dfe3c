package docker

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/moby/moby/client"

	"github.com/rgrid/rgrid/internal/executor/docker/jobinit"
)

// Our own init (package jobinit) is a job container's entrypoint where
// this worker has a static Linux build of rgrid of the engine's
// architecture: Options.InitPath, else this process's executable when it
// is such a build. It is mounted read-only at jobinit.BinPath; the run
// directory's ctl/ is mounted at jobinit.CtlDir and carries the job's
// spec, its stdin and its output (spool.go). Without one, containers use
// the engine's init and the output comes over the attach stream, with the
// engine's log as what a restarted worker re-reads (output.go).

// labelInit marks a container whose output is in its control directory's
// spool, not the engine's log.
const labelInit = "rgrid.init"

// runCtl is the control directory inside a run directory.
const runCtl = "ctl"

// initLogMaxSize bounds the engine's log of a container with our init,
// which holds only the init's own complaints: the job's output is in the
// spool.
const initLogMaxSize = 1 << 20

// setupInit chooses the init for job containers: e.initPath, or "" for the
// engine's. A given InitPath that cannot serve is an error; a default that
// cannot is logged once, with the fix.
func (e *Executor) setupInit(ctx context.Context) error {
	arch := ""
	if info, err := e.cli.Info(ctx, client.InfoOptions{}); err == nil {
		arch = info.Info.Architecture
	}
	if p := e.opts.InitPath; p != "" {
		abs, err := usableInit(p, arch)
		if err != nil {
			return fmt.Errorf("docker executor: --init %s: %w", p, err)
		}
		e.initPath = abs
		return nil
	}
	reason := "this program is not the rgrid command"
	if jobinit.Available() {
		exe, err := os.Executable()
		if err == nil {
			var abs string
			if abs, err = usableInit(exe, arch); err == nil {
				e.initPath = abs
				return nil
			}
		}
		reason = err.Error()
	}
	e.log.Warn("job containers use the engine's init and its attach stream for output, which is slower: "+
		"build rgrid with CGO_ENABLED=0 (a static Linux binary) or pass --init PATH to one", "reason", reason)
	return nil
}

// elfMachines are the ELF machines of the engine architectures we know.
var elfMachines = map[string]elf.Machine{
	"x86_64": elf.EM_X86_64, "amd64": elf.EM_X86_64,
	"aarch64": elf.EM_AARCH64, "arm64": elf.EM_AARCH64,
}

// usableInit says why path cannot be a job container's init, if it cannot:
// it must be a statically linked Linux executable for the engine's
// architecture (arch, as the engine reports it), on this machine.
func usableInit(path, arch string) (string, error) {
	if runtime.GOOS != "linux" {
		return "", fmt.Errorf("the worker runs on %s: its binary cannot run in a Linux container", runtime.GOOS)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if abs, err = filepath.EvalSymlinks(abs); err != nil {
		return "", err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", err
	}
	if !st.Mode().IsRegular() || st.Mode().Perm()&0o001 == 0 {
		return "", errors.New("not a file everyone may execute (chmod 755 it)")
	}
	f, err := elf.Open(abs)
	if err != nil {
		return "", fmt.Errorf("not a Linux executable: %w", err)
	}
	defer func() { _ = f.Close() }()
	want, known := elfMachines[arch]
	if !known {
		return "", fmt.Errorf("the engine's architecture %q is not one rgrid builds its init for (x86_64, aarch64)", arch)
	}
	if f.Machine != want {
		return "", fmt.Errorf("built for %s, but the engine runs %s containers", f.Machine, arch)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "", errors.New("dynamically linked (build it with CGO_ENABLED=0)")
		}
	}
	return abs, nil
}

// jobEnv is the whole environment of a job started by our init: the
// image's variables, then the executor's and the job's (buildEnv), later
// ones winning, and HOSTNAME as the engine sets it.
func jobEnv(imgEnv, env []string, hostname string) []string {
	m := map[string]string{"HOSTNAME": hostname}
	for _, kvs := range [][]string{imgEnv, env} {
		for _, kv := range kvs {
			k, v, _ := strings.Cut(kv, "=")
			m[k] = v
		}
	}
	out := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, k+"="+m[k])
	}
	return out
}
