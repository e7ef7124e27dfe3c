package cli

import (
	"bytes"
	"regexp"
	"testing"
	"unicode/utf8"
)

func safe(chunks ...string) string {
	var out bytes.Buffer
	t := &termSafe{w: &out}
	for _, c := range chunks {
		_, _ = t.Write([]byte(c))
	}
	t.flush()
	return out.String()
}

func TestTermSafe(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"plain text\n", "plain text\n"},
		{"tabs\tand\r\nCRLF", "tabs\tand\r\nCRLF"},
		{"héllo wörld ✓ 日本\n", "héllo wörld ✓ 日本\n"},
		{"\x1b[1;31mred\x1b[0m\n", "\x1b[1;31mred\x1b[0m\n"},
		{"progress 50%\r\x1b[K\x1b[2Aup", "progress 50%\r\x1b[K\x1b[2Aup"},
		{"\x1b]0;pwned title\x07after", "␛]0;pwned title^Gafter"},
		{"\x1b]52;c;Y2xpcGJvYXJk\x07", "␛]52;c;Y2xpcGJvYXJk^G"},
		{"\x1b[?1049hALT", "␛[?1049hALT"},
		{"\x1b[?25l", "␛[?25l"},
		{"\x1b(0lqk", "␛(0lqk"},
		{"\x1b[2J\x1b[H", "␛[2J␛[H"},
		{"bell\x07 nul\x00 del\x7f", "bell^G nul^@ del^?"},
		{"bad \xff\xfe bytes \x9b31m", "bad \uFFFD\uFFFD bytes \uFFFD31m"},
		{"\u009b31m", "\uFFFD31m"},
		{"trailing \x1b[", "trailing ␛["},
		{"cut é" + string([]byte{0xc3}), "cut é\uFFFD"},
	} {
		if got := safe(tc.in); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
		// Split anywhere, the result is the same.
		for i := 1; i < len(tc.in); i++ {
			if got := safe(tc.in[:i], tc.in[i:]); got != tc.want {
				t.Errorf("%q split at %d: got %q, want %q", tc.in, i, got, tc.want)
			}
		}
	}
}

var allowedEscape = regexp.MustCompile(`^\x1b\[[0-9;]*[mKABCDEFG]`)

func FuzzTermSafe(f *testing.F) {
	f.Add([]byte("\x1b]0;x\x07\x1b[31mred\x1b[?1049h\xff"), 3)
	f.Fuzz(func(t *testing.T, in []byte, split int) {
		var out bytes.Buffer
		ts := &termSafe{w: &out}
		if split > 0 && split < len(in) {
			_, _ = ts.Write(in[:split])
			_, _ = ts.Write(in[split:])
		} else {
			_, _ = ts.Write(in)
		}
		ts.flush()
		got := out.Bytes()
		if !utf8.Valid(got) {
			t.Fatalf("output is not UTF-8: %q", got)
		}
		for i := range got {
			b := got[i]
			if b == 0x1b && !allowedEscape.Match(got[i:]) {
				t.Fatalf("a raw escape that is not a safe CSI at %d: %q", i, got)
			}
			if b < 0x20 && b != '\n' && b != '\t' && b != '\r' && b != '\b' && b != 0x1b {
				t.Fatalf("raw control byte %#x in %q", b, got)
			}
		}
	})
}
