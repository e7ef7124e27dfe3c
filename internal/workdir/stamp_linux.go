package workdir

import (
	"io/fs"
	"syscall"
)

func sysStamp(fi fs.FileInfo, st *Stamp) {
	if s, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.Dev, st.Ino = uint64(s.Dev), s.Ino //nolint:unconvert // Dev is not uint64 on every architecture
		st.Ctime = s.Ctim.Nano()
	}
}
