package deps

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseInlineMetadata(t *testing.T) {
	t.Parallel()
	script := strings.Join([]string{
		`#!/usr/bin/env python3`,
		`# /// script`,
		`# requires-python = ">= 3.11"`,
		`# dependencies = [`,
		`#   "Requests<3",  # comment inside`,
		`#`,
		`#   'rich[Jupyter]',`,
		`#   "numpy >= 1.26; python_version >= \"3.11\"",`,
		`# ]`,
		`#`,
		`# [tool.uv]`,
		`# exclude-newer = 2024-01-01T00:00:00Z`,
		`# index-url = "https://example.com/simple"`,
		`# dependencies = [1, {a = "]"}, """`,
		`# [not a header]`,
		`# """]`,
		`# [[tool.other.list]]`,
		`# x = { y = [1, 2], "z" = 'w' }`,
		`# ///`,
		`import requests`,
	}, "\r\n")
	deps, py, found, err := ParseInlineMetadata("train.py", []byte(script))
	if err != nil || !found {
		t.Fatalf("ParseInlineMetadata: found=%v err=%v", found, err)
	}
	want := []string{`numpy>=1.26; python_version >= "3.11"`, "requests<3", "rich[jupyter]"}
	if got := deps.Lines(); !slices.Equal(got, want) {
		t.Errorf("Lines() = %q, want %q", got, want)
	}
	if py != ">=3.11" {
		t.Errorf("requires-python = %q, want >=3.11", py)
	}
}

func TestParseInlineMetadataNoBlock(t *testing.T) {
	t.Parallel()
	for _, script := range []string{
		"",
		"print('hi')\n",
		"# /// other\n# x = 1\n# ///\n",
		"#/// script\n# dependencies = []\n# ///\n",    // no space after #
		"# /// script \n# dependencies = []\n# ///\n",  // trailing space after the type
		"  # /// script\n# dependencies = []\n# ///\n", // indented
	} {
		deps, py, found, err := ParseInlineMetadata("train.py", []byte(script))
		if found || err != nil || !deps.Empty() || py != "" {
			t.Errorf("ParseInlineMetadata(%q) = %v, %q, %v, %v; want nothing found", script, deps.Lines(), py, found, err)
		}
	}
}

func TestParseInlineMetadataEmptyBlock(t *testing.T) {
	t.Parallel()
	deps, py, found, err := ParseInlineMetadata("train.py", []byte("# /// script\n#\n# ///"))
	if err != nil || !found || !deps.Empty() || py != "" {
		t.Errorf("got %v, %q, %v, %v; want found and empty", deps.Lines(), py, found, err)
	}
}

// The PEP's expression ends a block at the last "# ///" of a run of
// comment lines, and does not care about docstrings.
func TestParseInlineMetadataFollowsTheRegex(t *testing.T) {
	t.Parallel()
	inDocstring := "'''\n# /// script\n# dependencies = ['a']\n# ///\n'''\n# /// other\n# ///\n"
	deps, _, found, err := ParseInlineMetadata("train.py", []byte(inDocstring))
	if err != nil || !found || !slices.Equal(deps.Lines(), []string{"a"}) {
		t.Errorf("block in a docstring: got %q, %v, %v; want [a]", deps.Lines(), found, err)
	}

	script := "'''\n# /// script\n# dependencies = ['a']\n# ///\n# dependencies = ['b']\n# ///\n'''\n"
	deps, _, found, err = ParseInlineMetadata("train.py", []byte(script))
	// Line 4 is then TOML content, and not valid TOML.
	if err == nil || !found {
		t.Fatalf("want a TOML error on line 4, got found=%v err=%v (%q)", found, err, deps.Lines())
	}
	if !strings.Contains(err.Error(), `train.py line 4: "# ///"`) || !strings.Contains(err.Error(), "the script metadata is not valid") {
		t.Errorf("error = %v", err)
	}
}

func TestParseInlineMetadataRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		script   string
		wantLine int
		wantText string
		want     string
	}{
		{"two blocks", "# /// script\n# dependencies = []\n# ///\nx = 1\n# /// script\n# dependencies = []\n# ///\n",
			5, "# /// script", "a second script metadata block (the first is on line 1)"},
		{"unclosed block", "# /// script\n# dependencies = []\n", 1, "# /// script", "opens no metadata block"},
		{"content line without a space", "# /// script\n#dependencies = []\n# ///\n", 1, "# /// script", "opens no metadata block"},
		{"no closing line", "# /// script\n# dependencies = []\n# ///x\n", 1, "# /// script", "opens no metadata block"},
		{"block broken by code", "# /// script\nimport x\n# ///\n", 1, "# /// script", "opens no metadata block"},
		{"bad requirement", "x = 1\n# /// script\n# dependencies = [\n#   'numpy',\n#   '-e ./pkg',\n# ]\n# ///\n",
			5, "-e ./pkg", msgEditable},
		{"URL requirement", "# /// script\n# dependencies = ['pkg @ https://x/pkg.whl']\n# ///\n",
			2, "pkg @ https://x/pkg.whl", "URLs and direct references"},
		{"comment inside a string", "# /// script\n# dependencies = ['numpy # pinned']\n# ///\n",
			2, "numpy # pinned", "not a valid requirement"},
		{"non-string dependency", "# /// script\n# dependencies = [\n#  1,\n# ]\n# ///\n",
			2, "# dependencies = [", "every dependency must be a string"},
		{"dependencies not an array", "# /// script\n# dependencies = 'numpy'\n# ///\n",
			2, "# dependencies = 'numpy'", "must be an array of strings"},
		{"requires-python not a string", "# /// script\n# requires-python = 3.11\n# ///\n",
			2, "# requires-python = 3.11", "must be a string"},
		{"requires-python invalid", "# /// script\n# requires-python = '3.11'\n# ///\n",
			2, "3.11", "requires-python is not a version specifier"},
		{"unknown field", "# /// script\n# dependancies = []\n# ///\n", 2, "# dependancies = []", `unknown field "dependancies"`},
		{"other table", "# /// script\n# [project]\n# ///\n", 2, "# [project]", "only [tool] tables"},
		{"unclosed array", "# /// script\n# dependencies = [\n#  'a',\n# ///\n", 3, "#  'a',", "unexpected EOF"},
		{"missing comma", "# /// script\n# dependencies = [\n#  'a'\n#  'b'\n# ]\n# ///\n", 4, "#  'b'", "expected a comma"},
		{"unclosed string", "# /// script\n# dependencies = ['a]\n# ///\n", 2, "# dependencies = ['a]", "strings cannot contain newlines"},
		{"bad escape", "# /// script\n# dependencies = [\"a\\q\"]\n# ///\n", 2, `# dependencies = ["a\q"]`, `invalid escape in string '\q'`},
		{"bare word value", "# /// script\n# [tool.x]\n# y = numpy\n# ///\n", 3, "# y = numpy", `expected value but found "numpy"`},
		{"missing equals", "# /// script\n# dependencies ['a']\n# ///\n", 2, "# dependencies ['a']", "expected '.' or '='"},
		{"junk after value", "# /// script\n# requires-python = '>=3' x\n# ///\n", 2, "# requires-python = '>=3' x", "but got 'x' instead"},
		{"dotted unknown table", "# /// script\n# dependencies = []\n# project.name = 'x'\n# ///\n", 3, "# project.name = 'x'", "[project] is not a script metadata table"},
		{"sub-table of an unknown table", "# /// script\n#\n# [project.urls]\n# x = 'y'\n# ///\n", 3, "# [project.urls]", "[project] is not a script metadata table"},
		{"dependencies set twice", "# /// script\n# dependencies = []\n# dependencies = []\n# ///\n", 3, "# dependencies = []", "already been defined"},
		{"not UTF-8", "# /// script\n# dependencies = ['\xff']\n# ///\n", 2, "# dependencies = ['\xff']", "invalid UTF-8"},
		{"escaped requirement on its key's line", "# /// script\n# dependencies = [\n#   \"\\u002De ./pkg\",\n# ]\n# ///\n", 2, "-e ./pkg", msgEditable},
		{"unclosed header", "# /// script\n# [tool\n# ///\n", 2, "# [tool", "to end table name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, _, found, err := ParseInlineMetadata("train.py", []byte(tc.script))
			var inv *InvalidError
			if !errors.As(err, &inv) || !found {
				t.Fatalf("found=%v error=%v, want *InvalidError", found, err)
			}
			p := inv.Problems[0]
			if p.Source != "inline metadata in train.py" || p.Line != tc.wantLine || p.Text != tc.wantText || !strings.Contains(p.Message, tc.want) {
				t.Errorf("problem = %+v\nwant line %d, text %q, message with %q", p, tc.wantLine, tc.wantText, tc.want)
			}
		})
	}
}

// Every wrong field is reported, in the order of the script's lines.
func TestParseInlineMetadataReportsEveryField(t *testing.T) {
	t.Parallel()
	script := "print(1)\n# /// script\n# requires-python = 3\n# dependencies = 'numpy'\n# name = 'x'\n# [tool.uv]\n# x = 1\n# ///\n"
	_, _, _, err := ParseInlineMetadata("train.py", []byte(script))
	var inv *InvalidError
	if !errors.As(err, &inv) {
		t.Fatalf("error %v, want *InvalidError", err)
	}
	var got []int
	for _, p := range inv.Problems {
		got = append(got, p.Line)
	}
	if want := []int{3, 4, 5}; !slices.Equal(got, want) {
		t.Errorf("problems on lines %v, want %v: %v", got, want, err)
	}
}
