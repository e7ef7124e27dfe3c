package cli

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/rgrid/rgrid/internal/config"
	"github.com/rgrid/rgrid/internal/node"
)

// wantUsage checks that rgrid refused with exit 2 and one Error: line
// and one Hint: line containing msg and hint.
func wantUsage(t *testing.T, code int, stderr, msg, hint string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	if code != exitUsage || len(lines) != 2 || !strings.HasPrefix(lines[0], "Error: ") || !strings.Contains(lines[0], msg) ||
		!strings.HasPrefix(lines[1], "Hint: ") || !strings.Contains(lines[1], hint) {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 2, Error: …%s…, Hint: …%s…", code, stderr, msg, hint)
	}
}

// A key of the config file that no command has is refused, naming the
// key meant; keys of other commands than the one run are fine.
func TestConfigFileKeys(t *testing.T) {
	t.Parallel()
	code, _, stderr := runCLIWithConfig(t, "slotz = 4\n", "version")
	wantUsage(t, code, stderr, `unknown key "slotz"`, `did you mean "slots"?`)
	if !strings.Contains(stderr, "config.toml") {
		t.Errorf("the error does not name the file:\n%s", stderr)
	}

	code, _, stderr = runCLIWithConfig(t, "[[runtimes]]\nname = \"python3.11\"\nimgae = \"x\"\n", "version")
	wantUsage(t, code, stderr, `unknown key "runtimes.imgae"`, `did you mean "runtimes.image"?`)

	code, stdout, stderr := runCLIWithConfig(t, "slots = 4\nmemory = \"1g\"\npip-index-url = \"http://mirror/simple\"\nlisten = \"127.0.0.1:1\"\n", "version")
	if code != 0 || stdout == "" {
		t.Errorf("a valid file: exit %d, stderr:\n%s", code, stderr)
	}

	code, _, stderr = runCLIWithConfig(t, "memory = \"0.0001\"\n", "worker")
	wantUsage(t, code, stderr, `memory = "0.0001": not a whole number of bytes`, "fix memory in ")
	if !strings.Contains(stderr, sizeHint) {
		t.Errorf("no size hint:\n%s", stderr)
	}
}

// A known RGRID_* variable with a bad value is refused naming the
// variable; unknown ones are other tools' business.
func TestEnvironmentValues(t *testing.T) {
	t.Setenv("RGRID_NO_SUCH_SETTING", "whatever")
	t.Setenv("RGRID_MEMORY", "nan")
	script := filepath.Join(t.TempDir(), "x.py")
	if err := os.WriteFile(script, []byte("print(1)\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "run", script)
	wantUsage(t, code, stderr, `environment variable RGRID_MEMORY="nan": not a size`, "fix or unset RGRID_MEMORY: "+sizeHint)

	t.Setenv("RGRID_MEMORY", "")
	t.Setenv("RGRID_SLOTS", "many")
	code, _, stderr = runCLI(t, "worker")
	wantUsage(t, code, stderr, `environment variable RGRID_SLOTS="many": not a whole number`, "fix or unset RGRID_SLOTS")
	if strings.Contains(stderr, "strconv") || strings.Contains(stderr, "invalid argument") {
		t.Errorf("the parser's error chain shows:\n%s", stderr)
	}
}

// Every dependency setting of rgrid worker is one of rgrid run and rgrid
// dev too, whose embedded workers install requirements as well.
func TestDepsSettingsWhereverTheyApply(t *testing.T) {
	t.Parallel()
	e := &env{}
	worker := newWorkerCmd(e).Flags()
	for _, cmd := range []*pflag.FlagSet{newRunCmd(e).Flags(), newDevCmd(e).Flags()} {
		for _, name := range depsFlagNames {
			w, f := worker.Lookup(name), cmd.Lookup(name)
			if w == nil || f == nil || f.DefValue != w.DefValue || f.Value.Type() != w.Value.Type() {
				t.Errorf("--%s: worker %v, run/dev %v", name, w, f)
			}
		}
	}
}

// An embedded run hands the dependency settings, from a flag, the
// environment or the config file, to its Docker executor's options.
func TestEmbeddedRunPassesDepsSettingsDown(t *testing.T) {
	t.Parallel()
	o := &runOptions{}
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	o.deps.add(fs)
	o.liveness.add(fs, true)
	if err := fs.Parse([]string{"--pip-index-url", "http://mirror:8080/simple", "--deps-cache-size", "2g"}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte("pip-extra-index-url = \"http://extra/simple\"\ndeps-network = \"pypi-net\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := config.Load(path, true, depsFlagNames)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"RGRID_PIP_TRUSTED_HOST": "mirror"}
	if err := config.Apply(fs, f, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	x, err := o.execOptions()
	if err != nil {
		t.Fatal(err)
	}
	d := x.docker
	if d.PipIndexURL != "http://mirror:8080/simple" || d.PipExtraIndexURL != "http://extra/simple" || d.PipTrustedHost != "mirror" ||
		d.DepsNetwork != "pypi-net" || d.EnvCacheBytes != 2<<30 || d.BuildTimeout <= 0 {
		t.Errorf("docker options %+v", d)
	}
	if x.defaults != defaultLimits() {
		t.Errorf("defaults %+v", x.defaults)
	}
}

// A dependency flag typed for a run that another process's workers run
// is refused: it would change nothing. Set in the environment (meant for
// this machine's worker) it is left alone.
func TestRemoteRunRefusesTypedDepsFlags(t *testing.T) {
	script := filepath.Join(t.TempDir(), "x.py")
	if err := os.WriteFile(script, []byte("print(1)\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()

	code, _, stderr := runCLI(t, "run", "--server", closed, "--pip-index-url", "http://mirror/simple", script)
	wantUsage(t, code, stderr, "--pip-index-url has no effect here: this run goes to the server at "+closed, "rgrid worker --pip-index-url")

	// A running "rgrid dev" (its state file in the data directory).
	dev := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	}))
	defer dev.Close()
	dataDir := t.TempDir()
	t.Setenv("RGRID_DATA_DIR", dataDir)
	if err := os.WriteFile(node.DevStatePath(dataDir), []byte(`{"url":"`+dev.URL+`","pid":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCLI(t, "run", "--deps-cache-size", "1g", script)
	wantUsage(t, code, stderr, `--deps-cache-size has no effect here: this run goes to "rgrid dev" at `+dev.URL, "restart rgrid dev with --deps-cache-size")

	t.Setenv("RGRID_PIP_INDEX_URL", "http://mirror/simple")
	code, _, stderr = runCLI(t, "run", "--server", closed, script)
	if code != exitPlatform || !strings.Contains(stderr, "cannot reach the rgrid server") {
		t.Errorf("from the environment: exit %d, stderr:\n%s\nwant the server unreachable (125), no refusal", code, stderr)
	}
}
