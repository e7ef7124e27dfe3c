package workdir

import (
	"strings"
	"testing"
)

// Cases from git's t/t3070-wildmatch.sh (the "pathmatch" column, which is
// WM_PATHNAME as .gitignore uses it), plus a few of our own.
func TestWildmatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pattern, text string
		want          bool
	}{
		{"foo", "foo", true},
		{"foo", "bar", false},
		{"", "", true},
		{"???", "foo", true},
		{"??", "foo", false},
		{"*", "foo", true},
		{"f*", "foo", true},
		{"*f", "foo", false},
		{"*foo*", "foo", true},
		{"*ob*a*r*", "foobar", true},
		{"*ab", "aaaaaaabababab", true},
		{`foo\*`, "foo*", true},
		{`foo\*bar`, "foobar", false},
		{`f\\oo`, `f\oo`, true},
		{"*[al]?", "ball", true},
		{"[ten]", "ten", false},
		{"**[!te]", "ten", true},
		{"**[!ten]", "ten", false},
		{"t[a-g]n", "ten", true},
		{"t[!a-g]n", "ten", false},
		{"t[!a-g]n", "ton", true},
		{"t[^a-g]n", "ton", true},
		{"a[]]b", "a]b", true},
		{"a[]-]b", "a-b", true},
		{"a[]-]b", "a]b", true},
		{"a[]-]b", "aab", false},
		{"a[]a-]b", "aab", true},
		{"]", "]", true},
		{"foo*bar", "foo/baz/bar", false},
		{"foo**bar", "foo/baz/bar", false},
		{"foo**bar", "foobazbar", true},
		{"foo/**/bar", "foo/baz/bar", true},
		{"foo/**/**/bar", "foo/baz/bar", true},
		{"foo/**/bar", "foo/b/a/z/bar", true},
		{"foo/**/bar", "foo/bar", true},
		{"foo/**/**/bar", "foo/bar", true},
		{"foo?bar", "foo/bar", false},
		{"foo[/]bar", "foo/bar", false},
		{"foo[^a-z]bar", "foo/bar", false},
		{"f[^eiu][^eiu][^eiu][^eiu][^eiu]r", "foo/bar", false},
		{"f[^eiu][^eiu][^eiu][^eiu][^eiu]r", "foo-bar", true},
		{"**/foo", "foo", true},
		{"**/foo", "XXX/foo", true},
		{"**/foo", "bar/baz/foo", true},
		{"*/foo", "bar/baz/foo", false},
		{"**/bar*", "foo/bar/baz", false},
		{"**/bar/*", "deep/foo/bar/baz", true},
		{"**/bar/*", "deep/foo/bar/baz/", false},
		{"**/bar/**", "deep/foo/bar/baz/", true},
		{"**/bar/*", "deep/foo/bar", false},
		{"**/bar/**", "deep/foo/bar/", true},
		{"**/bar**", "foo/bar/baz", false},
		{"*/bar/**", "foo/bar/baz/x", true},
		{"*/bar/**", "deep/foo/bar/baz/x", false},
		{"**/bar/*/*", "deep/foo/bar/baz/x", true},
		{"a[c-c]st", "acrt", false},
		{"a[c-c]rt", "acrt", true},
		{"[!]-]", "]", false},
		{"[!]-]", "a", true},
		{`\`, "", false},
		{`\`, `\`, false},
		{`*/\`, `XXX/\`, false},
		{`*/\\`, `XXX/\`, true},
		{"foo", "foo", true},
		{"@foo", "@foo", true},
		{"@foo", "foo", false},
		{`\[ab]`, "[ab]", true},
		{"[[]ab]", "[ab]", true},
		{"[[:]ab]", "[ab]", true},
		{"[[::]ab]", "[ab]", false},
		{"[[:digit]ab]", "[ab]", true},
		{`[\[:]ab]`, "[ab]", true},
		{`\??\?b`, "?a?b", true},
		{`\a\b\c`, "abc", true},
		{"", "foo", false},
		{"**/t[o]", "foo/bar/baz/to", true},
		{"[[:alpha:]][[:digit:]][[:upper:]]", "a1B", true},
		{"[[:digit:][:upper:][:space:]]", "a", false},
		{"[[:digit:][:upper:][:space:]]", "A", true},
		{"[[:digit:][:upper:][:space:]]", "1", true},
		{"[[:digit:][:upper:][:spaci:]]", "1", false},
		{"[[:space:]]", " ", true},
		{"[[:xdigit:]]", "5", true},
		{"[[:xdigit:]]", "f", true},
		{"[[:xdigit:]]", "D", true},
		{"[[:alnum:][:alpha:][:blank:][:cntrl:][:digit:][:graph:][:lower:][:print:][:punct:][:space:][:upper:][:xdigit:]]", "_", true},
		{"[^[:alnum:][:alpha:][:blank:][:cntrl:][:digit:][:lower:][:space:][:upper:][:xdigit:]]", ".", true},
		{"[a-c[:digit:]x-z]", "5", true},
		{"[a-c[:digit:]x-z]", "b", true},
		{"[a-c[:digit:]x-z]", "y", true},
		{"[a-c[:digit:]x-z]", "q", false},
		{`[\\-^]`, "]", true},
		{`[\\-^]`, "[", false},
		{`[\-_]`, "-", true},
		{`[\]]`, "]", true},
		{`[\]]`, `\]`, false},
		{`[\]]`, `\`, false},
		{"a[]b", "ab", false},
		{"a[]b", "a[]b", false},
		{"ab[", "ab[", false},
		{"[!", "ab", false},
		{"[-", "ab", false},
		{"[-]", "-", true},
		{"[a-", "-", false},
		{"[!a-", "-", false},
		{"[--A]", "-", true},
		{"[--A]", "5", true},
		{"[ --]", " ", true},
		{"[ --]", "$", true},
		{"[ --]", "-", true},
		{"[ --]", "0", false},
		{"[---]", "-", true},
		{"[------]", "-", true},
		{"[a-e-n]", "j", false},
		{"[a-e-n]", "-", true},
		{"[!------]", "a", true},
		{"[]-a]", "[", false},
		{"[]-a]", "^", true},
		{"[!]-a]", "^", false},
		{"[!]-a]", "[", true},
		{"[a^bc]", "^", true},
		{"[a-]b]", "-b]", true},
		{`[\]`, `\`, false},
		{`[\\]`, `\`, true},
		{`[!\\]`, `\`, false},
		{`[A-\\]`, "G", true},
		{"b*a", "aaabbb", false},
		{"*ba*", "aabcaa", false},
		{"[,]", ",", true},
		{`[\\,]`, ",", true},
		{`[\\,]`, `\`, true},
		{"[,-.]", "-", true},
		{"[,-.]", "+", false},
		{"[,-.]", "-.]", false},
		{`[\1-\3]`, "2", true},
		{`[\1-\3]`, "3", true},
		{`[\1-\3]`, "4", false},
		{`[[-\]]`, `\`, true},
		{`[[-\]]`, "[", true},
		{`[[-\]]`, "]", true},
		{`[[-\]]`, "-", false},
		{"-*-*-*-*-*-*-12-*-*-*-m-*-*-*", "-adobe-courier-bold-o-normal--12-120-75-75-m-70-iso8859-1", true},
		{"-*-*-*-*-*-*-12-*-*-*-m-*-*-*", "-adobe-courier-bold-o-normal--12-120-75-75-X-70-iso8859-1", false},
		{"-*-*-*-*-*-*-12-*-*-*-m-*-*-*", "-adobe-courier-bold-o-normal--12-120-75-75-/-70-iso8859-1", false},
		{"XXX/*/*/*/*/*/*/12/*/*/*/m/*/*/*", "XXX/adobe/courier/bold/o/normal//12/120/75/75/m/70/iso8859/1", true},
		{"XXX/*/*/*/*/*/*/12/*/*/*/m/*/*/*", "XXX/adobe/courier/bold/o/normal//12/120/75/75/X/70/iso8859/1", false},
		{"**/*a*b*g*n*t", "abcd/abcdefg/abcdefghijk/abcdefghijklmnop.txt", true},
		{"**/*a*b*g*n*t", "abcd/abcdefg/abcdefghijk/abcdefghijklmnop.txtz", false},
		{"*/*/*", "foo", false},
		{"*/*/*", "foo/bar", false},
		{"*/*/*", "foo/bba/arr", true},
		{"*/*/*", "foo/bb/aa/rr", false},
		{"**/**/**", "foo/bb/aa/rr", true},
		{"*X*i", "abcXdefXghi", true},
		{"*X*i", "ab/cXd/efXg/hi", false},
		{"*/*X*/*/*i", "ab/cXd/efXg/hi", true},
		{"**/*X*/**/*i", "ab/cXd/efXg/hi", true},
	} {
		if got := wildmatch(tc.pattern, tc.text); got != tc.want {
			t.Errorf("wildmatch(%q, %q) = %v, want %v", tc.pattern, tc.text, got, tc.want)
		}
	}
}

func TestParseIgnore(t *testing.T) {
	t.Parallel()
	rules := parseIgnore(".gitignore", "", []byte("\xef\xbb\xbf# comment\n\n*.csv\n!keep.csv\nbuild/\n/top\na/b\ntrail   \nesc\\ \n\\#hash\n\\!bang\ncrlf\r\n/\n!\n"))
	type got struct {
		pattern                   string
		negate, dirOnly, basename bool
		reason                    string
	}
	var have []got
	for _, r := range rules {
		have = append(have, got{r.pattern, r.negate, r.dirOnly, r.basename, r.reason})
	}
	want := []got{
		{"*.csv", false, false, true, ".gitignore line 3: `*.csv`"},
		{"keep.csv", true, false, true, ".gitignore line 4: `!keep.csv`"},
		{"build", false, true, true, ".gitignore line 5: `build/`"},
		{"top", false, false, false, ".gitignore line 6: `/top`"},
		{"a/b", false, false, false, ".gitignore line 7: `a/b`"},
		{"trail", false, false, true, ".gitignore line 8: `trail`"},
		{`esc\ `, false, false, true, ".gitignore line 9: `esc\\ `"},
		{`\#hash`, false, false, true, ".gitignore line 10: `\\#hash`"},
		{`\!bang`, false, false, true, ".gitignore line 11: `\\!bang`"},
		{"crlf", false, false, true, ".gitignore line 12: `crlf`"},
	}
	if len(have) != len(want) {
		t.Fatalf("got %d rules, want %d:\n%+v", len(have), len(want), have)
	}
	for i := range want {
		if have[i] != want[i] {
			t.Errorf("rule %d = %+v, want %+v", i, have[i], want[i])
		}
	}
}

// FuzzParseIgnore checks that no ignore file makes the parser or the
// matcher panic or loop, and that what parsing keeps has the shape the
// matcher relies on.
func FuzzParseIgnore(f *testing.F) {
	for _, s := range []string{"*.csv\n!a\n", "a/**/b\n", "[!a-z]/x/\n", "\\", "[[:alpha:]", "***/**", "a\\ \\ \n", "/\n!\n#\n"} {
		f.Add(s, "a/b/c.csv")
	}
	f.Fuzz(func(t *testing.T, data, p string) {
		if len(data) > 1<<12 || len(p) > 256 {
			return
		}
		for _, r := range parseIgnore(".gitignore", "", []byte(data)) {
			if r.pattern == "" {
				t.Fatalf("rule %+v: an empty pattern kept", r)
			}
			if r.basename && strings.Contains(r.pattern, "/") {
				t.Fatalf("rule %+v: a basename rule with a slash", r)
			}
			r.match(p, true)
			r.match(p, false)
		}
	})
}
