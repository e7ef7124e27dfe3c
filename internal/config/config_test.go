package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestPrecedence(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "config.toml")
	err := os.WriteFile(path, []byte(`
slots = 3
server = "http://from-file:1"
timeout = "10m"
worker-id = "file-id"

[[runtimes]]
name = "python3.11"
image = "local/python:test"
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Load(path, true, []string{"slots", "server", "timeout", "worker-id"})
	if err != nil {
		t.Fatal(err)
	}
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	slots := fs.Int("slots", 1, "")
	server := fs.String("server", "", "")
	timeout := fs.String("timeout", "", "")
	id := fs.String("worker-id", "", "")
	other := fs.String("other", "default", "")
	if err := fs.Parse([]string{"--server", "http://from-flag:1"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"RGRID_TIMEOUT": "5m", "RGRID_WORKER_ID": "env-id"}
	if err := Apply(fs, f, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if *server != "http://from-flag:1" || *timeout != "5m" || *slots != 3 || *id != "env-id" || *other != "default" {
		t.Errorf("server %q timeout %q slots %d id %q other %q", *server, *timeout, *slots, *id, *other)
	}
	if len(f.Runtimes) != 1 || f.Runtimes[0].Image != "local/python:test" {
		t.Errorf("runtimes = %+v", f.Runtimes)
	}
	for name, want := range map[string]string{
		"server": "", "timeout": "environment variable RGRID_TIMEOUT", "slots": "config file " + path, "other": "",
	} {
		if got := Source(fs.Lookup(name)); got != want {
			t.Errorf("Source(%s) = %q, want %q", name, got, want)
		}
	}
}

func TestBadValuesNameTheirSource(t *testing.T) {
	t.Parallel()
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs.Int("slots", 1, "")
	_ = fs.Parse(nil)
	err := Apply(fs, nil, func(k string) string {
		if k == "RGRID_SLOTS" {
			return "many"
		}
		return ""
	})
	var ve *ValueError
	if !errors.As(err, &ve) || ve.Where() != `environment variable RGRID_SLOTS="many"` ||
		ve.Flag.Name != "slots" || ve.Fix() != "fix or unset RGRID_SLOTS" || strings.Contains(err.Error(), "invalid argument") {
		t.Fatalf("err = %v", err)
	}

	path := writeFile(t, "slots = \"many\"\n")
	f, err := Load(path, true, []string{"slots"})
	if err != nil {
		t.Fatal(err)
	}
	err = Apply(fs, f, func(string) string { return "" })
	if !errors.As(err, &ve) || ve.Where() != "config file "+path+`: slots = "many"` || ve.Fix() != "fix slots in "+path {
		t.Fatalf("err = %v", err)
	}
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A key no setting has is refused, naming the file, the key with its
// table, and the key meant; a valid file loads.
func TestUnknownKeys(t *testing.T) {
	t.Parallel()
	known := []string{"memory", "server", "slots", "timeout"}
	for _, tc := range []struct {
		name, text string
		keys       []string
		hint       string
	}{
		{"a misspelled key", "slotz = 4\n", []string{"slotz"}, `did you mean "slots"?`},
		{"a nested one", "slots = 4\n[[runtimes]]\nname = \"python3.11\"\nimag = \"x\"\n", []string{"runtimes.imag"}, `did you mean "runtimes.image"?`},
		{"several, in file order", "timout = \"5m\"\nmemroy = \"1g\"\n", []string{"timout", "memroy"}, `"timout": did you mean "timeout"?; "memroy": did you mean "memory"?`},
		{"an unknown table", "[worker]\nslots = 4\n", []string{"worker"}, `the keys are the flags' names`},
		{"nothing close", "colour = true\n", []string{"colour"}, `the keys are the flags' names`},
		{"a setting of the environment only", "data-dir = \"/d\"\n", []string{"data-dir"}, "RGRID_DATA_DIR"},
		{"a pool's key", "[[pools]]\nname = \"cpu\"\nmax_workers = 3\n", []string{"pools.max_workers"}, ""},
		{"a pool's misspelled key", "[[pools]]\nname = \"cpu\"\nidle_windo = \"1m\"\n", []string{"pools.idle_windo"}, `did you mean "pools.idle_window"?`},
		{"a pool provider's key", "[[pools]]\nname = \"cpu\"\n[pools.hetzner]\nserver_type = [\"cx22\"]\n", []string{"pools.hetzner.server_type"}, `did you mean "pools.hetzner.server_types"?`},
	} {
		path := writeFile(t, tc.text)
		_, err := Load(path, true, known)
		var uk *UnknownKeyError
		if !errors.As(err, &uk) || uk.Path != path || !slices.Equal(uk.Keys, tc.keys) ||
			!strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), strconv.Quote(tc.keys[0])) ||
			!strings.Contains(uk.Hint(), tc.hint) {
			t.Errorf("%s: err = %v, keys %v, hint %q; want keys %v, hint with %q", tc.name, err, keysOf(uk), hintOf(uk), tc.keys, tc.hint)
		}
	}
	f, err := Load(writeFile(t, "slots = 4\n[[pools]]\nname = \"cpu\"\nprovider = \"docker\"\nmax = 3\n[pools.docker]\nimage = \"rgrid-worker:dev\"\n"), true, known)
	if err != nil || len(f.Pools) != 1 || f.Pools[0].Max != 3 || f.Pools[0].Docker.Image != "rgrid-worker:dev" || f.Values["pools"] != nil {
		t.Errorf("file with a pool: %+v, %v", f, err)
	}
	f, err = Load(writeFile(t, "slots = 4\nmemory = \"1g\"\n[[runtimes]]\nname = \"n\"\nimage = \"i\"\ncommand = [\"c\"]\nextensions = [\".n\"]\nalias_of = \"\"\n"), true, known)
	if err != nil || f.Values["slots"] != int64(4) || len(f.Runtimes) != 1 {
		t.Errorf("valid file: %+v, %v", f, err)
	}
}

