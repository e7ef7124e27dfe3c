package jobinit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Main is the init in control directory ctl; it returns the exit code.
func Main(ctl string) int {
	warmThreads()
	// The job runs as the same user: without this it could open
	// /proc/1/fd/N and write the spools past their bound.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fail("make the init non-dumpable: %v", err)
	}
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGCHLD)
	stdout, err := os.OpenFile(filepath.Join(ctl, StdoutFile), os.O_WRONLY|os.O_APPEND|unix.O_NOFOLLOW, 0)
	if err != nil {
		return fail("%v", err)
	}
	stderr, err := os.OpenFile(filepath.Join(ctl, StderrFile), os.O_WRONLY|os.O_APPEND|unix.O_NOFOLLOW, 0)
	if err != nil {
		return fail("%v", err)
	}
	// Opened now, while only the worker can have it open for reading and
	// before the worker makes it its own (0600): the job never can. No
	// reader (a worker from before it, or none): no report.
	report, _ := os.OpenFile(filepath.Join(ctl, ExitFIFO), os.O_WRONLY|unix.O_NONBLOCK|unix.O_NOFOLLOW, 0)
	spec, err := readSpec(filepath.Join(ctl, SpecFIFO))
	if err != nil {
		return fail("%v", err)
	}
	if spec.WorkDev != 0 {
		if !acknowledge(ctl, spec) {
			return 125
		}
	}
	stdin, err := openStdin(ctl, spec.Stdin)
	if err != nil {
		return fail("%v", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return fail("%v", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		return fail("%v", err)
	}
	var copying sync.WaitGroup
	copying.Go(func() { spool(stdout, outR, spec.Limit) })
	copying.Go(func() { spool(stderr, errR, spec.Limit) })
	pid, err := start(spec, stdin, outW, errW)
	stdin.Close()
	outW.Close()
	errW.Close()
	if err != nil {
		// As the engine's init does: the reason on the job's stderr, 127
		// for a command not found, 126 for one that cannot run.
		fmt.Fprintf(stderr, "rgrid-init: %v\n", err)
		if errors.Is(err, os.ErrNotExist) {
			return 127
		}
		return 126
	}
	code := supervise(pid, sigs)
	drained := make(chan struct{})
	go func() { copying.Wait(); close(drained) }()
	t := time.NewTimer(drainGrace)
	select {
	case <-drained:
	case <-t.C:
	}
	if report != nil {
		endAll(sigs)
		<-drained // every writer of the pipes is gone now
		fmt.Fprintf(report, "%d\n", code)
	}
	return code
}

// endAll kills every process left in the container (the init is PID 1
// of its PID namespace: kill -1 reaches all but itself) and reaps them,
// before the job's end is reported: the worker collects the job's files
// on that report, and nothing of the job may write them then.
func endAll(sigs chan os.Signal) {
	signal.Stop(sigs)
	_ = syscall.Kill(-1, syscall.SIGKILL)
	for {
		var ws syscall.WaitStatus
		_, err := syscall.Wait4(-1, &ws, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil { // ECHILD: none left
			return
		}
	}
}

// warmThreads makes the runtime start the few threads it will need now,
// while the job has not yet used up the container's pids limit: a Go
// program that cannot start a thread when it needs one dies, and a fork
// bomb in the job must not take the init with it. One P is plenty for
// copying two pipes; the threads stay parked for reuse.
func warmThreads() {
	runtime.GOMAXPROCS(1)
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			ts := unix.Timespec{Nsec: int64(5 * time.Millisecond)}
			_ = unix.Nanosleep(&ts, nil)
		})
	}
	wg.Wait()
}

func fail(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "rgrid-init: "+format+"\n", args...)
	return 125
}

// readSpec blocks until the worker opens the FIFO, then reads the spec to
// EOF.
func readSpec(path string) (Spec, error) {
	var spec Spec
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return spec, err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return spec, fmt.Errorf("read the job's spec: %w", err)
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		return spec, fmt.Errorf("the job's spec: %w", err)
	}
	if len(spec.Argv) == 0 || spec.Argv[0] == "" {
		return spec, errors.New("the job's spec has no command")
	}
	return spec, nil
}

