package diskquota_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rgrid/rgrid/internal/executor/diskquota"
)

// needQuota returns a Quota for dir, skipping the test where this machine
// cannot make one (not root, no loop devices), or failing it under CI=true.
func needQuota(t *testing.T, dir string) *diskquota.Quota {
	t.Helper()
	q, err := diskquota.Setup(t.Context(), diskquota.Required, "", dir, nil)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("disk quotas are required in CI: %v", err)
		}
		t.Skipf("no disk quota here: %v", err)
	}
	return q
}

func TestMakeBoundsWritesAndReleaseFreesAll(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	q := needQuota(t, dir)
	image, work := filepath.Join(dir, "disk.img"), filepath.Join(dir, "work")
	const size = 32 << 20
	if err := q.Make(t.Context(), image, work, size); err != nil {
		t.Fatalf("Make: %v", err)
	}
	t.Cleanup(func() { _ = diskquota.Release(nil, image, work) })
	if !diskquota.Mounted(work) {
		t.Fatal("not mounted after Make")
	}
	if entries, err := os.ReadDir(work); err != nil || len(entries) != 0 {
		t.Errorf("new working directory not empty: %v %v", entries, err)
	}
	if fi, err := os.Stat(work); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("working directory mode: %v %v", fi.Mode(), err)
	}
	if len(loopDevicesOf(t, dir)) != 1 {
		t.Errorf("want one loop device backed by the image, got %v", loopDevicesOf(t, dir))
	}
	if diskquota.Full(work) {
		t.Error("empty working directory reported full")
	}

	written, err := fill(filepath.Join(work, "big"))
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("writing past the size: %v after %d bytes, want ENOSPC", err, written)
	}
	if written > size || written < size*9/10 {
		t.Errorf("wrote %d bytes into a %d-byte working directory", written, size)
	}
	if !diskquota.Full(work) {
		t.Error("full working directory not reported full")
	}
	var st syscall.Stat_t
	if err := syscall.Stat(image, &st); err != nil || st.Blocks*512 > size {
		t.Errorf("image takes %d bytes on the host, more than its size %d (%v)", st.Blocks*512, size, err)
	}

	if err := diskquota.Release(nil, image, work); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if diskquota.Mounted(work) {
		t.Error("still mounted after Release")
	}
	if _, err := os.Stat(image); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("image left after Release: %v", err)
	}
	awaitNoLoopDevices(t, dir)
	if err := diskquota.Release(nil, image, work); err != nil {
		t.Errorf("second Release: %v", err)
	}
}

