package executortest

// The working directory's size limit (Limits.DiskBytes, package diskquota).

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rgrid/rgrid/internal/executor"
	"github.com/rgrid/rgrid/internal/executor/diskquota"
)

// diskLimit is the disk tests' limit: small, so that filling it is quick.
const diskLimit = 64 << 20

// quotaMode says which disk quota mode the suite's executors get:
// Required where this machine can make size-limited working directories,
// else Off, with the reason.
func quotaMode(t *testing.T) (diskquota.Mode, error) {
	if _, err := diskquota.Setup(t.Context(), diskquota.Required, "", t.TempDir(), nil); err != nil {
		return diskquota.Off, err
	}
	return diskquota.Required, nil
}

// fillScript writes 100 MiB, 1 MiB at a time, into its working directory.
const fillScript = `
import errno
n = 0
chunk = b"x" * (1 << 20)
try:
    with open("big", "wb") as f:
        while n < 100 << 20:
            f.write(chunk)
            f.flush()
            n += len(chunk)
except OSError as e:
    print("written", n, errno.errorcode.get(e.errno, e.errno), flush=True)
    raise
print("written", n, "all")
`

// pistonScript is Piston's disk exploit: a huge fallocate, then 2^24
// short lines into the working directory.
const pistonScript = `
import errno, os
fd = os.open("huge", os.O_WRONLY | os.O_CREAT, 0o644)
try:
    os.posix_fallocate(fd, 0, 1 << 40)
    print("fallocate: succeeded")
except OSError as e:
    print("fallocate:", errno.errorcode.get(e.errno, e.errno))
os.close(fd)
os.remove("huge")
n = 0
try:
    with open("lines.txt", "w") as f:
        for n in range(1 << 24):
            f.write("line %d\n" % n)
except OSError as e:
    print("lines:", n, errno.errorcode.get(e.errno, e.errno), flush=True)
    raise SystemExit(1)
print("lines: all", flush=True)
`

func runDisk(t *testing.T, setup func(t *testing.T) bundle, rt Runtime) {
	t.Run("DiskLimitGivesENOSPC", func(t *testing.T) {
		b := setup(t)
		var c collector
		var mounted bool
		c.during = func(dir string) { mounted = diskquota.Mounted(dir) }
		got := run(t, b.ex, rt, fillScript, func(s *executor.Spec) {
			s.Limits.DiskBytes = diskLimit
			s.Collect = c.collect
		})
		if got.res.Outcome != executor.Exited || got.res.ExitCode == 0 {
			t.Fatalf("want a failed exit, got %s", got)
		}
		if !strings.Contains(got.stderr, "No space left on device") {
			t.Errorf("the job's own write did not fail with ENOSPC: %s", got)
		}
		var n int64
		var code string
		if _, err := fmt.Sscanf(got.stdout, "written %d %s", &n, &code); err != nil || code != "ENOSPC" || n >= diskLimit {
			t.Errorf("want ENOSPC before %d bytes, got %q (%v)", diskLimit, got.stdout, err)
		}
		if !got.res.DiskFull {
			t.Errorf("DiskFull not set: %s", got)
		}
		if !mounted {
			t.Error("the working directory was not a mount of its own during Collect")
		}
		AssertReleased(t, b.cfg.WorkDir)

		next := run(t, b.ex, rt, "open('small', 'w').write('x' * 1000)\nprint('ok')\n", func(s *executor.Spec) {
			s.Limits.DiskBytes = diskLimit
		})
		next.wantExit(t, 0)
		if next.stdout != "ok\n" || next.res.DiskFull {
			t.Errorf("the next job: %s", next)
		}
		AssertReleased(t, b.cfg.WorkDir)
	})

	t.Run("PistonFallocateAndLines", func(t *testing.T) {
		b := setup(t)
		var c collector
		var used int64
		var usedErr error
		// While the run's directory is still there, at its fullest.
		c.during = func(string) { used, usedErr = hostUsage(b.cfg.WorkDir) }
		got := run(t, b.ex, rt, pistonScript, func(s *executor.Spec) {
			s.Limits.DiskBytes = diskLimit
			s.Collect = c.collect
		})
		if got.res.Outcome != executor.Exited || got.res.ExitCode != 1 {
			t.Fatalf("want exit 1, got %s", got)
		}
		if strings.Contains(got.stdout, "fallocate: succeeded") {
			t.Errorf("a 1 TiB fallocate succeeded: %s", got)
		}
		var lines int
		var code string
		_, err := fmt.Sscanf(got.stdout[strings.Index(got.stdout, "lines:"):], "lines: %d %s", &lines, &code)
		if err != nil || code != "ENOSPC" || lines >= 1<<24 {
			t.Errorf("want the lines stopped by ENOSPC, got %q (%v)", got.stdout, err)
		}
		if !got.res.DiskFull {
			t.Errorf("DiskFull not set: %s", got)
		}
		// What the run took of the host's disk under the work root: files
		// on its device, the image among them. Counted rather than read
		// off the free space, which other tests and processes change too.
		if usedErr != nil || used > diskLimit+2<<20 {
			t.Errorf("the run took %d bytes of the host's disk (%v), more than its limit of %d", used, usedErr, diskLimit)
		}
		AssertReleased(t, b.cfg.WorkDir)
	})

	t.Run("StagedInputsOverLimit", func(t *testing.T) {
		b := setup(t)
		spec := newSpec(t, rt, "", func(s *executor.Spec) {
			s.Script = nil
			s.Limits.DiskBytes = diskLimit
			s.Stage = stageTree(map[string]string{
				"main.py":  "print(1)\n",
				"data.bin": strings.Repeat("x", diskLimit+1<<20),
			})
		})
		h, err := b.ex.Start(t.Context(), spec)
		if err == nil {
			_ = h.Kill(t.Context())
			t.Fatal("Start with inputs over the disk limit succeeded")
		}
		if !errors.Is(err, executor.ErrDiskFull) || !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "--disk") {
			t.Errorf("Start: %v; want ErrDiskFull wrapping Stage's ENOSPC and naming --disk", err)
		}
		AssertReleased(t, b.cfg.WorkDir)
	})
}

