package workdir

import (
	"io/fs"
	"time"
)

// Stamp is what the file system says of a file without reading it: where
// it is (device and inode, where the system has them), its size and its
// times. Two equal stamps of one path mean, as for git's index, that the
// file was not written in between, unless something set its times back on
// purpose.
type Stamp struct {
	Dev, Ino     uint64
	Size         int64
	Mtime, Ctime int64 // nanoseconds since 1970; Ctime 0 where there is none
}

func stampOf(fi fs.FileInfo) Stamp {
	st := Stamp{Size: fi.Size(), Mtime: fi.ModTime().UnixNano()}
	sysStamp(fi, &st)
	return st
}

// sameContent reports whether a file stamped st may be taken to hold what
// it held when stamped was taken, ignoring the inode change time: an
// owner or mode change (the worker hands the staged tree to the job's
// user) changes that, not the content.
func (st Stamp) sameContent(stamped Stamp) bool {
	return st.Dev == stamped.Dev && st.Ino == stamped.Ino && st.Size == stamped.Size && st.Mtime == stamped.Mtime
}

// settled reports whether st was last changed long enough (window, two
// seconds) before t that
// a write in the same clock tick as its hashing cannot have gone
// unnoticed: file times are coarse (a few milliseconds on Linux, a second
// or two on some file systems), so a file written again right after it
// was read can keep its stamp. Such a file is hashed every time until it
// settles, as git does with "racily clean" entries.
func (st Stamp) settled(t time.Time, window time.Duration) bool {
	limit := t.Add(-window).UnixNano()
	return st.Mtime < limit && st.Ctime < limit
}
