package docker

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// shareWorkDir makes dir a shared mount (bind-mounting it on itself first
// if it is not a mount point of its own), so that a mount made later in a
// run directory below it also appears in a container that bind-mounted
// that directory with slave propagation: a warm container's working
// directory is mounted before its job's disk is. Done once it stays so;
// a worker started again finds it done. A dir with mounts below it that
// is not a mount point itself (the runs of a worker from before the pool)
// is left as it is, and the pool stays off: binding it on itself now would
// hide those mounts.
//
// bound says whether shareWorkDir bind-mounted dir on itself (unshare
// undoes that).
func shareWorkDir(dir string) (bound bool, err error) {
	dir, err = filepath.EvalSymlinks(dir)
	if err != nil {
		return false, err
	}
	mounts, err := readMountInfo()
	if err != nil {
		return false, err
	}
	own, shared, below := false, false, 0
	for _, m := range mounts {
		switch {
		case m.point == dir:
			own, shared = true, m.shared // the last one is the one on top
		case strings.HasPrefix(m.point, dir+"/"):
			below++
		}
	}
	if shared {
		return false, nil
	}
	if !own {
		if below > 0 {
			return false, fmt.Errorf("%d mounts of earlier runs are below %s, which is not a mount point of its own: "+
				"the pool starts once they are gone (restart the worker when no run is left)", below, dir)
		}
		if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
			return false, fmt.Errorf("bind-mount %s on itself: %w", dir, err)
		}
		bound = true
	}
	if err := unix.Mount("", dir, "", unix.MS_SHARED, ""); err != nil {
		if bound {
			_ = unix.Unmount(dir, 0)
		}
		return false, fmt.Errorf("make %s a shared mount: %w", dir, err)
	}
	return bound, nil
}

// unshareWorkDir removes the bind mount shareWorkDir made, if nothing is
// mounted below it any more (no run left behind for a later worker to
// adopt): a directory the pool found as it is stays so.
func unshareWorkDir(dir string) error {
	dir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	mounts, err := readMountInfo()
	if err != nil {
		return err
	}
	for _, m := range mounts {
		if strings.HasPrefix(m.point, dir+"/") {
			return nil
		}
	}
	return unix.Unmount(dir, 0)
}

type mountInfo struct {
	point  string
	shared bool
}

// readMountInfo lists this process's mounts (proc(5), mountinfo).
func readMountInfo() ([]mountInfo, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var list []mountInfo
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 7 {
			continue
		}
		m := mountInfo{point: unescapeMount(fields[4])}
		for _, opt := range fields[6:] {
			if opt == "-" {
				break
			}
			if strings.HasPrefix(opt, "shared:") {
				m.shared = true
			}
		}
		list = append(list, m)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, errors.New("no mounts in /proc/self/mountinfo")
	}
	return list, nil
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) && octal(s[i+1:i+4]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func octal(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '7' {
			return false
		}
	}
	return true
}

// deviceOf is the device of the file system path is on.
func deviceOf(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, err
	}
	return uint64(st.Dev), nil //nolint:unconvert // not uint64 on every architecture
}
