package deps

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestParseRequirementsAccepts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"bare name", "numpy", []string{"numpy"}},
		{"single char name", "x", []string{"x"}},
		{"name normalized", "Foo_Bar.baz--Qux", []string{"foo-bar-baz-qux"}},
		{"pinned", "numpy==1.26.4", []string{"numpy==1.26.4"}},
		{"spaces around operator", "numpy >= 1.26 , < 2", []string{"numpy<2,>=1.26"}},
		{"all operators", "p ==1.0, !=1.1, <=3, >=0.5, <4, >0.1, ~=1.0", []string{"p!=1.1,<4,<=3,==1.0,>0.1,>=0.5,~=1.0"}},
		{"arbitrary equality", "p===Foo-Bar", []string{"p===Foo-Bar"}},
		{"wildcard", "p==1.*", []string{"p==1.*"}},
		{"local version", "torch==2.3.0+CPU", []string{"torch==2.3.0+cpu"}},
		{"pre post dev", "p>=1.0rc1, !=1.0.post2.dev3", []string{"p!=1.0.post2.dev3,>=1.0rc1"}},
		{"epoch and v", "p>=v1!2.0", []string{"p>=v1!2.0"}},
		{"parenthesized", "p (>=1.0, <2)", []string{"p<2,>=1.0"}},
		{"trailing comma", "p>=1.0,", []string{"p>=1.0"}},
		{"extras", "Requests[ Socks , security,SOCKS ]>=2", []string{"requests[security,socks]>=2"}},
		{"empty extras", "p[]", []string{"p"}},
		{"marker", `p; python_version<"3.10"`, []string{`p; python_version < "3.10"`}},
		{"marker quotes and spacing", `p>=1 ;  (os_name=='nt'or sys_platform in "linux")and extra!= 'x'`,
			[]string{`p>=1; (os_name == "nt" or sys_platform in "linux") and extra != "x"`}},
		{"marker keeps a double quote", `p; platform_version == 'a"b'`, []string{`p; platform_version == 'a"b'`}},
		{"marker not in", `p; "arm" not  in platform_machine`, []string{`p; "arm" not in platform_machine`}},
		{"comments and blanks", "# header\n\n  numpy # pinned later\n\t# indented\n", []string{"numpy"}},
		{"hash inside a word is not a comment", `p; os_name == "a#b"`, []string{`p; os_name == "a#b"`}},
		{"CRLF", "numpy\r\npandas>=2\r\n", []string{"numpy", "pandas>=2"}},
		{"BOM", "\ufeffnumpy\n", []string{"numpy"}},
		{"continuation", "numpy\\\n>=1.26\\\n,<2\n", []string{"numpy<2,>=1.26"}},
		{"continuation CRLF", "numpy\\\r\n==1.0\r\n", []string{"numpy==1.0"}},
		{"continuation ended by comment", "numpy\\\n# c\n", []string{"numpy"}},
		{"same package merged", "numpy>=1.26\nNumPy<2\nnumpy[x]\n", []string{"numpy[x]<2,>=1.26"}},
		{"different markers kept apart", "p>=1; os_name == \"nt\"\np<3\n", []string{"p<3", `p>=1; os_name == "nt"`}},
		{"duplicate kept once", "numpy==1.0\nnumpy == 1.0\n", []string{"numpy==1.0"}},
		{"only comments", "# nothing\n\n", []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := ParseRequirements("requirements.txt", []byte(tc.in))
			if err != nil {
				t.Fatalf("ParseRequirements(%q): %v", tc.in, err)
			}
			if got := s.Lines(); !slices.Equal(got, tc.want) {
				t.Errorf("ParseRequirements(%q).Lines() = %q, want %q", tc.in, got, tc.want)
			}
			if s.Empty() != (len(tc.want) == 0) {
				t.Errorf("Empty() = %v with lines %q", s.Empty(), tc.want)
			}
		})
	}
}

func TestParseRequirementsRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, line, want string
	}{
		{"index url", "-i https://pypi.example/simple", "worker setting (RGRID_PIP_INDEX_URL); remove this line"},
		{"index url glued", "-ihttps://pypi.example/simple", "RGRID_PIP_INDEX_URL"},
		{"long index url", "--index-url=https://pypi.example/simple", "RGRID_PIP_INDEX_URL"},
		{"extra index url", "--extra-index-url https://x/simple", "RGRID_PIP_INDEX_URL"},
		{"abbreviated option", "--extra-index https://x/simple", "RGRID_PIP_INDEX_URL"},
		{"no index", "--no-index", "RGRID_PIP_INDEX_URL"},
		{"find links short", "-f ./wheels", "RGRID_PIP_INDEX_URL"},
		{"find links", "--find-links https://x/wheels", "RGRID_PIP_INDEX_URL"},
		{"trusted host", "--trusted-host pypi.example", "trusted hosts are a worker setting"},
		{"editable", "-e ./pkg", `editable installs are not allowed; list the package by name, e.g. "pkg==1.2"`},
		{"editable long", "--editable git+https://x/y.git#egg=y", "editable installs are not allowed"},
		{"direct reference", "pkg @ https://example.com/pkg-1.0.whl", "URLs and direct references are not allowed"},
		{"direct reference without URL", "pkg@ foo", "URLs and direct references are not allowed"},
		{"bare URL", "https://example.com/pkg-1.0.tar.gz", "URLs and direct references"},
		{"vcs", "git+https://github.com/x/y.git", "URLs and direct references"},
		{"vcs ssh", "git+ssh://git@github.com/x/y.git", "URLs and direct references"},
		{"file URL", "file:///tmp/pkg", "URLs and direct references"},
		{"file URL relative", "file:pkg", "URLs and direct references"},
		{"relative path", "./pkg", "local paths and archive files are not allowed"},
		{"parent path", "../x", "local paths"},
		{"absolute path", "/abs/path", "local paths"},
		{"home path", "~/pkg", "local paths"},
		{"dot", ".", "local paths"},
		{"windows path", `C:\pkgs\p.whl`, "local paths"},
		{"wheel file", "pkg-1.0-py3-none-any.whl", "local paths"},
		{"sdist file", "pkg.tar.gz", "local paths"},
		{"zip file with marker", `pkg.zip; os_name == "nt"`, "local paths"},
		{"include", "-r other.txt", "including other requirement or constraint files is not allowed"},
		{"include long", "--requirement=other.txt", "including other requirement"},
		{"constraint", "-c constraints.txt", "including other requirement"},
		{"constraint long", "--constraint constraints.txt", "including other requirement"},
		{"env var", "numpy==${NUMPY_VERSION}", `environment variables ("${VAR}") are not expanded`},
		{"env var in marker", `p; os_name == "${X}"`, "environment variables"},
		{"pre", "--pre", "options are not allowed"},
		{"no binary", "--no-binary :all:", "options are not allowed"},
		{"ambiguous abbreviation", "--no", "options are not allowed"},
		{"require hashes", "--require-hashes", "options are not allowed"},
		{"hash after requirement", "numpy==1.26.4 --hash=sha256:abc", "options after a requirement"},
		{"empty arbitrary version", "numpy===", `not a valid requirement (PEP 508): expected a version after "==="`},
		{"two words", "foo bar", `not a valid requirement (PEP 508): unexpected "bar"`},
		{"double comma", "pkg>=1.0,,2", "not a valid requirement (PEP 508)"},
		{"extras only", "[extra]", "not a valid requirement (PEP 508)"},
		{"unclosed extras", "pkg[", "not a valid requirement (PEP 508)"},
		{"unclosed parenthesis", "pkg (>=1.0", "not a valid requirement (PEP 508)"},
		{"unopened parenthesis", "pkg >=1.0)", "not a valid requirement (PEP 508)"},
		{"empty parentheses", "pkg ()", "not a valid requirement (PEP 508)"},
		{"bad name end", "pkg-", "is not a valid package name"},
		{"bad version", "pkg==one", `"one" is not a valid version for ==`},
		{"wildcard with >=", "pkg>=1.*", "not a valid version"},
		{"compatible needs two numbers", "pkg~=1", "not a valid version for ~="},
		{"local version with >", "pkg>1.0+x", "not a valid version"},
		{"unknown operator", "pkg=1.0", "not a valid requirement (PEP 508)"},
		{"empty marker", "pkg;", "expected an environment marker"},
		{"unknown marker variable", `pkg; python == "3"`, `"python" is not an environment marker`},
		{"unclosed marker string", `pkg; os_name == "nt`, "is not closed"},
		{"marker without comparison", `pkg; os_name`, "expected a comparison"},
		{"marker unbalanced", `pkg; (os_name == "nt"`, `expected ")"`},
		{"marker dangling and", `pkg; os_name == "nt" and`, "the marker ends too early"},
		{"marker not without in", `pkg; "a" not platform_machine`, `expected "in" after "not"`},
		{"non-ASCII name", "numpý", "not a valid requirement (PEP 508)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// The refused line is third, after a comment and a valid line.
			in := "# deps\nrequests\n" + tc.line + "  # why\n"
			_, err := ParseRequirements("requirements.txt", []byte(in))
			var inv *InvalidError
			if !errors.As(err, &inv) {
				t.Fatalf("ParseRequirements(%q) error = %v, want *InvalidError", tc.line, err)
			}
			if len(inv.Problems) != 1 {
				t.Fatalf("got %d problems, want 1: %v", len(inv.Problems), err)
			}
			p := inv.Problems[0]
			if p.Source != "requirements.txt" || p.Line != 3 || p.Text != tc.line {
				t.Errorf("problem = %+v, want requirements.txt line 3 text %q", p, tc.line)
			}
			msg := err.Error()
			prefix := fmt.Sprintf("requirements.txt line 3: %q: ", tc.line)
			if !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, tc.want) {
				t.Errorf("error = %s\nwant prefix %s and %q", msg, prefix, tc.want)
			}
		})
	}
}

