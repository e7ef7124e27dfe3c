//go:build !linux

package docker

import (
	"errors"
	"log/slog"
	"runtime"
)

func mountOverlay(_, _, _, _ string) error {
	return errors.New("overlay mounts need Linux, not " + runtime.GOOS)
}

func unmountOverlay(*slog.Logger, string) error { return nil }
