package executortest

// The job's working directory: staged before the run (Spec.Stage),
// collected after it (Spec.Collect).

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rgrid/rgrid/internal/executor"
)

// stagedScript runs as app/main.py among the files project stages. It
// imports a module beside it, reads a data file by a path relative to the
// working directory, changes, deletes and adds files, and leaves a FIFO
// and symlinks (to paths on the host, given as arguments) behind.
const stagedScript = `
import os, sys
from lib import util  # the script's own directory comes first on sys.path
with open("data/input.txt") as f:
    print(util.double(f.read().strip()))
print(os.path.relpath(os.path.abspath(sys.argv[0]), os.getcwd()))
with open("data/input.txt", "a") as f:
    f.write("changed\n")
os.remove("data/old.txt")
with open("data/new.txt", "w") as f:
    f.write("new\n")
os.makedirs("out/deep")
with open("out/deep/result.txt", "w") as f:
    f.write("result\n")
os.mkfifo("pipe")
os.symlink(sys.argv[1], "link-file")
os.symlink(sys.argv[2], "link-dir")
os.symlink("data", "link-data")
`

// project is what the staged test's Stage writes: path → content, "/" at
// the end for a directory.
func project(script string) map[string]string {
	return map[string]string{
		"app/main.py":         script,
		"app/lib/":            "",
		"app/lib/__init__.py": "",
		"app/lib/util.py":     "def double(s):\n    return s + s\n",
		"data/":               "",
		"data/input.txt":      "hello\n",
		"data/old.txt":        "delete me\n",
		"data/keep.txt":       "untouched\n",
		"empty/":              "",
	}
}

// stageTree returns a Spec.Stage writing files (see project), the way the
// worker does: directories 0755, files 0644, as the worker's user.
func stageTree(files map[string]string) func(dir string) error {
	return func(dir string) error {
		for _, p := range slices.Sorted(maps.Keys(files)) {
			full := filepath.Join(dir, filepath.FromSlash(strings.TrimSuffix(p, "/")))
			if strings.HasSuffix(p, "/") {
				if err := os.MkdirAll(full, 0o755); err != nil {
					return err
				}
				continue
			}
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(full, []byte(files[p]), 0o644); err != nil {
				return err
			}
		}
		return nil
	}
}

// collector is a Spec.Collect that records what it was given.
type collector struct {
	mu    sync.Mutex
	calls int
	tree  map[string]string // path → what it is; see snapshot
	err   error
	// during, if set, runs inside Collect (the directory still there).
	during func(dir string)
}

func (c *collector) collect(dir string) {
	tree, err := snapshot(dir)
	if c.during != nil {
		c.during(dir)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	c.tree, c.err = tree, err
}

func (c *collector) result() (calls int, tree map[string]string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls, c.tree, c.err
}

// snapshot describes the tree at dir as a worker's collection must see
// it: without following a symlink or opening anything but regular files.
// Directories are "dir", files "file:" and their content, symlinks
// "link:" and their target, FIFOs "fifo".
func snapshot(dir string) (map[string]string, error) {
	tree := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		switch t := d.Type(); {
		case t.IsDir():
			tree[rel] = "dir"
		case t.IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			tree[rel] = "file:" + string(b)
		case t&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			tree[rel] = "link:" + target
		case t&fs.ModeNamedPipe != 0:
			tree[rel] = "fifo"
		default:
			tree[rel] = "other:" + t.String()
		}
		return nil
	})
	return tree, err
}

