package workdir

import (
	"io/fs"
	"syscall"
)

func sysStamp(fi fs.FileInfo, st *Stamp) {
	if s, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.Dev, st.Ino = uint64(s.Dev), s.Ino
		st.Ctime = s.Ctimespec.Nano()
	}
}
