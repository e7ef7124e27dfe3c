//go:build unix

package diskquota

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Hold takes dir's lock, waiting while another holder has it, and returns
// the function that gives it back. Locks are per open of the directory, so
// a sweep in the same process as the run is kept off it too.
func Hold(dir string) (release func(), err error) {
	fd, err := lock(dir, unix.LOCK_EX)
	if err != nil {
		return nil, err
	}
	return func() { _ = unix.Close(fd) }, nil
}

// TryHold takes dir's lock if nobody holds it; ok is false if somebody
// does, or dir is gone.
func TryHold(dir string) (release func(), ok bool) {
	fd, err := lock(dir, unix.LOCK_EX|unix.LOCK_NB)
	if err != nil {
		return nil, false
	}
	return func() { _ = unix.Close(fd) }, true
}

func lock(dir string, how int) (int, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return -1, fmt.Errorf("lock %s: %w", dir, err)
	}
	for {
		err = unix.Flock(fd, how)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		_ = unix.Close(fd)
		return -1, fmt.Errorf("lock %s: %w", dir, err)
	}
	return fd, nil
}
