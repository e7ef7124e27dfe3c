package workdir

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// These tests hold the ignore rules to git itself: each builds a tree,
// asks `git check-ignore` what git ignores in it, and compares with what
// Scan sends and the reasons it gives.

// requireGit skips without git, except under CI, where git must be there.
func requireGit(t *testing.T) string {
	t.Helper()
	git, err := exec.LookPath("git")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("git is needed to check the ignore rules against it: %v", err)
		}
		t.Skip("git not installed")
	}
	return git
}

type gitVerdict struct {
	ignored bool
	rule    string // "a/.gitignore line 3", when a pattern decided
}

// gitCheck runs git check-ignore in repo on the given paths (relative to
// repo), with no global or system configuration, so that only the tree's
// .gitignore files count.
func gitCheck(t *testing.T, git, repo string, ps []string) map[string]gitVerdict {
	t.Helper()
	cmd := exec.Command(git, "check-ignore", "--no-index", "-v", "-n", "-z", "--stdin")
	cmd.Dir = repo
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
	cmd.Stdin = strings.NewReader(strings.Join(ps, "\x00") + "\x00")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Fatalf("git check-ignore: %v: %s", err, errb.String())
		}
	}
	fields := strings.Split(strings.TrimSuffix(out.String(), "\x00"), "\x00")
	if len(fields)%4 != 0 {
		t.Fatalf("git check-ignore -z printed %d fields", len(fields))
	}
	got := map[string]gitVerdict{}
	for i := 0; i < len(fields); i += 4 {
		src, line, pat, p := fields[i], fields[i+1], fields[i+2], fields[i+3]
		v := gitVerdict{}
		if src != "" {
			v.rule = src + " line " + line
			v.ignored = !strings.HasPrefix(pat, "!")
		}
		got[p] = v
	}
	return got
}

func gitInit(t *testing.T, git, dir string) {
	t.Helper()
	if out, err := exec.Command(git, "init", "-q", dir).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v: %s", err, out)
	}
}

