//go:build !linux

package jobinit

import (
	"fmt"
	"os"
	"runtime"
)

// Main is the init in control directory ctl; it runs on Linux only.
func Main(string) int {
	fmt.Fprintf(os.Stderr, "%s: runs only in a Linux container, not on %s\n", Name, runtime.GOOS)
	return 125
}
