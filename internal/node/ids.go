package node

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/rgrid/rgrid/internal/worker"
)

// Worker ids: a worker that keeps its id across restarts is the same
// worker to the server (it adopts the containers it left), and one id
// belongs to one process at a time (see worker.IDLock).

// persistentWorkerID returns this machine's worker id, made once and kept
// in the data directory dir, so that a restarted worker is the same worker
// to the server.
func persistentWorkerID(dir string) (string, error) {
	host, _ := os.Hostname()
	return keptID(dir, "worker-id", host)
}

// lockWorkerID takes id's lock in the data directory dir: one process per
// worker id there (see worker.IDLock).
func lockWorkerID(dir, id string) (*worker.IDLock, error) {
	lock, err := worker.LockID(dir, id)
	var held *worker.IDHeldError
	if errors.As(err, &held) {
		pid := "pid unknown"
		if held.PID > 0 {
			pid = fmt.Sprintf("pid %d", held.PID)
		}
		return nil, usageErr(fmt.Sprintf("give this one its own identity: --worker-id NAME or RGRID_DATA_DIR=DIR (this data directory is %s)", dir),
			"worker %s is already running in this data directory (%s)", id, pid)
	}
	return lock, err
}

// keptID returns the id kept in dir/file, or makes one (prefix-random),
// keeps it there and returns it.
func keptID(dir, file, prefix string) (string, error) {
	path := filepath.Join(dir, file)
	if id := readKeptID(path); id != "" {
		return id, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", usageErr("set RGRID_DATA_DIR to a writable directory", "keep the worker id: %v", err)
	}
	// Written aside and linked into place, which fails if the file is
	// there: of two first starts at once, both keep the id of the first.
	id := fmt.Sprintf("%s-%s", prefix, randomSuffix())
	tmp, err := os.CreateTemp(dir, file+".new-*")
	if err == nil {
		_, err = tmp.WriteString(id + "\n")
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		defer os.Remove(tmp.Name())
	}
	if err == nil {
		err = os.Link(tmp.Name(), path)
		if errors.Is(err, fs.ErrExist) {
			if kept := readKeptID(path); kept != "" {
				return kept, nil
			}
		}
		if err != nil { // an empty file left over, or no hard links here
			err = os.Rename(tmp.Name(), path)
		}
	}
	if err != nil {
		return "", usageErr("set RGRID_DATA_DIR to a writable directory", "keep the worker id: %v", err)
	}
	return id, nil
}

func readKeptID(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
