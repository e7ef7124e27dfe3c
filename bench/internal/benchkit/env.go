package benchkit

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

// Runs is how many runs a program makes of each figure: BENCH_RUNS when
// it is set to a positive number (scripts/bench.sh sets it in quick mode),
// else def.
func Runs(def int) int {
	if n, err := strconv.Atoi(os.Getenv("BENCH_RUNS")); err == nil && n > 0 {
		return n
	}
	return def
}

// Quick reports whether BENCH_QUICK asks for small counts (development).
func Quick() bool {
	v := os.Getenv("BENCH_QUICK")
	return v != "" && v != "0"
}

// Pick returns quick in quick mode, else full.
func Pick[T any](full, quick T) T {
	if Quick() {
		return quick
	}
	return full
}

// Main runs fn under a context that ends on SIGINT or SIGTERM or after
// limit, so that a program stops by itself and its deferred clean-up runs
// however it ends; an error is printed with the program's name and exits 1.
func Main(name string, limit time.Duration, fn func(ctx context.Context) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, limit)
	err := fn(ctx)
	cancel()
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}
