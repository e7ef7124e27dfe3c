//go:build !linux

package executortest

import (
	"errors"
	"os"
	"testing"

	"github.com/rgrid/rgrid/internal/executor/diskquota"
)

func quotaMode(*testing.T) (diskquota.Mode, error) {
	return diskquota.Off, errors.New("disk quotas need Linux")
}

// runDisk has nothing to run: no executor limits disks here.
func runDisk(*testing.T, func(t *testing.T) bundle, Runtime) {}

// MountsUnder finds nothing: mounts are made on Linux only.
func MountsUnder(testing.TB, string) []string { return nil }

// LoopDevicesUnder finds nothing: loop devices are Linux's.
func LoopDevicesUnder(testing.TB, string) []string { return nil }

// AssertReleased checks that no run directory is left under root.
func AssertReleased(t *testing.T, root string) {
	t.Helper()
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			t.Errorf("run directory left: %s", e.Name())
		}
	}
}
