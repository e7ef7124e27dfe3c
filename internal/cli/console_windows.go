package cli

import "golang.org/x/sys/windows"

// escapesOn turns on the console's handling of escape sequences (virtual
// terminal processing, Windows 10 and later), without which colours show
// as "←[31m". It reports whether the console now handles them: an older
// one prints them as text, so it is no terminal to colour or to guard.
func escapesOn(fd uintptr) bool {
	h := windows.Handle(fd)
	var mode uint32
	if err := windows.GetConsoleMode(h, &mode); err != nil {
		return false
	}
	if mode&windows.ENABLE_VIRTUAL_TERMINAL_PROCESSING != 0 {
		return true
	}
	return windows.SetConsoleMode(h, mode|windows.ENABLE_VIRTUAL_TERMINAL_PROCESSING) == nil
}
