package diskquota

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// mkfsArgs make the image quick to make and all the job's: no journal (a
// scratch filesystem has nothing to recover after a crash), no blocks
// reserved for root, no room to grow, nothing discarded, and inode tables
// left for the kernel to initialise lazily, which with noinit_itable at
// mount it never does: a new sparse file already reads as zeros.
var mkfsArgs = []string{
	"-q", "-F", "-b", "4096", "-m", "0",
	"-O", "^has_journal,^resize_inode",
	"-E", "lazy_itable_init=1,nodiscard",
}

// probe checks what a quota needs, cheapest first so that the error names
// what is missing, and then makes and removes one small mount in dir.
func probe(ctx context.Context, mkfs, dir string) (*Quota, error) {
	path, err := lookMkfs(mkfs)
	if err != nil {
		return nil, unavailable(err.Error(), "install e2fsprogs")
	}
	if uid := os.Geteuid(); uid != 0 {
		return nil, unavailable(fmt.Sprintf("the worker runs as uid %d and mounting needs root", uid), "run the worker as root")
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		return nil, unavailable(fmt.Sprintf("no loop devices (%v)", err), "load the loop module (modprobe loop)")
	}
	q := &Quota{mkfs: path}
	tmp, err := os.MkdirTemp(dir, ".diskquota-probe-*")
	if err != nil {
		return nil, unavailable(fmt.Sprintf("cannot make a test image in %s: %v", dir, err), "check the work directory")
	}
	defer os.RemoveAll(tmp)
	image, target := filepath.Join(tmp, "disk.img"), filepath.Join(tmp, "work")
	if err := q.Make(ctx, image, target, MinBytes); err != nil {
		_ = Release(nil, image, target)
		return nil, unavailable(fmt.Sprintf("a test mount in %s failed: %v", dir, err), "check that this machine can loop-mount ext4 images")
	}
	if err := Release(nil, image, target); err != nil {
		return nil, unavailable(fmt.Sprintf("a test mount in %s could not be removed: %v", dir, err), "check the mounts under it")
	}
	return q, nil
}