// compareWithGit scans root (inside repo) and checks every regular file of
// the tree: sent exactly when git does not ignore it, and every path Scan
// leaves out by a .gitignore line left out by git by the same line.
func compareWithGit(t *testing.T, git, repo, root string) (sent, ignored int) {
	t.Helper()
	prefix, err := filepath.Rel(repo, root)
	if err != nil {
		t.Fatal(err)
	}
	prefix = filepath.ToSlash(prefix)
	join := func(p string) string {
		if prefix == "." {
			return p
		}
		return prefix + "/" + p
	}
	var files, asked []string
	err = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Name() == ".git" {
			return filepath.SkipDir
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		asked = append(asked, join(rel))
		if d.Type().IsRegular() {
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	verdicts := gitCheck(t, git, repo, asked)
	plan, err := Scan(t.Context(), root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		_, isSent := plan.Manifest.Lookup(f)
		v := verdicts[join(f)]
		if isSent == v.ignored {
			t.Errorf("%s: sent=%v, but git ignored=%v (%s)", f, isSent, v.ignored, v.rule)
		}
		if isSent {
			sent++
		} else {
			ignored++
		}
	}
	for _, x := range plan.Excluded {
		if !strings.Contains(x.Reason, ".gitignore line") {
			continue
		}
		v := verdicts[join(x.Path)]
		ours := x.Reason[:strings.Index(x.Reason, ":")]
		ours = strings.TrimPrefix(filepath.ToSlash(filepath.Clean(filepath.Join(prefix, ours))), "./")
		if !v.ignored || v.rule != ours {
			t.Errorf("%s: we leave it out by %q, git says ignored=%v by %q", x.Path, ours, v.ignored, v.rule)
		}
	}
	return sent, ignored
}

func TestIgnoreMatchesGit(t *testing.T) {
	t.Parallel()
	git := requireGit(t)
	for name, spec := range map[string]map[string]string{
		"patterns": {
			".gitignore": "#comment\n*.csv\n!keep.csv\nbuild/\n/top.txt\ndocs/*.md\n**/deep\nlogs/**\n\\#hash\nsp\\ \ntrail   \n\\!bang\n",
			"a.csv":      "", "keep.csv": "", "sub/b.csv": "", "sub/keep.csv": "",
			"build/x": "", "sub/build/y": "", "other/build": "",
			"top.txt": "", "sub/top.txt": "", "docs/a.md": "", "docs/sub/b.md": "", "docs/c.txt": "",
			"x/y/deep/z": "", "deep": "", "logs/a/b": "", "logs/c": "", "nologs/c": "",
			"#hash": "", "sp ": "", "sp": "", "trail": "", "trail  ": "", "!bang": "", "bang": "",
		},
		"nested files": {
			".gitignore":            "*.log\n!important.log\n",
			"sub/.gitignore":        "!*.log\nsecret.txt\n/anchored\n",
			"sub/deeper/.gitignore": "*.txt\n!keep/\n",
			"a.log":                 "", "important.log": "", "sub/a.log": "", "sub/secret.txt": "",
			"sub/x/secret.txt": "", "sub/anchored": "", "sub/x/anchored": "", "anchored": "",
			"sub/deeper/a.txt": "", "sub/deeper/n.md": "", "sub/deeper/keep/k.txt": "",
		},
		"excluded parents": {
			".gitignore": "dir/\n!dir/keep\nd2/*\n!d2/keep\n!d2/sub/\nd3/**\n!d3/**/\n!d3/**/*.py\n",
			"dir/keep":   "", "dir/other": "", "d2/keep": "", "d2/other": "", "d2/sub/x": "",
			"d3/a.py": "", "d3/a.txt": "", "d3/s/b.py": "", "d3/s/b.txt": "",
		},
		"brackets and escapes": {
			".gitignore": "[abc].txt\n[!x]y.dat\n[^q]z.dat\n\\*star\nq?\n*.[oa]\n[[:digit:]]*.bin\n\\\\back\nodd[\n",
			"a.txt":      "", "d.txt": "", "ay.dat": "", "xy.dat": "", "az.dat": "", "qz.dat": "", "*star": "", "xstar": "",
			"q1": "", "q12": "", "lib.o": "", "lib.a": "", "lib.c": "", "1.bin": "", "a1.bin": "",
			"odd[": "", "odd": "",
		},
		"crlf and bom": {
			".gitignore": "\xef\xbb\xbf*.bak\r\nfoo\r\n  lead\n",
			"x.bak":      "", "foo": "", "bar": "", "  lead": "", "lead": "",
		},
		"double stars": {
			".gitignore": "a/**/b\n**/c/d\ne/**\n**\n!*/\n!*.keep\n",
			"a/b":        "", "a/x/b": "", "a/x/y/b": "", "z/c/d": "", "c/d": "", "e/f": "", "f.keep": "", "g/h.keep": "", "g/h": "",
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			gitInit(t, git, dir)
			writeTree(t, dir, spec)
			sent, ignored := compareWithGit(t, git, dir, dir)
			if sent == 0 || ignored == 0 {
				t.Errorf("scenario sends %d and ignores %d files: it tests nothing", sent, ignored)
			}
		})
	}
}

// TestIgnoreParentsMatchGit scans a folder inside a work tree: the
// .gitignore files above it apply as git applies them.
func TestIgnoreParentsMatchGit(t *testing.T) {
	t.Parallel()
	git := requireGit(t)
	repo := t.TempDir()
	gitInit(t, git, repo)
	writeTree(t, repo, map[string]string{
		".gitignore":     "*.ckpt\nexp/local/\n/exp/rootonly.txt\n/top.txt\n",
		"exp/.gitignore": "!keep.ckpt\n",
		"exp/a.ckpt":     "", "exp/keep.ckpt": "", "exp/local/x": "", "exp/rootonly.txt": "",
		"exp/sub/rootonly.txt": "", "exp/top.txt": "", "exp/run.py": "",
	})
	root := filepath.Join(repo, "exp")
	sent, ignored := compareWithGit(t, git, repo, root)
	if sent < 3 || ignored < 3 {
		t.Errorf("sent %d, ignored %d: the parent's rules did not apply", sent, ignored)
	}
	plan, err := Scan(t.Context(), root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := excludedReasons(plan)["a.ckpt"]; got != "../.gitignore line 1: `*.ckpt`" {
		t.Errorf("reason for a.ckpt = %q", got)
	}
}

// TestIgnoreRandomMatchesGit compares random patterns with git, on a
// fixed tree: a differential test over what the table does not think of.
func TestIgnoreRandomMatchesGit(t *testing.T) {
	t.Parallel()
	git := requireGit(t)
	dir := t.TempDir()
	gitInit(t, git, dir)
	spec := map[string]string{}
	for _, d := range []string{"", "a/", "b/", "a/b/", "a/b/c/", "c/", "ab/"} {
		for _, f := range []string{"x", "ax", "a.b", "bb", "c"} {
			if d == "" && (f == "c") {
				continue // c is a folder at the top
			}
			if d == "a/b/" && f == "c" {
				continue
			}
			spec[d+f] = ""
		}
	}
	writeTree(t, dir, spec)
	tokens := []string{"a", "b", "x", "c", "*", "**", "?", "/", "[ab]", "[!a]", `\a`, ".", "*/", "/**/"}
	rng := rand.New(rand.NewPCG(1, 2))
	line := func() string {
		var b strings.Builder
		if rng.IntN(4) == 0 {
			b.WriteString("!")
		}
		for range 1 + rng.IntN(4) {
			b.WriteString(tokens[rng.IntN(len(tokens))])
		}
		if rng.IntN(4) == 0 {
			b.WriteString("/")
		}
		return b.String()
	}
	iterations := 300
	if testing.Short() {
		iterations = 50
	}
	for i := range iterations {
		var root, sub []string
		for range 1 + rng.IntN(3) {
			root = append(root, line())
		}
		for range rng.IntN(3) {
			sub = append(sub, line())
		}
		if err := os.WriteFile(filepath.Join(dir, ".gitignore"), []byte(strings.Join(root, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "a", ".gitignore"), []byte(strings.Join(sub, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		before := t.Failed()
		compareWithGit(t, git, dir, dir)
		if !before && t.Failed() {
			t.Fatalf("iteration %d: .gitignore %q, a/.gitignore %q", i, root, sub)
		}
	}
}

// TestRgridignoreOverGit: .rgridignore decides before .gitignore and the
// built-ins, in either direction; .git stays out whatever it says.
func TestRgridignoreOverGit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		".gitignore":      "*.csv\nresults/\n",
		".rgridignore":    "!data/*.csv\n!node_modules/\n*.bin\n!.git/\n!.git\n",
		"data/.gitignore": "*.csv\n",
		"data/a.csv":      "", "b.csv": "", "results/r.txt": "",
		"node_modules/m/x.js": "", "w.bin": "", "run.py": "",
		".git/config": "", "sub/.git": "gitdir: elsewhere",
		"__pycache__/x.pyc": "",
	})
	plan, err := Scan(t.Context(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{".gitignore", ".rgridignore", "data/.gitignore", "data/a.csv", "node_modules/m/x.js", "run.py", "sub/"}
	if got := paths(plan.Manifest); !slices.Equal(got, want) {
		t.Errorf("sent %q, want %q", got, want)
	}
	wantWhy := map[string]string{
		".git":        reasonGit,
		"sub/.git":    reasonGit,
		"b.csv":       ".gitignore line 1: `*.csv`",
		"results":     ".gitignore line 2: `results/`",
		"w.bin":       ".rgridignore line 3: `*.bin`",
		"__pycache__": builtinDirs["__pycache__"],
	}
	if got := excludedReasons(plan); fmt.Sprint(got) != fmt.Sprint(wantWhy) {
		t.Errorf("excluded:\n got %v\nwant %v", got, wantWhy)
	}
}
