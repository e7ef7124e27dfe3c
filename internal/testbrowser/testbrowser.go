// Package testbrowser starts headless Chromium for the console's browser
// tests (Debian's chromium, driven through chromedp; scripts/chromium.sh
// installs it).
package testbrowser

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Start starts headless Chromium for the test, stopped when it ends, and
// returns its context, bounded by within. Missing, Chromium fails the
// test under CI=true and skips it elsewhere.
func Start(t *testing.T, within time.Duration) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed: run scripts/chromium.sh (apt-get install chromium)")
		}
		t.Skip("chromium is not installed (scripts/chromium.sh installs it)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.Flag("headless", true), chromedp.WindowSize(1200, 900))
	actx, cancelA := chromedp.NewExecAllocator(t.Context(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelB(); cancelA() })
	tctx, cancel := context.WithTimeout(ctx, within)
	t.Cleanup(cancel)
	if err := chromedp.Run(tctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return tctx
}

// Run runs actions, failing the test with what they were for.
func Run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action) {
	t.Helper()
	if err := chromedp.Run(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