func runWorkDir(t *testing.T, setup func(t *testing.T) bundle, rt Runtime) {
	t.Run("StagedWorkingDirectoryInAndOut", func(t *testing.T) {
		b := setup(t)
		// Host paths the job's symlinks point at: removing the run must not
		// follow them.
		host := t.TempDir()
		hostFile, hostDir := filepath.Join(host, "precious"), filepath.Join(host, "dir")
		if err := os.WriteFile(hostFile, []byte("keep"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(hostDir, "inner"), 0o700); err != nil {
			t.Fatal(err)
		}
		var c collector
		files := project(stagedScript)
		got := run(t, b.ex, rt, "", func(s *executor.Spec) {
			s.FileName = "app/main.py"
			s.Script = nil
			s.Stage = stageTree(files)
			s.Collect = c.collect
			s.Args = []string{hostFile, hostDir}
			s.Env = map[string]string{"PYTHONDONTWRITEBYTECODE": "1"} // no __pycache__ among the outputs
		})
		got.wantExit(t, 0)
		if want := "hellohello\napp/main.py\n"; got.stdout != want {
			t.Errorf("stdout %q, want %q; %s", got.stdout, want, got)
		}
		calls, tree, err := c.result()
		if calls != 1 || err != nil {
			t.Fatalf("Collect called %d times (want 1), its walk: %v", calls, err)
		}
		want := map[string]string{
			"app": "dir", "app/main.py": "file:" + stagedScript,
			"app/lib": "dir", "app/lib/__init__.py": "file:", "app/lib/util.py": "file:" + files["app/lib/util.py"],
			"data": "dir", "data/input.txt": "file:hello\nchanged\n", "data/keep.txt": "file:untouched\n",
			"data/new.txt": "file:new\n",
			"empty":        "dir",
			"out":          "dir", "out/deep": "dir", "out/deep/result.txt": "file:result\n",
			"pipe":      "fifo",
			"link-file": "link:" + hostFile, "link-dir": "link:" + hostDir, "link-data": "link:data",
		}
		for _, k := range slices.Sorted(maps.Keys(want)) {
			if tree[k] != want[k] {
				t.Errorf("Collect saw %s = %.80q, want %.80q", k, tree[k], want[k])
			}
		}
		for _, k := range slices.Sorted(maps.Keys(tree)) {
			if _, ok := want[k]; !ok {
				t.Errorf("Collect saw %s = %.80q, which the job did not make", k, tree[k])
			}
		}
		if b, err := os.ReadFile(hostFile); err != nil || string(b) != "keep" {
			t.Errorf("host file behind a job's symlink: %q, %v", b, err)
		}
		if _, err := os.Stat(filepath.Join(hostDir, "inner")); err != nil {
			t.Errorf("host directory behind a job's symlink: %v", err)
		}
		AssertReleased(t, b.cfg.WorkDir)
	})

	t.Run("CollectOnceOnTimeout", func(t *testing.T) {
		b := setup(t)
		var c collector
		got := run(t, b.ex, rt, "", func(s *executor.Spec) {
			s.Script = nil
			s.Stage = stageTree(map[string]string{"main.py": "import time\nopen('partial.txt', 'w').write('p')\nprint('wrote', flush=True)\ntime.sleep(30)\n"})
			s.Collect = c.collect
			s.Limits.Timeout = 3 * time.Second
		})
		if got.res.Outcome != executor.TimedOut {
			t.Fatalf("want timed out, got %s", got)
		}
		calls, tree, err := c.result()
		if calls != 1 || err != nil {
			t.Errorf("Collect: %d calls (%v), want one", calls, err)
		}
		// A loaded machine may take the whole limit to start Python: what
		// the job wrote must be seen only if it got to write it.
		if strings.Contains(got.stdout, "wrote") && tree["partial.txt"] != "file:p" {
			t.Errorf("Collect saw\n%s\nwant partial.txt, which the job wrote before its time ran out", treeString(tree))
		}
		AssertReleased(t, b.cfg.WorkDir)
	})

	t.Run("CollectOnceOnKill", func(t *testing.T) {
		b := setup(t)
		var c collector
		spec := newSpec(t, rt, "", func(s *executor.Spec) {
			s.Script = nil
			s.Stage = stageTree(map[string]string{
				"main.py": "import time\nopen('partial.txt', 'w').write('p')\nprint('ready', flush=True)\ntime.sleep(30)\n",
			})
			s.Collect = c.collect
		})
		r := start(t, b.ex, spec)
		r.stdout.WaitFor(t, "ready")
		if err := r.h.Kill(t.Context()); err != nil {
			t.Fatalf("Kill: %v", err)
		}
		// Kill returns once the run is gone: collected and removed.
		calls, tree, err := c.result()
		if calls != 1 || err != nil || tree["partial.txt"] != "file:p" {
			t.Errorf("Collect when Kill returned: %d calls (%v), saw\n%s\nwant one call seeing partial.txt", calls, err, treeString(tree))
		}
		if got := r.wait(t); got.res.Outcome != executor.Killed {
			t.Errorf("want killed, got %s", got)
		}
		if calls, _, _ := c.result(); calls != 1 {
			t.Errorf("Collect called %d times", calls)
		}
		AssertReleased(t, b.cfg.WorkDir)
	})

	t.Run("StageErrorStartsNothing", func(t *testing.T) {
		b := setup(t)
		var c collector
		failed := errors.New("the blob store is down")
		spec := newSpec(t, rt, "", func(s *executor.Spec) {
			s.Script = nil
			s.Stage = func(dir string) error {
				if err := os.WriteFile(filepath.Join(dir, "main.py"), []byte("print(1)"), 0o644); err != nil {
					return err
				}
				return failed
			}
			s.Collect = c.collect
		})
		h, err := b.ex.Start(t.Context(), spec)
		if err == nil {
			_ = h.Kill(t.Context())
			t.Fatal("Start with a failing Stage succeeded")
		}
		if !errors.Is(err, failed) {
			t.Errorf("Start's error %v does not wrap Stage's", err)
		}
		if calls, _, _ := c.result(); calls != 0 {
			t.Errorf("Collect called %d times for a run that never started", calls)
		}
		AssertReleased(t, b.cfg.WorkDir)
	})

	t.Run("ScriptPathMustStayInside", func(t *testing.T) {
		b := setup(t)
		for _, name := range []string{"../main.py", "/etc/passwd", "a/../../main.py", "-c", "./main.py"} {
			spec := newSpec(t, rt, "", func(s *executor.Spec) {
				s.FileName = name
				s.Stage = stageTree(map[string]string{"main.py": "print(1)"})
			})
			if h, err := b.ex.Start(t.Context(), spec); err == nil {
				_ = h.Kill(t.Context())
				t.Errorf("Start with script path %q: want an error", name)
			}
		}
	})
}

// treeString shows a tree for a failure message.
func treeString(tree map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(tree)) {
		fmt.Fprintf(&b, "%s = %.40q\n", k, tree[k])
	}
	return b.String()
}
