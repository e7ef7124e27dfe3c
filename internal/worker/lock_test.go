package worker

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func mustLock(t *testing.T, dir, id string) *IDLock {
	t.Helper()
	l, err := LockID(dir, id)
	if err != nil {
		t.Fatalf("lock %s: %v", id, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestLockIDIsExclusive(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := mustLock(t, dir, "w1")
	if !validInstance(first.Instance) {
		t.Fatalf("instance %q is not a nonce", first.Instance)
	}
	_, err := LockID(dir, "w1")
	var held *IDHeldError
	if !errors.As(err, &held) || held.ID != "w1" || held.PID != os.Getpid() {
		t.Fatalf("second lock of w1: %v, want held by pid %d", err, os.Getpid())
	}
	other := mustLock(t, dir, "w2") // another id in the same directory
	if other.Instance == first.Instance {
		t.Error("two ids share an instance")
	}

	// Released, the id is taken again by the next process on this machine,
	// which carries on with the instance: the server still knows it.
	first.Close()
	again := mustLock(t, dir, "w1")
	if again.Instance != first.Instance {
		t.Errorf("instance after a restart %q, want the predecessor's %q", again.Instance, first.Instance)
	}
}

// A record left by a process elsewhere (a data directory copied into a
// cloned image, or beside the original) is not this process's predecessor:
// a new instance.
func TestLockIDNewInstanceForACopy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	host, _ := os.Hostname()
	for _, rec := range []lockRecord{
		{ID: "w", PID: 1, Instance: "aaaaaaaaaaaaaaaaaaaaaaaaaa", Host: "elsewhere", Boot: bootID(), Dir: dir},
		{ID: "w", PID: 1, Instance: "bbbbbbbbbbbbbbbbbbbbbbbbbb", Host: host, Boot: "another-boot", Dir: dir},
		{ID: "w", PID: 1, Instance: "cccccccccccccccccccccccccc", Host: host, Boot: bootID(), Dir: dir + "-original"},
		{ID: "other", PID: 1, Instance: "dddddddddddddddddddddddddd", Host: host, Boot: bootID(), Dir: dir},
	} {
		b, _ := json.Marshal(rec)
		if err := os.WriteFile(filepath.Join(dir, "worker-w.lock"), b, 0o600); err != nil {
			t.Fatal(err)
		}
		l, err := LockID(dir, "w")
		if err != nil {
			t.Fatal(err)
		}
		if l.Instance == rec.Instance || !validInstance(l.Instance) {
			t.Errorf("record %+v: instance %q, want a new one", rec, l.Instance)
		}
		l.Close()
	}
}

func TestLockFileNameStaysInTheDirectory(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"../../etc/passwd", "a/b", "", ".hidden", string(make([]byte, 150))} {
		name := lockFileName(id)
		if filepath.Base(name) != name || name[0] == '.' || len(name) > 120 {
			t.Errorf("id %q: lock file %q", id, name)
		}
	}
	if got := lockFileName("host-a1b2"); got != "worker-host-a1b2.lock" {
		t.Errorf("plain id: %q", got)
	}
}

// The kernel releases the lock of a process killed with SIGKILL: the next
// start is not refused, and carries on with its instance.
func TestLockIDReleasedWhenTheHolderIsKilled(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHelperProcess$")
	cmd.Env = append(os.Environ(), "RGRID_LOCK_HELPER_DIR="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe() // held open: the helper waits on it
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	var rec lockRecord
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		t.Fatalf("helper said %q: %v", line, err)
	}
	_, err = LockID(dir, "w")
	var held *IDHeldError
	if !errors.As(err, &held) || held.PID != cmd.Process.Pid {
		t.Fatalf("lock while the helper holds it: %v, want held by pid %d", err, cmd.Process.Pid)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	l := mustLock(t, dir, "w")
	if l.Instance != rec.Instance {
		t.Errorf("instance %q after the holder died, want its %q", l.Instance, rec.Instance)
	}
}

// TestLockHelperProcess is the holder TestLockIDReleasedWhenTheHolderIsKilled
// kills: it takes the lock, says so with its record on stdout, and waits.
func TestLockHelperProcess(t *testing.T) {
	dir := os.Getenv("RGRID_LOCK_HELPER_DIR")
	if dir == "" {
		t.Skip("run by TestLockIDReleasedWhenTheHolderIsKilled")
	}
	l, err := LockID(dir, "w")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(lockRecord{Instance: l.Instance})
	os.Stdout.Write(append(b, '\n'))
	_, _ = os.Stdin.Read(make([]byte, 1))
}
