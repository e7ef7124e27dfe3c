package cli

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/rgrid/rgrid/internal/executor"
	"github.com/rgrid/rgrid/internal/executor/process"
)

// chooseExecutor returns the executor a worker uses. name is what the user
// asked for ("" = the best available). Embedded mode may fall back to the
// process executor and says so in a one-line notice; a production worker
// never falls back silently: asking for an executor that is not available
// is an error.
func chooseExecutor(ctx context.Context, name string, embedded bool) (executor.Executor, string, error) {
	switch name {
	case "", "process":
	case "docker":
		return nil, "", userErr("run the worker with --executor process (no isolation) until the Docker executor is available",
			"the docker executor is not available in this version of rgrid")
	default:
		return nil, "", userErr("use --executor docker or --executor process", "unknown executor %q", name)
	}
	ex := process.New(process.Options{Logger: slog.New(slog.DiscardHandler)})
	notice := ""
	if embedded && name == "" {
		notice = fmt.Sprintf("rgrid: notice: %s", process.Notice)
	}
	_ = ctx
	return ex, notice, nil
}
