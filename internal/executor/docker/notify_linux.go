package docker

import (
	"os"

	"golang.org/x/sys/unix"
)

// watchWrites returns a channel that gets a value soon after any of paths
// is written to (inotify), and the function that stops watching; a nil
// channel where inotify cannot watch them (the instances per user used
// up: fs.inotify.max_user_instances), and the tail polls alone. A job's
// first output and a quiet job's next line are then read at once instead
// of after the tail's pause.
func watchWrites(paths ...string) (<-chan struct{}, func()) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, func() {}
	}
	for _, p := range paths {
		if _, err := unix.InotifyAddWatch(fd, p, unix.IN_MODIFY); err != nil {
			_ = unix.Close(fd)
			return nil, func() {}
		}
	}
	// Non-blocking, so the runtime's poller waits for it and Close ends
	// the read below.
	f := os.NewFile(uintptr(fd), "inotify")
	c := make(chan struct{}, 1)
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := f.Read(buf); err != nil {
				return
			}
			select {
			case c <- struct{}{}:
			default:
			}
		}
	}()
	return c, func() { f.Close() }
}
