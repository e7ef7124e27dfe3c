package cli

import (
	"bytes"
	"regexp"
	"strings"
	"sync"
)

// tailWriter keeps the last bytes written through it, so that a failed
// job's traceback can be summarised after its output has streamed by.
type tailWriter struct {
	w   interface{ Write([]byte) (int, error) }
	max int

	mu  sync.Mutex
	buf []byte
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	t.mu.Unlock()
	return t.w.Write(p)
}

func (t *tailWriter) tail() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return bytes.Clone(t.buf)
}

var (
	tracebackFrame = regexp.MustCompile(`^\s*File "([^"]+)", line (\d+)`)
	tracebackError = regexp.MustCompile(`^([A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit|Warning))(?::\s*(.*))?$`)
	missingModule  = regexp.MustCompile(`^No module named '([^'.]+)`)
)

// pythonFailure is the last exception of a Python traceback.
type pythonFailure struct {
	exception, message string
	file, line         string // innermost frame
}

// parseTraceback finds the last Python traceback in stderr's tail.
func parseTraceback(tail []byte) (pythonFailure, bool) {
	lines := strings.Split(strings.TrimRight(string(tail), "\n"), "\n")
	start := -1
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "Traceback (most recent call last):") {
			start = i
			break
		}
	}
	if start < 0 {
		return pythonFailure{}, false
	}
	var f pythonFailure
	for _, l := range lines[start+1:] {
		if m := tracebackFrame.FindStringSubmatch(l); m != nil {
			f.file, f.line = m[1], m[2]
			continue
		}
		if m := tracebackError.FindStringSubmatch(strings.TrimSpace(l)); m != nil && !strings.HasPrefix(l, " ") {
			f.exception, f.message = m[1], m[2]
		}
	}
	return f, f.exception != ""
}

// summary is one line naming the exception and where it was raised, and a
// hint when the exception has a known fix.
func (f pythonFailure) summary() (string, string) {
	s := f.exception
	if f.message != "" {
		s += ": " + f.message
	}
	if f.file != "" {
		s += " (" + strings.TrimPrefix(f.file, "/rgrid/input/") + ", line " + f.line + ")"
	}
	hint := ""
	if f.exception == "ModuleNotFoundError" || f.exception == "ImportError" {
		mod := "the module"
		if m := missingModule.FindStringSubmatch(f.message); m != nil {
			mod = m[1]
		}
		hint = "list " + mod + " in a requirements.txt beside the script (or in its inline \"# /// script\" metadata); rgrid installs it"
	}
	return s, hint
}
