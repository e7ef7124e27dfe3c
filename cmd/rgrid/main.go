// Command rgrid runs scripts on a grid of machines: it is the client, the
// control plane (rgrid server) and the worker agent (rgrid worker) in one
// binary.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/rgrid/rgrid/internal/cli"
	"github.com/rgrid/rgrid/internal/executor/docker/jobinit"
)

func main() {
	// As a job container's init (the worker mounts this binary into it
	// under that name), rgrid is nothing else.
	jobinit.Dispatch()
	// SIGHUP (the terminal closed) is taken as Ctrl-C: rgrid run detaches
	// from a server's job, or cancels an embedded one (whose grid ends with
	// the command) instead of leaving its process or container behind;
	// rgrid worker drains.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	code := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
