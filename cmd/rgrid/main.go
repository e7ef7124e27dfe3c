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
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
