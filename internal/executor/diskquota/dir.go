package diskquota

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// MountPoint makes the directory path with mode, or takes one that is
// already there if it is an empty directory (not a symlink): the Docker
// executor's warm containers have their working directory's mount point
// bind-mounted before the run is staged, so it must stay the same
// directory. The mode is set explicitly (Mkdir's is cut by the umask).
func MountPoint(path string, mode fs.FileMode) error {
	err := os.Mkdir(path, mode)
	if err == nil {
		return os.Chmod(path, mode)
	}
	if !errors.Is(err, fs.ErrExist) {
		return err
	}
	info, lerr := os.Lstat(path)
	if lerr != nil {
		return lerr
	}
	if !info.IsDir() {
		return fmt.Errorf("%s exists and is not a directory", path)
	}
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	_, err = d.Readdirnames(1)
	d.Close()
	if !errors.Is(err, io.EOF) {
		if err == nil {
			return fmt.Errorf("%s exists and is not empty", path)
		}
		return err
	}
	return os.Chmod(path, mode)
}
