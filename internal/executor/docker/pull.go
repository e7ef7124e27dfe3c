package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/rgrid/rgrid/internal/executor"
)

// ErrImagePull means a run's image is not on this machine and could not be
// pulled. The job cannot run here as configured, but the engine is fine:
// it deliberately does not wrap executor.ErrUnavailable. Errors wrapping it
// are *PullError.
var ErrImagePull = executor.ErrImagePull

// PullError says why an image could not be pulled and what to do about it.
type PullError struct {
	Image  string
	Reason string // the engine's words
	Hint   string
	err    error
}

const pullHint = "check the image name; on a machine without registry access, " +
	"load or build the image locally (docker load, docker build), " +
	"or point the runtime at a local image in the config file ([[runtimes]])"

func (e *PullError) Error() string {
	return fmt.Sprintf("pull image %s: %s; %s", e.Image, e.Reason, e.Hint)
}

// Unwrap exposes ErrImagePull and the engine's error, so that callers can
// branch on either.
func (e *PullError) Unwrap() []error {
	if e.err == nil {
		return []error{ErrImagePull}
	}
	return []error{ErrImagePull, e.err}
}

func pullError(image string, err error) error {
	reason := err.Error()
	if errors.Is(err, context.DeadlineExceeded) {
		reason = "gave up waiting: " + reason
	}
	return &PullError{Image: image, Reason: reason, Hint: pullHint, err: err}
}

// imageEnv returns the image's environment and id, pulling the image first if it
// is missing. sys, if not nil, receives progress lines for the user.
func (e *Executor) imageEnv(ctx context.Context, image string, sys io.Writer) (env []string, id string, err error) {
	img, err := e.cli.ImageInspect(ctx, image)
	if err == nil {
		return imageConfigEnv(img), img.ID, nil
	}
	if !cerrdefs.IsNotFound(err) {
		return nil, "", fmt.Errorf("inspect image %s: %w", image, err)
	}
	if err := e.Pull(ctx, image, sys); err != nil {
		return nil, "", err
	}
	img, err = e.cli.ImageInspect(ctx, image)
	if err != nil {
		return nil, "", pullError(image, fmt.Errorf("image not found after pulling it: %w", err))
	}
	return imageConfigEnv(img), img.ID, nil
}

func imageConfigEnv(img client.ImageInspectResult) []string {
	if img.Config == nil {
		return nil
	}
	return img.Config.Env
}

// Pull pulls image from its registry, bounded by Options.PullTimeout and
// ctx, writing an occasional progress line to sys if it is not nil. Start
// pulls missing images itself; Pull is for a caller that wants the image
// before choosing this executor. Its errors are *PullError.
func (e *Executor) Pull(ctx context.Context, image string, sys io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, e.opts.PullTimeout)
	defer cancel()
	began := time.Now()
	say(sys, "rgrid: pulling %s", image)
	e.log.Info("pulling image", "image", image)

	resp, err := e.cli.ImagePull(ctx, image, client.ImagePullOptions{})
	if err != nil {
		return pullError(image, err)
	}
	defer resp.Close()
	p := progress{image: image, sys: sys, layers: map[string][2]int64{}, last: began}
	for msg, err := range resp.JSONMessages(ctx) {
		if err != nil {
			return pullError(image, err)
		}
		if msg.Error != nil {
			return pullError(image, msg.Error)
		}
		if msg.Progress != nil && msg.ID != "" && msg.Status == "Downloading" {
			p.layers[msg.ID] = [2]int64{msg.Progress.Current, msg.Progress.Total}
			p.report(time.Now())
		}
	}
	if err := ctx.Err(); err != nil {
		return pullError(image, err)
	}
	say(sys, "rgrid: pulled %s in %s s", image, seconds(time.Since(began)))
	e.log.Info("pulled image", "image", image, "took", time.Since(began))
	return nil
}

// progress turns per-layer download counts into an occasional line:
// every 10 points or 5 seconds, whichever comes first, never per chunk.
type progress struct {
	image  string
	sys    io.Writer
	layers map[string][2]int64 // layer id → current, total bytes
	shown  int                 // last percentage shown
	last   time.Time
}

func (p *progress) report(now time.Time) {
	var cur, total int64
	for _, l := range p.layers {
		cur += l[0]
		total += l[1]
	}
	if total <= 0 {
		return
	}
	pct := int(cur * 100 / total)
	if pct < p.shown+10 && now.Sub(p.last) < 5*time.Second {
		return
	}
	p.shown, p.last = pct, now
	say(p.sys, "rgrid: pulling %s: %d%%", p.image, pct)
}

// say writes one line for the user; the System stream is best effort.
func say(w io.Writer, format string, a ...any) {
	if w == nil {
		return
	}
	_, _ = io.WriteString(w, strings.TrimRight(fmt.Sprintf(format, a...), "\n")+"\n")
}
