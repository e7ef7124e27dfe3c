package cli

import (
	"io"
	"unicode/utf8"

	"golang.org/x/term"
)

// A job's output is stored and served as the exact bytes the script wrote.
// Written to a terminal as they are, some bytes take the terminal over: an
// OSC sequence sets the window title or the clipboard, a private mode
// switches to the alternate screen or hides the cursor, a stray byte turns
// the character set into line drawing. termSafe passes text, colours and
// the cursor moves of progress bars, and shows the rest as visible
// escapes ("␛]0;title^G"), so a job cannot leave the user's terminal
// broken. Output that goes to a file or a pipe is not touched.

// isTerminal reports whether w is a terminal that handles escape
// sequences (a console on Windows, where they are turned on here).
func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd())) && escapesOn(f.Fd())
}

// terminalOutput wraps w in a termSafe when it is a terminal. The returned
// flush writes out what an unfinished sequence held back; call it when
// the output ends.
func terminalOutput(w io.Writer) (io.Writer, func()) {
	if !isTerminal(w) {
		return w, func() {}
	}
	t := &termSafe{w: w}
	return t, t.flush
}

// maxHeld bounds the bytes of an unfinished escape sequence or character
// kept between writes.
const maxHeld = 64

type termSafe struct {
	w    io.Writer
	held []byte // an unfinished sequence or UTF-8 character
	out  []byte
}

func (t *termSafe) Write(p []byte) (int, error) {
	n := len(p)
	if len(t.held) > 0 {
		p = append(t.held, p...)
		t.held = nil
	}
	t.out = t.out[:0]
	for len(p) > 0 {
		used, complete := t.next(p)
		if !complete {
			if len(p) <= maxHeld {
				t.held = append([]byte(nil), p...)
				break
			}
			// Too long to be a real sequence: show it and go on.
			t.out = appendVisible(t.out, p[0])
			p = p[1:]
			continue
		}
		p = p[used:]
	}
	if _, err := t.w.Write(t.out); err != nil {
		return 0, err
	}
	return n, nil
}

func (t *termSafe) flush() {
	if len(t.held) == 0 {
		return
	}
	t.out = t.out[:0]
	p := t.held
	t.held = nil
	for len(p) > 0 {
		used, complete := t.next(p)
		if !complete {
			t.out = appendVisible(t.out, p[0])
			used = 1
		}
		p = p[used:]
	}
	_, _ = t.w.Write(t.out)
}

// next handles what p starts with, appending to t.out, and returns how
// many bytes it used; complete is false when p ends inside it.
func (t *termSafe) next(p []byte) (int, bool) {
	b := p[0]
	switch {
	case b == 0x1b:
		return t.escape(p)
	case b == '\n' || b == '\t' || b == '\r' || b == '\b':
		t.out = append(t.out, b)
		return 1, true
	case b < 0x20 || b == 0x7f:
		t.out = appendVisible(t.out, b)
		return 1, true
	case b < utf8.RuneSelf:
		// A run of plain ASCII at once.
		i := 1
		for i < len(p) && p[i] >= 0x20 && p[i] < 0x7f {
			i++
		}
		t.out = append(t.out, p[:i]...)
		return i, true
	}
	if !utf8.FullRune(p) {
		return 0, false
	}
	r, size := utf8.DecodeRune(p)
	if r == utf8.RuneError && size == 1 || r >= 0x80 && r < 0xa0 {
		// Not UTF-8, or a C1 control (0x9b is CSI on some terminals).
		t.out = append(t.out, "\uFFFD"...)
		return size, true
	}
	t.out = append(t.out, p[:size]...)
	return size, true
}

// escape handles a sequence starting with ESC. CSI sequences that colour
// text, erase the line or move the cursor (what progress bars print) pass;
// everything else is shown.
func (t *termSafe) escape(p []byte) (int, bool) {
	if len(p) < 2 {
		return 0, false
	}
	if p[1] != '[' {
		t.out = appendVisible(t.out, 0x1b)
		return 1, true
	}
	// CSI: parameter bytes 0x30–0x3F, intermediates 0x20–0x2F, a final
	// byte 0x40–0x7E.
	i := 2
	for i < len(p) && p[i] >= 0x20 && p[i] <= 0x3f {
		i++
	}
	if i == len(p) {
		return 0, false
	}
	final := p[i]
	if final < 0x40 || final > 0x7e {
		t.out = appendVisible(t.out, 0x1b)
		return 1, true
	}
	seq := p[:i+1]
	// Only numbers and ";" as parameters: "?" and the like select private
	// modes and queries.
	plain := true
	for _, c := range seq[2:i] {
		if (c < '0' || c > '9') && c != ';' {
			plain = false
		}
	}
	switch final {
	case 'm', 'K', 'A', 'B', 'C', 'D', 'E', 'F', 'G':
		if plain {
			t.out = append(t.out, seq...)
			return len(seq), true
		}
	}
	t.out = appendVisible(t.out, 0x1b)
	t.out = append(t.out, seq[1:]...)
	return len(seq), true
}

// appendVisible shows a byte that cannot go out as it is: ESC as ␛,
// other controls as ^X, a byte that is not UTF-8 as U+FFFD.
func appendVisible(out []byte, b byte) []byte {
	switch {
	case b >= 0x20 && b < 0x7f:
		return append(out, b)
	case b == 0x1b:
		return append(out, "␛"...)
	case b < 0x20:
		return append(out, '^', b+'@')
	case b == 0x7f:
		return append(out, '^', '?')
	}
	return append(out, "\uFFFD"...)
}
