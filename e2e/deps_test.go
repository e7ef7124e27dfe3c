package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/moby/client"

	"github.com/rgrid/rgrid/internal/deps"
	"github.com/rgrid/rgrid/internal/executor/docker"
	"github.com/rgrid/rgrid/internal/testimages"
)

// removeEnvImage removes, when the test ends, the environment built for a
// one-line requirement set on the test's Python image.
func removeEnvImage(t *testing.T, line string) {
	t.Helper()
	set, err := deps.ParseRequirements("requirements.txt", []byte(line))
	if err != nil {
		t.Fatal(err)
	}
	tag := docker.EnvTag(testimages.Python(t), set.Lines())
	t.Cleanup(func() {
		cli, err := client.New(client.FromEnv)
		if err != nil {
			return
		}
		defer cli.Close()
		_, _ = cli.ImageRemove(context.Background(), tag, client.ImageRemoveOptions{Force: true, PruneChildren: true})
	})
}

// Scripts with requirements just run: a package from an index of the
// test's own (a wheel built here, served from a container on a network the
// test creates), installed once and then taken from the cache.
func TestDependenciesInstalledOnceAndCached(t *testing.T) {
	t.Parallel()
	index := testimages.StartIndex(t)
	g := dockerGrid(t, 2, "--deps-network", index.Network,
		"--pip-index-url", "http://pypi:8080/simple", "--pip-trusted-host", "pypi")

	dir := t.TempDir()
	script := filepath.Join(dir, "hello.py")
	write := func(path, body string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(script, "import rgrid_hello\nprint(rgrid_hello.hello())\n")
	// An always-true marker of this run's own makes the set new, whatever
	// environments earlier runs left on the engine.
	token := strings.ToLower(rand.Text()[:12])
	reqLine := fmt.Sprintf(`rgrid-hello==1.0 ; platform_release != "%s"`, token)
	removeEnvImage(t, reqLine)
	write(filepath.Join(dir, "requirements.txt"), "# the test's own package\n"+reqLine+"\n")

	first := g.rgrid(t, "run", script)
	if first.code != 0 || first.stdout != testimages.HelloOutput+"\n" {
		t.Fatalf("first run: %d %q %q", first.code, first.stdout, first.stderr)
	}
	if !strings.Contains(first.stderr, "installing 1 package") || !strings.Contains(first.stderr, "pip: ") {
		t.Errorf("first run does not show the install:\n%s", first.stderr)
	}
	// Written differently, the same set: a cache hit, and no pip at all.
	write(filepath.Join(dir, "requirements.txt"), fmt.Sprintf("RGRID_hello == 1.0;platform_release!='%s'   # same thing\n", token))
	second := g.rgrid(t, "run", script)
	if second.code != 0 || second.stdout != testimages.HelloOutput+"\n" {
		t.Fatalf("second run: %d %q %q", second.code, second.stdout, second.stderr)
	}
	if !strings.Contains(second.stderr, "using cached environment") || strings.Contains(second.stderr, "pip: ") {
		t.Errorf("second run was not a cache hit without pip:\n%s", second.stderr)
	}
	if s := g.rgrid(t, "status", "--json", jobIDByFile(t, g, "hello.py")); !strings.Contains(s.stdout, `"rgrid-hello==1.0`) {
		t.Errorf("status does not show the requirements: %s", s.stdout)
	}

	t.Run("inline metadata", func(t *testing.T) {
		line := fmt.Sprintf(`rgrid-hello>=1.0 ; platform_release != '%s'`, token)
		removeEnvImage(t, line)
		inline := writeScript(t, "inline.py", "# /// script\n# dependencies = [\""+line+"\"]\n# ///\nimport rgrid_hello\nprint(rgrid_hello.hello())\n")
		r := g.rgrid(t, "run", inline)
		if r.code != 0 || r.stdout != testimages.HelloOutput+"\n" {
			t.Fatalf("%d %q %q", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("a misspelled package ends error with a hint", func(t *testing.T) {
		bad := writeScript(t, "typo.py", "# /// script\n# dependencies = [\"rgrid-helo==1.0\"]\n# ///\nprint('never')\n")
		r := g.rgrid(t, "run", bad)
		if r.code != 125 || strings.Contains(r.stdout, "never") {
			t.Fatalf("%d %q %q", r.code, r.stdout, r.stderr)
		}
		for _, want := range []string{"ended error", "rgrid-helo", "not found", "Hint:"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
			}
		}
		s := g.rgrid(t, "status", jobIDByFile(t, g, "typo.py"))
		if !strings.Contains(s.stdout, "dependency_install_failed") {
			t.Errorf("status:\n%s", s.stdout)
		}
	})
	t.Run("a refused line names its number and nothing is submitted", func(t *testing.T) {
		d := t.TempDir()
		s := filepath.Join(d, "x.py")
		write(s, "print(1)\n")
		write(filepath.Join(d, "requirements.txt"), "rgrid-hello\n-e ./local/pkg\n")
		r := g.rgrid(t, "run", s)
		if r.code != 2 || !strings.Contains(r.stderr, `requirements.txt line 2: "-e ./local/pkg"`) {
			t.Errorf("%d %q", r.code, r.stderr)
		}
		if n := g.rgrid(t, "run", "--no-deps", s); n.code != 0 || n.stdout != "1\n" {
			t.Errorf("--no-deps: %d %q %q", n.code, n.stdout, n.stderr)
		}
	})
}