func TestParseRequirementsAllProblemsAtOnce(t *testing.T) {
	t.Parallel()
	in := "numpy\n-e ./pkg\n\\\n--index-url \\\n  https://x/simple\nfoo bar\n# done\n"
	_, err := ParseRequirements("reqs/dev.txt", []byte(in))
	var inv *InvalidError
	if !errors.As(err, &inv) {
		t.Fatalf("error = %v, want *InvalidError", err)
	}
	want := strings.Join([]string{
		`reqs/dev.txt line 2: "-e ./pkg": ` + msgEditable,
		`reqs/dev.txt line 3: "--index-url   https://x/simple": ` + msgIndex,
		`reqs/dev.txt line 6: "foo bar": not a valid requirement (PEP 508): unexpected "bar"; ` +
			`a valid one looks like "numpy>=1.26,<2" or "requests[socks]==2.32.3; python_version >= \"3.9\""`,
	}, "\n")
	if got := err.Error(); got != want {
		t.Errorf("error =\n%s\nwant\n%s", got, want)
	}
	if inv.Code() != CodeInvalidRequirements || inv.Hint() == "" {
		t.Errorf("Code() = %q, Hint() = %q", inv.Code(), inv.Hint())
	}
}

func TestLogicalLineNumbers(t *testing.T) {
	t.Parallel()
	in := "a\r\n\r\nb \\\r\n  >=1 \\\n  ,<2\n# x \\\nc\\\n"
	var got []string
	for _, l := range logicalLines(in) {
		got = append(got, fmt.Sprintf("%d:%s", l.number, l.text))
	}
	want := []string{"1:a", "3:b   >=1   ,<2", "7:c"}
	if !slices.Equal(got, want) {
		t.Errorf("logicalLines = %q, want %q", got, want)
	}
}
