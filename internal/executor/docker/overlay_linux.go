package docker

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/rgrid/rgrid/internal/executor/diskquota"
)

// overlayOptions keep the upper directory a plain record of the job's
// changes, which is what collection reads: no directory renamed by
// reference (redirect_dir: a renamed input directory is copied up whole),
// no file copied up by its metadata alone (metacopy: its bytes would stay
// in the layer), no index of hard links.
const overlayOptions = ",redirect_dir=off,metacopy=off,index=off"

// mountOverlay mounts on target an overlay of lower (read, never written)
// and upper (the job's changes), work being overlayfs's own scratch
// directory on upper's filesystem.
func mountOverlay(lower, upper, work, target string) error {
	for _, p := range []string{lower, upper, work} {
		if strings.ContainsAny(p, ",:\\") {
			return fmt.Errorf("overlay: path %q holds a character mount options cannot carry (, : \\)", p)
		}
	}
	opts := "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work + overlayOptions
	if err := unix.Mount("overlay", target, "overlay", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mount overlay on %s: %w", target, err)
	}
	return nil
}

// unmountOverlay unmounts what is mounted on target, if anything; one
// still in use is detached lazily.
func unmountOverlay(log *slog.Logger, target string) error {
	for range 4 {
		if !diskquota.Mounted(target) {
			return nil
		}
		err := unix.Unmount(target, 0)
		if errors.Is(err, unix.EBUSY) {
			if log != nil {
				log.Warn("working directory still in use at removal; detaching it lazily", "dir", target)
			}
			err = unix.Unmount(target, unix.MNT_DETACH)
		}
		if err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("unmount %s: %w", target, err)
		}
	}
	return fmt.Errorf("unmount %s: still mounted", target)
}
