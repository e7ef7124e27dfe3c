//go:build !linux

package workdir

import (
	"io/fs"
	"os"
)

// Overlay upper directories are Linux's alone.
func isWhiteout(fs.FileInfo) bool    { return false }
func isOpaque(*os.Root, string) bool { return false }
