package deps

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

var fuzzSeeds = []string{
	"numpy==1.26.4\n",
	"Requests[Socks , security] >= 2.0, <3 ; python_version >= '3.8' and (os_name == \"nt\" or sys_platform in 'linux')\n",
	"# c\n\na \\\n  >=1 \\\r\n ,<2  # tail\r\n",
	"p (>=1.0,)\np===Foo\np~=1.4.5rc1.post2.dev3\np==1.*\np!=2.0+local.1\n",
	"-e ./pkg\n--index-url https://x\n-r other.txt\npkg @ https://x/y.whl\n./x\n${X}\nfoo bar\nnumpy===\n",
	"p; \"a #b\" in platform_version\n",
	"\ufeffp; extra == 'x\"y'\n",
}

func FuzzParseRequirements(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseRequirements("requirements.txt", data)
		if err != nil {
			checkInvalid(t, err)
			return
		}
		checkRoundTrip(t, s)
	})
}

func FuzzParseInlineMetadata(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(inlineBlock(strings.Split(strings.TrimSpace(s), "\n"), `'>=3.8'`)))
	}
	f.Add([]byte("# /// script\n# dependencies = [\n#  \"a\", # c\n#  '''b''',\n# ]\n# [tool.x]\n# y = { z = [1, \"\"\"\n# ]\"\"\"] }\n# ///\n"))
	f.Add([]byte("# /// script\n# ///\n# /// script\n#\n# ///\r\n"))
	f.Fuzz(func(t *testing.T, script []byte) {
		s, py, found, err := ParseInlineMetadata("train.py", script)
		if err != nil {
			checkInvalid(t, err)
			return
		}
		if !found && (!s.Empty() || py != "") {
			t.Fatalf("nothing found, yet %q and %q", s.Lines(), py)
		}
		checkRoundTrip(t, s)
		if again, err := parseSpecifierSet(py); err != nil || again != py {
			t.Fatalf("requires-python %q parses back to %q, %v", py, again, err)
		}
		// The lines written back as inline metadata give the same set.
		block := inlineBlock(s.Lines(), tomlQuote(py))
		again, againPy, found, err := ParseInlineMetadata("again.py", []byte(block))
		if err != nil || !found || againPy != py || !slices.Equal(again.Lines(), s.Lines()) {
			t.Fatalf("%q as inline metadata parses to %q, %q, %v, %v", s.Lines(), again.Lines(), againPy, found, err)
		}
	})
}

func checkInvalid(t *testing.T, err error) {
	t.Helper()
	var inv *InvalidError
	if !errors.As(err, &inv) || len(inv.Problems) == 0 {
		t.Fatalf("error %v is not an *InvalidError with problems", err)
	}
	for _, p := range inv.Problems {
		if p.Line < 1 || p.Message == "" || p.Source == "" {
			t.Fatalf("incomplete problem %+v", p)
		}
	}
}

// checkRoundTrip parses the set's lines again, together and one by one.
func checkRoundTrip(t *testing.T, s Set) {
	t.Helper()
	lines := s.Lines()
	again, err := ParseRequirements("lines", []byte(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatalf("Lines() %q do not parse back: %v", lines, err)
	}
	if !slices.Equal(again.Lines(), lines) {
		t.Fatalf("Lines() %q parse back to %q", lines, again.Lines())
	}
	for _, l := range lines {
		one, err := ParseRequirements("line", []byte(l))
		if err != nil || !slices.Equal(one.Lines(), []string{l}) {
			t.Fatalf("line %q parses back to %q, %v", l, one.Lines(), err)
		}
	}
}

func inlineBlock(deps []string, requiresPython string) string {
	var b strings.Builder
	b.WriteString("# /// script\n# requires-python = " + requiresPython + "\n# dependencies = [\n")
	for _, d := range deps {
		b.WriteString("#   " + tomlQuote(d) + ",\n")
	}
	b.WriteString("# ]\n# ///\n")
	return b.String()
}

// tomlQuote writes s as a TOML basic string.
func tomlQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteString(`\` + string(r))
		case r < ' ' || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
