package config

import (
	"os"
	"path/filepath"
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
	f, err := Load(path, true)
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
	if err == nil || !strings.Contains(err.Error(), `RGRID_SLOTS="many"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestMissingFiles(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "nope.toml")
	if _, err := Load(missing, false); err != nil {
		t.Errorf("missing default file: %v", err)
	}
	if _, err := Load(missing, true); err == nil {
		t.Error("missing named file accepted")
	}
	bad := filepath.Join(t.TempDir(), "bad.toml")
	_ = os.WriteFile(bad, []byte("slots = = 3"), 0o600)
	if _, err := Load(bad, true); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("malformed file: %v", err)
	}
}