// fill writes into name until a write fails.
func fill(name string) (int64, error) {
	f, err := os.Create(name)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := bytes.Repeat([]byte("x"), 1<<20)
	var n int64
	for n < 1<<30 {
		m, err := f.Write(buf)
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func TestReleaseWithoutMount(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	work := filepath.Join(dir, "work")
	if err := os.Mkdir(work, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := diskquota.Release(nil, filepath.Join(dir, "disk.img"), work); err != nil {
		t.Errorf("Release of a plain directory: %v", err)
	}
	if diskquota.Full(work) || diskquota.Mounted(work) {
		t.Error("a plain directory reported as a quota")
	}
}

func TestMakeRefusesTinySize(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	q := needQuota(t, dir)
	err := q.Make(t.Context(), filepath.Join(dir, "disk.img"), filepath.Join(dir, "work"), 1<<20)
	if err == nil || !strings.Contains(err.Error(), "minimum") {
		t.Errorf("Make of 1 MiB: %v", err)
	}
}

func TestSetupModes(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "no-such-mkfs.ext4")

	t.Run("RequiredFailsNamingWhatIsMissing", func(t *testing.T) {
		t.Parallel()
		q, err := diskquota.Setup(t.Context(), diskquota.Required, missing, t.TempDir(), nil)
		if q != nil || !errors.Is(err, diskquota.ErrUnavailable) {
			t.Fatalf("Setup = %v, %v; want ErrUnavailable", q, err)
		}
		for _, want := range []string{"mkfs.ext4", "e2fsprogs", "--disk-quota off"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
	})
	t.Run("AutoWarnsOnce", func(t *testing.T) {
		t.Parallel()
		var logged recorder
		q, err := diskquota.Setup(t.Context(), diskquota.Auto, missing, t.TempDir(), slog.New(&logged))
		if q != nil || err != nil {
			t.Fatalf("Setup = %v, %v; want no quota and no error", q, err)
		}
		if len(logged.records) != 1 || logged.records[0].Level != slog.LevelWarn {
			t.Fatalf("want one warning, got %v", logged.records)
		}
	})
	t.Run("OffNeedsNothing", func(t *testing.T) {
		t.Parallel()
		var logged recorder
		q, err := diskquota.Setup(t.Context(), diskquota.Off, missing, t.TempDir(), slog.New(&logged))
		if q != nil || err != nil || len(logged.records) != 0 {
			t.Fatalf("Setup = %v, %v, logged %v", q, err, logged.records)
		}
	})
	t.Run("UnknownModeRefused", func(t *testing.T) {
		t.Parallel()
		if _, err := diskquota.Setup(t.Context(), "sometimes", "", t.TempDir(), nil); err == nil ||
			!strings.Contains(err.Error(), "auto, required or off") {
			t.Errorf("Setup: %v", err)
		}
	})
	t.Run("ProbeLeavesNothing", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		needQuota(t, dir)
		if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
			t.Errorf("Setup left %v (%v)", entries, err)
		}
		awaitNoLoopDevices(t, dir)
	})
}

func TestHoldExcludesTryHold(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	release, err := diskquota.Hold(dir)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := diskquota.TryHold(dir); ok {
		r()
		t.Fatal("TryHold got a held lock")
	}
	release()
	// A flock belongs to the open file: a process that the package's
	// parallel tests fork (mkfs, mount) holds a copy of the descriptor
	// until it execs, so the lock can stay held for that moment after
	// release. Bounded wait for it to be free.
	var r func()
	ok := false
	for deadline := time.Now().Add(10 * time.Second); !ok && time.Now().Before(deadline); {
		if r, ok = diskquota.TryHold(dir); !ok {
			time.Sleep(time.Millisecond)
		}
	}
	if !ok {
		t.Fatal("TryHold failed on a free lock for 10 s")
	}
	r()
	if _, ok := diskquota.TryHold(filepath.Join(dir, "gone")); ok {
		t.Error("TryHold of a missing directory succeeded")
	}
}

// TestMakeCost reports what making and mounting one image costs, the
// price every job pays at its start: go test -run MakeCost -v.
func TestMakeCost(t *testing.T) {
	dir := t.TempDir()
	q := needQuota(t, dir)
	var makes, releases []time.Duration
	for i := range 20 {
		sub := filepath.Join(dir, "run", strings.Repeat("x", i+1))
		if err := os.MkdirAll(sub, 0o700); err != nil {
			t.Fatal(err)
		}
		image, work := filepath.Join(sub, "disk.img"), filepath.Join(sub, "work")
		began := time.Now()
		if err := q.Make(t.Context(), image, work, 2<<30); err != nil {
			t.Fatalf("Make: %v", err)
		}
		makes = append(makes, time.Since(began))
		began = time.Now()
		if err := diskquota.Release(nil, image, work); err != nil {
			t.Fatalf("Release: %v", err)
		}
		releases = append(releases, time.Since(began))
	}
	t.Logf("2 GiB image: make+mount median %v (min %v, max %v); unmount+delete median %v",
		median(makes), slices.Min(makes), slices.Max(makes), median(releases))
}

func median(d []time.Duration) time.Duration { return slices.Sorted(slices.Values(d))[len(d)/2] }

// loopDevicesOf lists the loop devices whose backing file is under dir,
// as losetup -a would show them.
func loopDevicesOf(t *testing.T, dir string) []string {
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
		if strings.HasPrefix(string(b), dir+"/") {
			devs = append(devs, strings.Split(f, "/")[3]+": "+strings.TrimSpace(string(b)))
		}
	}
	return devs
}

// awaitNoLoopDevices waits until no loop device is backed by a file under
// dir: a device clears itself once its last holder lets go, which the
// kernel may finish just after the unmount returns.
func awaitNoLoopDevices(t *testing.T, dir string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		devs := loopDevicesOf(t, dir)
		if len(devs) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("loop devices left: %v", devs)
		}
		<-tick.C
	}
}

// recorder keeps the log records it is given.
type recorder struct{ records []slog.Record }

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.records = append(r.records, rec)
	return nil
}

func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }
