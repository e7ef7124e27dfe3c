//go:build !linux

package diskquota

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"runtime"
)

func probe(context.Context, string, string) (*Quota, error) {
	return nil, unavailable("size-limited working directories need Linux (loop-mounted ext4 images), not "+runtime.GOOS,
		"run the worker on Linux")
}

// Make implements the Linux one's signature; Setup never returns a Quota here.
func (q *Quota) Make(context.Context, string, string, int64) error {
	return ErrUnavailable
}

// Release deletes image: nothing is ever mounted here.
func Release(_ *slog.Logger, image, _ string) error {
	if err := os.Remove(image); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Full is false: no directory here has a quota.
func Full(string) bool { return false }

// Mounted is false: nothing is ever mounted here.
func Mounted(string) bool { return false }
