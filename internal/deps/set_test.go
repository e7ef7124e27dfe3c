package deps

import (
	"slices"
	"testing"
)

func mustParse(t *testing.T, in string) Set {
	t.Helper()
	s, err := ParseRequirements("requirements.txt", []byte(in))
	if err != nil {
		t.Fatalf("ParseRequirements(%q): %v", in, err)
	}
	return s
}

func TestKeyEqualForEqualSets(t *testing.T) {
	t.Parallel()
	const image = "python:3.11-slim"
	for _, tc := range []struct{ name, a, b string }{
		{"case and separators", "Foo_Bar==1.0\n", "foo.bar==1.0\n"},
		{"whitespace", "numpy>=1.26,<2\n", "  numpy >= 1.26 , < 2  \n"},
		{"order", "a\nb\nc\n", "c\na\nb\n"},
		{"comments and blanks", "a\nb\n", "# x\n\na  # y\n\n\nb\n"},
		{"CRLF and continuation", "a==1\nb\n", "a\\\r\n==1\r\nb\r\n"},
		{"specifier order", "p>=1,<2", "p<2 , >=1"},
		{"one line or two", "p>=1,<2", "p>=1\np<2"},
		{"parentheses", "p (>=1)", "p>=1"},
		{"extras", "p[B_x,a]", "p[a]\np[b-x]"},
		{"duplicates", "a\na\n", "a\n"},
		{"version case", "p==1.0RC1", "p==1.0rc1"},
		{"marker spacing and quotes", `p;python_version<'3.10'`, `p ; python_version < "3.10"`},
	} {
		a, b := mustParse(t, tc.a), mustParse(t, tc.b)
		if a.Key(image) != b.Key(image) {
			t.Errorf("%s: keys differ for %q (%q) and %q (%q)", tc.name, tc.a, a.Lines(), tc.b, b.Lines())
		}
	}
}

func TestKeyDiffers(t *testing.T) {
	t.Parallel()
	const image = "python:3.11-slim"
	for _, tc := range []struct{ name, a, b string }{
		{"version", "p==1.0", "p==1.1"},
		{"extra", "p", "p[x]"},
		{"marker", `p; os_name == "nt"`, "p"},
		{"marker value case", `p; os_name == "NT"`, `p; os_name == "nt"`},
		{"arbitrary equality keeps case", "p===A", "p===a"},
		{"more packages", "a", "a\nb"},
		{"and/or structure", `p; (os_name == "a" or os_name == "b") and extra == "c"`, `p; os_name == "a" or os_name == "b" and extra == "c"`},
	} {
		a, b := mustParse(t, tc.a), mustParse(t, tc.b)
		if a.Key(image) == b.Key(image) {
			t.Errorf("%s: same key for %q and %q (%q)", tc.name, tc.a, tc.b, a.Lines())
		}
	}
	s := mustParse(t, "numpy")
	if s.Key("python:3.11-slim") == s.Key("python:3.12-slim") {
		t.Error("same key on two images")
	}
	if (Set{}).Key(image) == s.Key(image) {
		t.Error("empty set has the key of a non-empty one")
	}
}

func TestMerge(t *testing.T) {
	t.Parallel()
	file := mustParse(t, "numpy>=1.26\nrequests\n")
	inline, _, _, err := ParseInlineMetadata("train.py", []byte("# /// script\n# dependencies = ['NumPy<2', 'rich']\n# ///\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := Merge(file, inline)
	want := []string{"numpy<2,>=1.26", "requests", "rich"}
	if !slices.Equal(got.Lines(), want) {
		t.Errorf("Merge = %q, want %q", got.Lines(), want)
	}
	if !slices.Equal(Merge(inline, file).Lines(), want) {
		t.Error("Merge depends on the order of its arguments")
	}
	if !Merge().Empty() || !Merge(Set{}, Set{}).Empty() || (Set{}).Lines() == nil {
		t.Error("merging nothing is not an empty set with no lines")
	}
}
