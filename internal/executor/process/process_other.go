//go:build !linux

package process

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"

	"github.com/rgrid/rgrid/internal/executor"
	"github.com/rgrid/rgrid/internal/executor/diskquota"
)

// The Linux executor rests on waitid(WNOWAIT), which keeps a finished
// run's process group id from being reused before the group is killed,
// and on Pdeathsig, which kills a run with its worker. Without them a
// kill could reach another user's processes, or a job outlive its worker
// unsupervised; there is no portable subset worth offering.
func available() error {
	return fmt.Errorf("%w: the process executor is available on Linux only, not on %s; use Docker (--executor docker)",
		executor.ErrUnavailable, runtime.GOOS)
}

func setupQuota(Options, string, *slog.Logger) (*diskquota.Quota, error) { return nil, nil }

func (e *Executor) sweep() {}

// Start implements executor.Executor; New never returns an Executor here.
func (e *Executor) Start(ctx context.Context, spec executor.Spec) (executor.Handle, error) {
	return nil, available()
}
