// Package diskquota gives a run's working directory a size the kernel
// enforces: a sparse ext4 image file made per run, loop-mounted on the
// working directory. A job writing past the size gets ENOSPC from its own
// write, and the host's disk loses at most the image's size. The docker and
// process executors share it.
//
// It needs Linux, root (mounting), loop devices and mkfs.ext4 (e2fsprogs);
// Setup says which is missing. Elsewhere it reports itself unavailable.
//
// Mounts are the kernel's and outlive the worker process that made them:
// a restarted worker finds them where it left them. Whoever makes, sweeps
// or removes a run directory's mount holds that directory's lock (Hold),
// so that a sweep for leftovers never takes a mount from under a run.
package diskquota

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// Mode says whether runs get a size-limited working directory.
type Mode string

// Modes of Setup.
const (
	// Auto: a quota if this machine can make the mounts, else runs go
	// without, after one warning in the log.
	Auto Mode = "auto"
	// Required: a machine that cannot make the mounts is an error.
	Required Mode = "required"
	// Off: no quota; a job can fill the disk its working directory is on.
	Off Mode = "off"
)

// ErrUnavailable means this machine cannot make size-limited working
// directories; the error's message says what is missing.
var ErrUnavailable = errors.New("disk quota unavailable")

// MinBytes is the smallest size a working directory may be given: below
// it an ext4 image is mostly its own metadata.
const MinBytes = 16 << 20

// Quota makes size-limited working directories. It is safe for concurrent
// use; a nil *Quota means runs go without one.
type Quota struct {
	mkfs string // path of mkfs.ext4
}

// Setup returns the Quota for mode (empty means Auto), or nil when runs
// are to go without one: with Off, or with Auto on a machine that cannot
// make the mounts, which is logged as one warning. mkfs names mkfs.ext4
// (empty: looked up on PATH, then in /usr/sbin and /sbin). dir is where
// the images will be made: Setup mounts a small one there to prove it
// works. With Required a machine that cannot is an error wrapping
// ErrUnavailable that says what is missing and how to run without.
func Setup(ctx context.Context, mode Mode, mkfs, dir string, log *slog.Logger) (*Quota, error) {
	switch mode {
	case Off:
		return nil, nil
	case "", Auto, Required:
	default:
		return nil, fmt.Errorf("unknown disk quota mode %q: want auto, required or off", mode)
	}
	q, err := probe(ctx, mkfs, dir)
	if err == nil {
		return q, nil
	}
	if mode == Required {
		return nil, err
	}
	if log != nil {
		log.Warn("jobs' working directories have no size limit: a job can fill this machine's disk", "reason", err.Error())
	}
	return nil, nil
}

// unavailable is Setup's error: what is missing, and the fix.
func unavailable(what, fix string) error {
	return fmt.Errorf("%w: %s; %s, or pass --disk-quota off to run jobs without a disk limit", ErrUnavailable, what, fix)
}
