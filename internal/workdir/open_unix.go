//go:build unix

package workdir

import (
	"os"
	"syscall"
)

// openFlags opens a file for reading without blocking: were a FIFO to take
// a regular file's place between the directory listing and the open, the
// open returns at once and the check of what was opened refuses it.
const openFlags = os.O_RDONLY | syscall.O_NONBLOCK