func lookMkfs(name string) (string, error) {
	if name != "" {
		p, err := exec.LookPath(name)
		if err != nil {
			return "", fmt.Errorf("mkfs.ext4 %q not found: %v", name, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("mkfs.ext4"); err == nil {
		return p, nil
	}
	// A worker's PATH often lacks the sbin directories.
	for _, p := range []string{"/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("mkfs.ext4 not found on PATH, in /usr/sbin or in /sbin")
}

// Make creates image, a sparse file of size bytes, makes an ext4
// filesystem in it and mounts that on target (created here; it must not
// exist) with nosuid and nodev. The filesystem's root is target's new
// content, owned by the caller, mode 0700, empty. Beneath the mount target
// is a directory nobody but root may enter, so that anything seeing it
// without the mount (a container engine in another mount namespace) gets
// no place to write unbounded.
//
// On error nothing is left mounted; image and target may be left for the
// caller to remove with its directory.
func (q *Quota) Make(ctx context.Context, image, target string, size int64) (err error) {
	if size < MinBytes {
		return fmt.Errorf("a disk limit of %d bytes is below the minimum of %d MiB", size, MinBytes>>20)
	}
	f, err := os.OpenFile(image, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("make disk image: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("size disk image: %w", err)
	}
	args := append(append([]string(nil), mkfsArgs...), image)
	if out, err := exec.CommandContext(ctx, q.mkfs, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v: %s", q.mkfs, err, bytes.TrimSpace(out))
	}
	if err := MountPoint(target, 0); err != nil {
		return fmt.Errorf("make mount point: %w", err)
	}
	dev, err := attach(f)
	if err != nil {
		return fmt.Errorf("attach disk image to a loop device: %w", err)
	}
	// The device clears itself once nothing holds it (LO_FLAGS_AUTOCLEAR):
	// from the close below on, that is once the mount is gone.
	defer dev.Close()
	if err := unix.Mount(dev.Name(), target, "ext4", unix.MS_NOSUID|unix.MS_NODEV, "noinit_itable"); err != nil {
		return fmt.Errorf("mount disk image on %s: %w", target, err)
	}
	defer func() {
		if err != nil {
			_ = unix.Unmount(target, unix.MNT_DETACH)
		}
	}()
	// The job would see lost+found; nothing here ever runs e2fsck.
	if err := os.Remove(filepath.Join(target, "lost+found")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("prepare disk image: %w", err)
	}
	if err := os.Chmod(target, 0o700); err != nil {
		return fmt.Errorf("prepare disk image: %w", err)
	}
	return nil
}

// attach binds img to a free loop device and returns the device, open.
// Another process may take the free device first; then the next one.
func attach(img *os.File) (*os.File, error) {
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer ctl.Close()
	var lastErr error
	for range 32 {
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return nil, fmt.Errorf("find a free loop device: %w", err)
		}
		dev, err := os.OpenFile("/dev/loop"+strconv.Itoa(n), os.O_RDWR, 0)
		if err != nil {
			return nil, err
		}
		err = configure(dev, img)
		if err == nil {
			return dev, nil
		}
		dev.Close()
		if !errors.Is(err, unix.EBUSY) {
			return nil, fmt.Errorf("configure %s: %w", dev.Name(), err)
		}
		lastErr = err
	}
	return nil, fmt.Errorf("every free loop device was taken before it could be used: %w", lastErr)
}

// configure binds img to dev in one call (LOOP_CONFIGURE, Linux 5.8), or
// in two on older kernels.
func configure(dev, img *os.File) error {
	info := unix.LoopInfo64{Flags: unix.LO_FLAGS_AUTOCLEAR}
	copy(info.File_name[:len(info.File_name)-1], img.Name())
	err := unix.IoctlLoopConfigure(int(dev.Fd()), &unix.LoopConfig{Fd: uint32(img.Fd()), Info: info})
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOTTY) {
		return err
	}
	if err := unix.IoctlSetInt(int(dev.Fd()), unix.LOOP_SET_FD, int(img.Fd())); err != nil {
		return err
	}
	if err := unix.IoctlLoopSetStatus64(int(dev.Fd()), &info); err != nil {
		_ = unix.IoctlSetInt(int(dev.Fd()), unix.LOOP_CLR_FD, 0)
		return err
	}
	return nil
}

// Release unmounts target if something is mounted there and deletes
// image; the loop device frees itself. Nothing mounted is fine, so it
// cleans up after any run, with or without a quota. A filesystem still
// in use (a process outside any container with its directory open) is
// detached lazily, which log is told of; it goes once that process lets
// go. An error means target may still be mounted: do not delete below it.
func Release(log *slog.Logger, image, target string) error {
	for i := range 4 { // a mount point can carry more than one mount
		mounted, err := isMount(target)
		if err != nil {
			return err
		}
		if mounted && i == 0 {
			discard(target)
		}
		if !mounted {
			if err := os.Remove(image); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("remove disk image: %w", err)
			}
			return nil
		}
		err = unix.Unmount(target, 0)
		if errors.Is(err, unix.EBUSY) {
			if log != nil {
				log.Warn("working directory still in use at removal; detaching it lazily", "dir", target)
			}
			err = unix.Unmount(target, unix.MNT_DETACH)
		}
		if err != nil && !errors.Is(err, unix.EINVAL) { // EINVAL: unmounted meanwhile
			return fmt.Errorf("unmount %s: %w", target, err)
		}
	}
	return fmt.Errorf("unmount %s: still mounted", target)
}

// discard deletes what is in the mounted working directory target before
// it is unmounted: deleted files' pages are dropped, where an unmount
// would first write every dirty page of the job's files into the image
// that is deleted next (for a job with 1 GiB of staged inputs, most of the
// time its removal took). Best effort: an unmount discards it anyway.
// os.RemoveAll never follows a symlink, even one swapped in meanwhile.
func discard(target string) {
	d, err := os.Open(target)
	if err != nil {
		return
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	for _, n := range names {
		_ = os.RemoveAll(filepath.Join(target, n))
	}
}

// isMount says whether target is a mount point: on another device than
// its parent. A missing target is not.
func isMount(target string) (bool, error) {
	var st, parent unix.Stat_t
	if err := unix.Lstat(target, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, fmt.Errorf("stat %s: %w", target, err)
	}
	if err := unix.Lstat(filepath.Dir(target), &parent); err != nil {
		return false, fmt.Errorf("stat %s: %w", filepath.Dir(target), err)
	}
	return st.Dev != parent.Dev, nil
}

// Full says whether target is a size-limited working directory with no
// room left: under 1% of its blocks (at least 1 MiB) or no inode free,
// which is where a job's writes fail. A directory without a quota is
// never full: its disk is not the job's limit.
func Full(target string) bool {
	if mounted, err := isMount(target); err != nil || !mounted {
		return false
	}
	var s unix.Statfs_t
	if err := unix.Statfs(target, &s); err != nil {
		return false
	}
	bsize := uint64(s.Bsize)
	slack := max(s.Blocks*bsize/100, 1<<20)
	return s.Bavail*bsize < slack || (s.Files > 0 && s.Ffree == 0)
}

// Mounted says whether a working directory is mounted at target.
func Mounted(target string) bool {
	m, err := isMount(target)
	return err == nil && m
}
