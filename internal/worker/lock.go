package worker

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// IDLock is a worker process's hold on its worker id in a data directory:
// an exclusive lock on <dir>/worker-<id>.lock that the kernel releases when
// the process dies, however it dies. The file also records the holder's
// pid, for the refusal of a second process, and its instance.
type IDLock struct {
	f *os.File
	// Instance is the nonce this process sends the server. A process that
	// takes the lock after a predecessor in the same directory, on the same
	// machine and boot, carries on with the predecessor's instance: holding
	// the lock proves that one is dead, and the server then lets the
	// restarted worker take back its id (and adopt its running containers)
	// at once, instead of refusing it as another process until the
	// dead-after interval has passed. Anywhere else (a data directory
	// copied elsewhere or into a cloned machine, or after a reboot) the
	// instance is new.
	Instance string
}

// IDHeldError is returned by LockID when another process holds the id.
type IDHeldError struct {
	ID   string
	PID  int // 0 if the holder has not written it yet
	Path string
}

func (e *IDHeldError) Error() string {
	return fmt.Sprintf("worker %s is already running in this data directory (pid %d, %s)", e.ID, e.PID, e.Path)
}

// errLocked is what lockFile returns when another process holds the lock.
var errLocked = errors.New("locked by another process")

// lockRecord is what the lock file holds.
type lockRecord struct {
	ID       string `json:"worker_id"`
	PID      int    `json:"pid"`
	Instance string `json:"instance"`
	Host     string `json:"host"`
	Boot     string `json:"boot,omitempty"`
	Dir      string `json:"dir"`
}

// LockID takes worker id's lock in dir (created if missing), or returns an
// *IDHeldError naming the process that holds it.
func LockID(dir, id string) (*IDLock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("lock worker id %s: %w", id, err)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("lock worker id %s: %w", id, err)
	}
	path := filepath.Join(dir, lockFileName(id))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock worker id %s: %w", id, err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		if errors.Is(err, errLocked) {
			held := &IDHeldError{ID: id, Path: path}
			if b, err := os.ReadFile(path); err == nil {
				held.PID = decodeRecord(b).PID
			}
			return nil, held
		}
		return nil, fmt.Errorf("lock worker id %s (%s): %w", id, path, err)
	}
	prev, _ := io.ReadAll(io.LimitReader(f, 1<<16))
	host, _ := os.Hostname()
	rec := lockRecord{ID: id, PID: os.Getpid(), Host: host, Boot: bootID(), Dir: dir}
	if p := decodeRecord(prev); p.ID == id && p.Host == host && p.Boot == rec.Boot && p.Dir == dir && validInstance(p.Instance) {
		rec.Instance = p.Instance
	} else {
		rec.Instance = NewInstance()
	}
	b, _ := json.Marshal(rec)
	b = append(b, '\n')
	_, err = f.WriteAt(b, 0)
	if err == nil {
		err = f.Truncate(int64(len(b)))
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock worker id %s: write %s: %w", id, path, err)
	}
	return &IDLock{f: f, Instance: rec.Instance}, nil
}

// Close releases the lock. The record stays, for the next process.
func (l *IDLock) Close() {
	_ = l.f.Close() // nothing was written since the record; the lock goes with the descriptor
}

func decodeRecord(b []byte) lockRecord {
	var r lockRecord
	_ = json.Unmarshal(b, &r)
	return r
}

var plainID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

// lockFileName names the lock file after the id, or after its hash when
// the id is not a plain file name (a worker id is anything up to 200 bytes).
func lockFileName(id string) string { return "worker-" + pathSafe(id) + ".lock" }

// pathSafe is id as a file name: itself if plain, else a hash of it.
func pathSafe(id string) string {
	if plainID.MatchString(id) {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:8])
}

// NewInstance returns a new instance nonce: 128 random bits.
func NewInstance() string {
	return strings.ToLower(rand.Text())
}

// validInstance reports whether s is an instance NewInstance could have
// made (a record's may have been edited by hand).
func validInstance(s string) bool {
	return len(s) >= 16 && len(s) <= 64 && !strings.ContainsFunc(s, func(c rune) bool {
		return (c < 'a' || c > 'z') && (c < '0' || c > '9')
	})
}

// bootID identifies this boot of this machine where the system says (Linux);
// elsewhere it is empty and the host name alone tells machines apart.
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
