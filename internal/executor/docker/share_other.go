//go:build !linux

package docker

import (
	"errors"
	"runtime"
)

// shareWorkDir: warm containers need Linux mount propagation.
func shareWorkDir(string) (bool, error) {
	return false, errors.New("warm containers need a Linux host, not " + runtime.GOOS)
}

func unshareWorkDir(string) error { return nil }
