// Command profiled runs rgrid's own command line (internal/cli, the code
// cmd/rgrid runs) under a CPU profile, for finding where a benchmark's
// time goes in the server:
//
//	profiled -cpuprofile server.pprof server --db postgres://… --migrate
//
// The profile is written when the command returns (SIGTERM or SIGINT ends
// rgrid server cleanly). Bench-only; never shipped.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/rgrid/rgrid/internal/cli"
)

func main() {
	profile := flag.String("cpuprofile", "", "write a CPU profile here (required)")
	flag.Parse()
	if *profile == "" {
		fmt.Fprintln(os.Stderr, "profiled: pass -cpuprofile FILE, then rgrid's arguments")
		os.Exit(2)
	}
	os.Exit(run(*profile, flag.Args()))
}

func run(profile string, args []string) int {
	f, err := os.Create(profile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "profiled:", err)
		return 1
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, "profiled:", err)
		return 1
	}
	defer pprof.StopCPUProfile()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return cli.Run(ctx, args, os.Stdout, os.Stderr)
}
