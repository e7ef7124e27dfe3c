// Package config resolves settings in one order for every command:
// flag > RGRID_* environment variable > config file > default.
//
// A setting has one name everywhere: the flag --slots, the variable
// RGRID_SLOTS and the file key slots are the same thing. The file is TOML,
// flat keys plus [[runtimes]] tables that override the runtime table.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/spf13/pflag"

	"github.com/rgrid/rgrid/internal/runtimes"
)

// File is a parsed config file.
type File struct {
	Path     string
	Values   map[string]any
	Runtimes []runtimes.Runtime
}

// EnvName is the environment variable for a setting: "worker-id" → RGRID_WORKER_ID.
func EnvName(setting string) string {
	return "RGRID_" + strings.ToUpper(strings.ReplaceAll(setting, "-", "_"))
}

// DefaultPath is where the config file is looked for when neither --config
// nor RGRID_CONFIG names one.
func DefaultPath() string {
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "rgrid", "config.toml")
}

// Load reads the config file at path. A missing file at the default path is
// not an error (explicit is false); a missing file that was named is.
func Load(path string, explicit bool) (*File, error) {
	f := &File{Path: path, Values: map[string]any{}}
	if path == "" {
		return f, nil
	}
	raw := map[string]any{}
	md, err := toml.DecodeFile(path, &raw)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && !explicit {
			return f, nil
		}
		return nil, fmt.Errorf("read config file %s: %w", path, err)
	}
	_ = md
	for k, v := range raw {
		if k == "runtimes" {
			continue
		}
		f.Values[k] = v
	}
	if _, ok := raw["runtimes"]; ok {
		var rt struct {
			Runtimes []runtimes.Runtime `toml:"runtimes"`
		}
		if _, err := toml.DecodeFile(path, &rt); err != nil {
			return nil, fmt.Errorf("read [[runtimes]] in config file %s: %w", path, err)
		}
		f.Runtimes = rt.Runtimes
	}
	return f, nil
}

// Apply fills every flag the user did not set from the environment, then
// from the file. Values that do not parse name their source.
func Apply(flags *pflag.FlagSet, f *File, getenv func(string) string) error {
	var errs []error
	flags.VisitAll(func(fl *pflag.Flag) {
		if fl.Changed || fl.Name == "help" || fl.Name == "config" {
			return
		}
		env := EnvName(fl.Name)
		if v := getenv(env); v != "" {
			if err := flags.Set(fl.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("environment variable %s=%q: %w", env, v, err))
			}
			return
		}
		if f == nil {
			return
		}
		v, ok := f.Values[fl.Name]
		if !ok {
			return
		}
		if err := flags.Set(fl.Name, fileValue(v)); err != nil {
			errs = append(errs, fmt.Errorf("config file %s: key %s = %v: %w", f.Path, fl.Name, v, err))
		}
	})
	return errors.Join(errs...)
}

func fileValue(v any) string {
	switch x := v.(type) {
	case []any:
		parts := make([]string, len(x))
		for i, p := range x {
			parts[i] = fmt.Sprint(p)
		}
		return strings.Join(parts, ",")
	default:
		return fmt.Sprint(x)
	}
}

// DataDir is where embedded mode keeps its database:
// $XDG_DATA_HOME/rgrid, else ~/.local/share/rgrid.
func DataDir() (string, error) {
	if d := os.Getenv("RGRID_DATA_DIR"); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "rgrid"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the data directory: %w (set RGRID_DATA_DIR)", err)
	}
	return filepath.Join(home, ".local", "share", "rgrid"), nil
}
