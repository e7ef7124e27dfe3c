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

// deviceOf is not needed where there is no pool.
func deviceOf(string) (uint64, error) {
	return 0, errors.New("warm containers need a Linux host, not " + runtime.GOOS)
}
