// Package config resolves settings in one order for every command:
// flag > RGRID_* environment variable > config file > default.
//
// A setting has one name everywhere: the flag --slots, the variable
// RGRID_SLOTS and the file key slots are the same thing. The file is TOML,
// flat keys plus [[runtimes]] tables that override the runtime table; a
// key no setting has is refused, naming the one meant. Unknown RGRID_*
// variables are left alone: other tools may use the prefix. [[pools]]
// tables define the server's autoscaled worker pools (see fleet.Pool).
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/spf13/pflag"

	"github.com/rgrid/rgrid/internal/fleet"
	"github.com/rgrid/rgrid/internal/runtimes"
)

// File is a parsed config file.
type File struct {
	Path     string
	Values   map[string]any
	Runtimes []runtimes.Runtime
	Pools    []fleet.Pool // not yet validated: rgrid server does that
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
//
// known are the settings' names (every command's flags): the file is
// shared by every command, so a key is refused only when no command has
// it, and a misspelled key is an error rather than a setting that
// silently does nothing.
func Load(path string, explicit bool, known []string) (*File, error) {
	f := &File{Path: path, Values: map[string]any{}}
	if path == "" {
		return f, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && !explicit {
			return f, nil
		}
		return nil, fmt.Errorf("read config file %s: %w", path, err)
	}
	raw := map[string]any{}
	md, err := toml.Decode(string(b), &raw)
	if err != nil {
		return nil, fmt.Errorf("read config file %s: %w", path, err)
	}
	unknown := &UnknownKeyError{Path: path}
	for _, k := range md.Keys() {
		if len(k) == 1 && k[0] != "runtimes" && k[0] != "pools" && !slices.Contains(known, k[0]) {
			unknown.add(k.String(), k[0], known)
		}
	}
	for k, v := range raw {
		if k != "runtimes" && k != "pools" {
			f.Values[k] = v
		}
	}
	if _, ok := raw["runtimes"]; ok {
		var rt struct {
			Runtimes []runtimes.Runtime `toml:"runtimes"`
		}
		md, err := toml.Decode(string(b), &rt)
		if err != nil {
			return nil, fmt.Errorf("read [[runtimes]] in config file %s: %w", path, err)
		}
		for _, k := range md.Undecoded() {
			if len(k) == 2 && k[0] == "runtimes" {
				unknown.add(k.String(), k[1], runtimeKeys())
			}
		}
		f.Runtimes = rt.Runtimes
	}
	if _, ok := raw["pools"]; ok {
		var pt struct {
			Pools []fleet.Pool `toml:"pools"`
		}
		md, err := toml.Decode(string(b), &pt)
		if err != nil {
			return nil, fmt.Errorf("read [[pools]] in config file %s: %w", path, err)
		}
		for _, k := range md.Undecoded() {
			if len(k) >= 2 && k[0] == "pools" {
				unknown.add(k.String(), k[len(k)-1], poolKeys(k))
			}
		}
		f.Pools = pt.Pools
	}
	if len(unknown.Keys) > 0 {
		return nil, unknown
	}
	return f, nil
}

// poolKeys are the keys the table of key k takes: a [[pools]] table's,
// or its [pools.hetzner] or [pools.docker] table's.
func poolKeys(k toml.Key) []string {
	t := reflect.TypeFor[fleet.Pool]()
	if len(k) >= 3 {
		if f, ok := t.FieldByNameFunc(func(n string) bool {
			f, _ := t.FieldByName(n)
			return f.Tag.Get("toml") == k[1]
		}); ok && f.Type.Kind() == reflect.Pointer {
			t = f.Type.Elem()
		}
	}
	return tomlKeys(t)
}

// UnknownKeyError is a config file with keys no setting has.
type UnknownKeyError struct {
	Path string
	Keys []string // in file order, with their table: "slotz", "runtimes.imag"
	// Hints say, for each key, what was meant: a nearby name, or where
	// the setting is made instead; "" when nothing is close.
	Hints []string
}

// envOnly are settings read from the environment (or a flag) alone: a
// config file cannot move the data directory it would be found by, nor
// name another config file.
var envOnly = map[string]string{
	"data-dir": "the data directory is set by RGRID_DATA_DIR only",
	"config":   "a config file cannot name another; use --config or RGRID_CONFIG",
}

func (e *UnknownKeyError) add(key, last string, known []string) {
	hint := envOnly[key]
	if hint == "" {
		if near := Nearest(last, known); near != "" {
			hint = fmt.Sprintf("did you mean %q?", strings.TrimSuffix(key, last)+near)
		}
	}
	e.Keys, e.Hints = append(e.Keys, key), append(e.Hints, hint)
}

func (e *UnknownKeyError) Error() string {
	q := make([]string, len(e.Keys))
	for i, k := range e.Keys {
		q[i] = strconv.Quote(k)
	}
	if len(q) == 1 {
		return fmt.Sprintf("config file %s: unknown key %s", e.Path, q[0])
	}
	return fmt.Sprintf("config file %s: unknown keys %s", e.Path, strings.Join(q, ", "))
}

// Hint names the fix: the key meant, for each key that is close to one,
// else what the keys are.
func (e *UnknownKeyError) Hint() string {
	var parts []string
	for i, h := range e.Hints {
		switch {
		case h == "":
		case len(e.Keys) == 1:
			parts = append(parts, h)
		default:
			parts = append(parts, fmt.Sprintf("%q: %s", e.Keys[i], h))
		}
	}
	if len(parts) == 0 {
		return `the keys are the flags' names without "--" ("rgrid COMMAND --help" lists them), [[runtimes]] and [[pools]] tables`
	}
	return strings.Join(parts, "; ")
}

// runtimeKeys are the keys a [[runtimes]] table takes.
func runtimeKeys() []string {
	return tomlKeys(reflect.TypeFor[runtimes.Runtime]())
}

// tomlKeys are the toml tags of a struct's fields.
func tomlKeys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ","); tag != "" {
			keys = append(keys, tag)
		}
	}
	return keys
}