// hostUsage sums the disk space that files under root take on root's own
// device, not descending into other filesystems mounted below it.
func hostUsage(root string) (int64, error) {
	var rootSt syscall.Stat_t
	if err := syscall.Stat(root, &rootSt); err != nil {
		return 0, err
	}
	var sum int64
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			return err
		}
		if st.Dev != rootSt.Dev {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		sum += st.Blocks * 512
		return nil
	})
	return sum, err
}

// AssertReleased checks that nothing of a finished run is left under
// root, an executor's work directory: no run directory, no mount, no loop
// device backed by a file there. A run's clean-up may follow its result
// (the Docker executor removes it after Wait returns), and loop devices
// free themselves once unmounted, which the kernel may finish just after:
// that is waited for, up to 30 s.
func AssertReleased(t *testing.T, root string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		var left []string
		for _, d := range LoopDevicesUnder(t, root) {
			left = append(left, "loop device "+d)
		}
		for _, m := range MountsUnder(t, root) {
			left = append(left, "mount "+m)
		}
		entries, err := os.ReadDir(root)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.IsDir() {
				left = append(left, "run directory "+e.Name())
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("left after the run: %v", left)
			return
		}
		<-tick.C
	}
}

// LoopDevicesUnder lists the loop devices whose backing file is under
// dir, as losetup -a shows them (a deleted file still counts).
func LoopDevicesUnder(t testing.TB, dir string) []string {
	t.Helper()
	files, err := filepath.Glob("/sys/block/loop*/loop/backing_file")
	if err != nil {
		t.Fatal(err)
	}
	var devs []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // detached meanwhile
		}
		if backing := strings.TrimSpace(string(b)); strings.HasPrefix(backing, dir+"/") {
			devs = append(devs, strings.Split(f, "/")[3]+": "+backing)
		}
	}
	return devs
}

// MountsUnder lists the mount points under dir.
func MountsUnder(t testing.TB, dir string) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var found []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		// Spaces and the like are octal escapes: \040.
		point := fields[4]
		if u, err := strconv.Unquote(`"` + strings.ReplaceAll(point, `"`, `\"`) + `"`); err == nil {
			point = u
		}
		if strings.HasPrefix(point, dir+"/") {
			found = append(found, point)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return found
}
