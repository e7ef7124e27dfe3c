package workdir

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// isWhiteout says whether fi is an overlayfs whiteout: a character device
// numbered 0/0.
func isWhiteout(fi fs.FileInfo) bool {
	if fi.Mode()&fs.ModeCharDevice == 0 {
		return false
	}
	s, ok := fi.Sys().(*syscall.Stat_t)
	return ok && s.Rdev == 0
}

// isOpaque says whether the folder rel under root is marked opaque by
// overlayfs (it hides the lower folder of its name). The path is read
// without following a symlink at its end; the folders above it were
// walked as folders, and nothing changes the tree during a collection.
func isOpaque(root *os.Root, rel string) bool {
	var buf [1]byte
	p := filepath.Join(root.Name(), filepath.FromSlash(rel))
	n, err := unix.Lgetxattr(p, "trusted.overlay.opaque", buf[:])
	return err == nil && n == 1 && buf[0] == 'y'
}