// ValueError is a value from the environment or the config file that its
// flag refused.
type ValueError struct {
	Flag *pflag.Flag
	Env  string // the variable it came from, or "" when from the file
	Path string // the file it came from
	Raw  any    // the value as written there
	Err  error  // what the flag said
}

// Where names the value and its source: RGRID_SLOTS="many", or the file
// and key.
func (e *ValueError) Where() string {
	if e.Env != "" {
		return fmt.Sprintf("environment variable %s=%q", e.Env, e.Raw)
	}
	v := fmt.Sprint(e.Raw)
	if s, ok := e.Raw.(string); ok {
		v = strconv.Quote(s)
	}
	return fmt.Sprintf("config file %s: %s = %s", e.Path, e.Flag.Name, v)
}

// Fix says where to change it.
func (e *ValueError) Fix() string {
	if e.Env != "" {
		return "fix or unset " + e.Env
	}
	return fmt.Sprintf("fix %s in %s", e.Flag.Name, e.Path)
}

func (e *ValueError) Error() string { return e.Where() + ": " + e.Err.Error() }

func (e *ValueError) Unwrap() error { return e.Err }

// sourceKey is the annotation Apply leaves on the flags it sets.
const sourceKey = "rgrid-config-source"

// Source says where Apply took a flag's value from: "environment
// variable RGRID_…" or "config file …"; "" for a flag given on the
// command line or left at its default.
func Source(fl *pflag.Flag) string {
	if s := fl.Annotations[sourceKey]; len(s) > 0 {
		return s[0]
	}
	return ""
}

// Apply fills every flag the user did not set from the environment, then
// from the file. The first value a flag refuses is returned as a
// *ValueError naming its source.
func Apply(flags *pflag.FlagSet, f *File, getenv func(string) string) error {
	var first *ValueError
	set := func(fl *pflag.Flag, v, source string, fail *ValueError) {
		err := flags.Set(fl.Name, v)
		var ive *pflag.InvalidValueError
		if errors.As(err, &ive) {
			err = errors.Unwrap(ive) // the flag's own words, not pflag's wrapping
		}
		if err != nil {
			if first == nil {
				fail.Flag, fail.Err = fl, err
				first = fail
			}
			return
		}
		_ = flags.SetAnnotation(fl.Name, sourceKey, []string{source})
	}
	flags.VisitAll(func(fl *pflag.Flag) {
		if fl.Changed || fl.Name == "help" || fl.Name == "config" {
			return
		}
		env := EnvName(fl.Name)
		if v := getenv(env); v != "" {
			set(fl, v, "environment variable "+env, &ValueError{Env: env, Raw: v})
			return
		}
		if f == nil {
			return
		}
		if v, ok := f.Values[fl.Name]; ok {
			set(fl, fileValue(v), "config file "+f.Path, &ValueError{Path: f.Path, Raw: v})
		}
	})
	if first != nil {
		return first
	}
	return nil
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

// CacheDir is where rgrid keeps what it can always make again (the hashes
// of files it sent): $RGRID_CACHE_DIR, else the system's user cache
// directory (~/.cache/rgrid on Linux, ~/Library/Caches/rgrid on macOS,
// %LocalAppData%\rgrid on Windows).
func CacheDir() (string, error) {
	if d := os.Getenv("RGRID_CACHE_DIR"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find the cache directory: %w (set RGRID_CACHE_DIR)", err)
	}
	return filepath.Join(d, "rgrid"), nil
}