func keysOf(e *UnknownKeyError) []string {
	if e == nil {
		return nil
	}
	return e.Keys
}

func hintOf(e *UnknownKeyError) string {
	if e == nil {
		return ""
	}
	return e.Hint()
}

func TestNearest(t *testing.T) {
	t.Parallel()
	names := []string{"run", "runtimes", "status", "worker", "workers", "pip-index-url", "slots"}
	for word, want := range map[string]string{
		"slotz": "slots", "rnu": "run", "RUN": "run", "wor": "worker", "workerz": "worker",
		"pip-index": "pip-index-url", "runtime": "runtimes", "statsu": "status",
		"nosuch": "", "": "", "x": "",
	} {
		if got := Nearest(word, names); got != want {
			t.Errorf("Nearest(%q) = %q, want %q", word, got, want)
		}
	}
}

func TestMissingFiles(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "nope.toml")
	if _, err := Load(missing, false, nil); err != nil {
		t.Errorf("missing default file: %v", err)
	}
	if _, err := Load(missing, true, nil); err == nil {
		t.Error("missing named file accepted")
	}
	bad := filepath.Join(t.TempDir(), "bad.toml")
	_ = os.WriteFile(bad, []byte("slots = = 3"), 0o600)
	if _, err := Load(bad, true, nil); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("malformed file: %v", err)
	}
}

// A pool's price is a money string; the old bare number is refused,
// naming the file, the key and the form to write.
func TestPoolPriceIsAMoneyString(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "[[pools]]\nname = \"cpu\"\nprice_per_hour = 0.0119\n")
	_, err := Load(path, true, nil)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "price_per_hour") ||
		!strings.Contains(err.Error(), `write the amount with its currency as a string, e.g. "0.0119 EUR"`) {
		t.Errorf("bare price: %v", err)
	}
	f, err := Load(writeFile(t, "[[pools]]\nname = \"cpu\"\nprice_per_hour = \"0.0119 EUR\"\n"), true, nil)
	if err != nil || len(f.Pools) != 1 || f.Pools[0].PricePerHour != "0.0119 EUR" {
		t.Errorf("money string: %+v, %v", f, err)
	}
}
