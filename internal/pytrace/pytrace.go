// Package pytrace finds the exception that ended a Python script in the
// end of its stderr: the last traceback's exception, message, and the
// frame that raised it.
package pytrace

import (
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/rgrid/rgrid/client"
)

var (
	frameLine     = regexp.MustCompile(`^\s+File "([^"]+)", line (\d+)(?:, in (.+))?$`)
	exceptionLine = regexp.MustCompile(`^([A-Za-z_][\w.]*)(?::\s?(.*))?$`)
)

// Parse returns the failure of the last traceback in tail, the end of a
// script's stderr. The frame is the innermost one in the script itself
// (script is its file name), else the innermost frame: a ValueError raised
// deep in a library is reported at the script's line that called it,
// which is the line the user can change. Paths in the script's own
// directory are reduced to the file name.
func Parse(tail []byte, script string) (client.Failure, bool) {
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(string(tail), "\r\n", "\n"), "\n"), "\n")
	start := -1
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "Traceback (most recent call last):") {
			start = i
			break
		}
	}
	if start < 0 {
		return client.Failure{}, false
	}
	type frame struct {
		file, fn string
		line     int
	}
	var frames []frame
	var f client.Failure
	// The exception is the first line at the margin after the last frame
	// (frames are followed by indented source lines and carets; notes
	// added to the exception follow it).
	for _, l := range lines[start+1:] {
		if m := frameLine.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[2])
			frames = append(frames, frame{file: m[1], line: n, fn: m[3]})
			f = client.Failure{}
			continue
		}
		if f.Exception != "" || l == "" || strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t") {
			continue
		}
		if m := exceptionLine.FindStringSubmatch(l); m != nil {
			f.Exception, f.Message = m[1], strings.TrimSpace(m[2])
		}
	}
	if f.Exception == "" {
		return client.Failure{}, false
	}
	if len(frames) > 0 {
		pick := frames[len(frames)-1]
		for i := len(frames) - 1; i >= 0; i-- {
			if script != "" && path.Base(frames[i].file) == script {
				pick = frames[i]
				break
			}
		}
		f.File, f.Line = pick.file, pick.line
		if script != "" && path.Base(pick.file) == script {
			f.File = script // where the worker staged it is no concern of the user
		}
		if pick.fn != "<module>" {
			f.Function = pick.fn
		}
	}
	if len(f.Message) > 500 {
		f.Message = f.Message[:500] + "…"
	}
	return f, true
}
