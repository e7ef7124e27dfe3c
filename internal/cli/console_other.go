//go:build !windows

package cli

// escapesOn reports whether the terminal on fd handles escape sequences:
// Unix terminals always do.
func escapesOn(uintptr) bool { return true }
