//go:build unix

package docker

import (
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// oNoFollow makes an open fail on a symbolic link.
const oNoFollow = unix.O_NOFOLLOW

func mkfifo(path string) error { return unix.Mkfifo(path, 0o666) }

// openFIFOWriter opens a FIFO for writing without blocking; errNoReader
// says no process has it open for reading yet.
func openFIFOWriter(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|unix.O_NONBLOCK|unix.O_NOFOLLOW, 0)
	if errors.Is(err, syscall.ENXIO) {
		return nil, errNoReader
	}
	return f, err
}
