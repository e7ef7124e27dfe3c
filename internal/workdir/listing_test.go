package workdir

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// equivalenceTree is a tree with what the walk decides on: nested folders
// several deep and wide, .gitignore and .rgridignore files at several
// depths (with a '!' that takes back a built-in), built-ins, .git, links
// inside the tree (relative and absolute) and a folder left empty by its
// ignore file.
func equivalenceTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	spec := map[string]string{
		"run.py": "print(1)\n", ".gitignore": "*.log\nbuild/\n!keep.log\n", ".rgridignore": "!node_modules/\nsecret*\n",
		".git/HEAD": "ref", "keep.log": "k", "drop.log": "d", "build/out.o": "o", "secret.txt": "s",
		"node_modules/x/i.js": "i", "__pycache__/a.pyc": "", "venv/pyvenv.cfg": "", "empty/": "",
		"only-ignored/.gitignore": "*\n", "only-ignored/x.csv": "1",
		"link-rel@": "src/m00/f000.py", "src/link-up@": "../run.py", "src/dirlink@": "m01",
	}
	for m := range 12 {
		for f := range 9 {
			spec[fmt.Sprintf("src/m%02d/f%03d.py", m, f)] = fmt.Sprintf("# %d %d\n", m, f)
		}
		spec[fmt.Sprintf("src/m%02d/deep/er/still/x%d.txt", m, m)] = "deep"
		spec[fmt.Sprintf("src/m%02d/.gitignore", m)] = fmt.Sprintf("f%03d.py\n", m%9)
		if m%3 == 0 {
			spec[fmt.Sprintf("src/m%02d/.rgridignore", m)] = "deep/\n"
		}
	}
	writeTree(t, dir, spec)
	if err := os.Symlink(filepath.Join(dir, "src", "m02"), filepath.Join(dir, "abs-link")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// The listers change when directories are read, never what a scan
// finds: every Plan equals that of a walk that lists each directory in
// turn, in the same order, for full scans, dry runs and a tree past
// MaxFiles.
func TestScanParallelListingEquivalent(t *testing.T) {
	t.Parallel()
	dir := equivalenceTree(t)
	for _, opts := range []Options{
		{Script: "run.py"},
		{Script: "run.py", DryRun: true},
		{Script: "run.py", DryRun: true, MaxFiles: 20},
		{Script: "src/m00/f000.py", MaxFiles: 1000},
	} {
		seq := opts
		seq.Parallel = 1
		want, err := Scan(t.Context(), dir, seq)
		if err != nil {
			t.Fatal(err)
		}
		if want.Files < 100 || len(want.Excluded) < 20 {
			t.Fatalf("the tree sends %d files and excludes %d paths: not the tree this test means", want.Files, len(want.Excluded))
		}
		for _, par := range []int{2, 3, 8} {
			for range 10 { // listers race the walk differently each time
				o := opts
				o.Parallel = par
				got, err := Scan(t.Context(), dir, o)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("Parallel %d, %+v: the plan differs from the sequential walk's\n got %+v\nwant %+v", par, opts, got, want)
				}
			}
		}
	}
}

// An error stops the scan where a sequential walk stops: the first one
// in walk order, whatever the listers read beyond it.
func TestScanParallelListingFirstError(t *testing.T) {
	t.Parallel()
	dir := equivalenceTree(t)
	// An ignore file too large to read, in two folders: the first in walk
	// order is the one reported.
	big := make([]byte, maxIgnoreFile+1)
	for _, d := range []string{"src/m03", "src/m07"} {
		if err := os.WriteFile(filepath.Join(dir, d, ".rgridignore"), big, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, want := Scan(t.Context(), dir, Options{Script: "run.py", Parallel: 1})
	if want == nil {
		t.Fatal("no error from a tree with an unreadable ignore file")
	}
	for range 10 {
		_, err := Scan(t.Context(), dir, Options{Script: "run.py", Parallel: 8})
		if err == nil || err.Error() != want.Error() {
			t.Fatalf("error %v, want %v", err, want)
		}
	}
}
