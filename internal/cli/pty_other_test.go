//go:build !linux

package cli

import (
	"os"
	"testing"
)

// openPTY would open a pseudo-terminal; the tests open one the Linux way
// only, and skip elsewhere.
func openPTY(t *testing.T) *os.File {
	t.Helper()
	t.Skip("pseudo-terminals are opened the Linux way only in these tests")
	return nil
}
