//go:build !linux && !darwin

package workdir

import "io/fs"

// sysStamp: size and modification time only (on Windows the file system
// gives no inode through os.FileInfo; its write time is 100 ns exact).
func sysStamp(fs.FileInfo, *Stamp) {}