// acknowledge answers a spec with WorkDev on AckFIFO, which the worker
// holds open for reading: ok if the working directory is on that device,
// else refused with the reason (and false: the job is not started). The
// job's spools stay untouched either way.
func acknowledge(ctl string, spec Spec) bool {
	answer, ok := AckOK, true
	var st unix.Stat_t
	if err := unix.Stat(spec.Dir, &st); err != nil {
		answer, ok = AckRefused+err.Error()+"\n", false
	} else if st.Dev != spec.WorkDev {
		answer, ok = fmt.Sprintf("%s%s is on device %d:%d, not on the job's disk (%d:%d)\n", AckRefused, spec.Dir,
			unix.Major(st.Dev), unix.Minor(st.Dev), unix.Major(spec.WorkDev), unix.Minor(spec.WorkDev)), false
	}
	f, err := os.OpenFile(filepath.Join(ctl, AckFIFO), os.O_WRONLY|unix.O_NONBLOCK|unix.O_NOFOLLOW, 0)
	if err != nil {
		fail("answer the worker: %v", err)
		return false
	}
	defer f.Close()
	if _, err := f.WriteString(answer); err != nil {
		fail("answer the worker: %v", err)
		return false
	}
	return ok
}

func openStdin(ctl string, fifo bool) (*os.File, error) {
	if !fifo {
		return os.Open(os.DevNull)
	}
	return os.OpenFile(filepath.Join(ctl, StdinFIFO), os.O_RDONLY|unix.O_NOFOLLOW, 0)
}

// spool appends what r gives to w, at most limit bytes (0: all), and
// reads r to its end whatever w does.
func spool(w *os.File, r *os.File, limit int64) {
	defer r.Close()
	buf := make([]byte, 256<<10)
	var written int64
	for {
		n, err := r.Read(buf)
		if n > 0 {
			p := buf[:n]
			if limit > 0 {
				p = p[:min(int64(n), max(limit-written, 0))]
			}
			if len(p) > 0 {
				m, _ := w.Write(p)
				written += int64(m)
			}
		}
		if err != nil {
			return
		}
	}
}

// start starts the job's command, looked up in the spec's PATH.
func start(spec Spec, stdin, stdout, stderr *os.File) (int, error) {
	argv0, err := lookPath(spec.Argv[0], spec.Env, spec.Dir)
	if err != nil {
		return 0, err
	}
	return syscall.ForkExec(argv0, spec.Argv, &syscall.ProcAttr{
		Dir:   spec.Dir,
		Env:   spec.Env,
		Files: []uintptr{stdin.Fd(), stdout.Fd(), stderr.Fd()},
		Sys:   &syscall.SysProcAttr{},
	})
}

// lookPath finds file as a shell would with the job's PATH.
func lookPath(file string, env []string, dir string) (string, error) {
	if strings.Contains(file, "/") {
		p := file
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		return p, executable(p)
	}
	path := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	err := fmt.Errorf("%s: %w on the job's PATH %q", file, os.ErrNotExist, path)
	for _, d := range filepath.SplitList(path) {
		if d == "" {
			d = "."
		}
		p := filepath.Join(d, file)
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if executable(p) == nil {
			return p, nil
		}
	}
	return "", err
}

func executable(p string) error {
	st, err := os.Stat(p)
	if err != nil {
		return err
	}
	if st.IsDir() {
		return fmt.Errorf("%s: %w", p, syscall.EISDIR)
	}
	if err := unix.Access(p, unix.X_OK); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	return nil
}

// supervise reaps every child until the job (pid) has ended, forwarding
// the signals the init receives to it, and returns its exit code.
func supervise(pid int, sigs <-chan os.Signal) int {
	for sig := range sigs {
		if sig != syscall.SIGCHLD {
			_ = syscall.Kill(pid, sig.(syscall.Signal))
			continue
		}
		for {
			var ws syscall.WaitStatus
			got, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if err == syscall.EINTR {
				continue
			}
			if err != nil || got <= 0 {
				break
			}
			if got == pid {
				return exitCode(ws)
			}
		}
	}
	return 125
}

func exitCode(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}
