package cli

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/config"
	"github.com/rgrid/rgrid/internal/node"
)

// rgrid login: check a token against a server and keep both in the
// config file.

// createsConfig marks a command that may name a config file that does not
// exist yet (it writes one).
const createsConfig = "rgrid-creates-config"

func newLoginCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "login SERVER",
		Short: "Check a token against a server and save both in the config file",
		Long: `Check an API token against SERVER and save the two as server and token in the
config file (--config, RGRID_CONFIG, else $XDG_CONFIG_HOME/rgrid/config.toml),
which is made with mode 0600; its other settings are kept. Every later
command then talks to SERVER as you.

The token comes from --token (or RGRID_TOKEN), else from standard input: asked
for without echo on a terminal, else read as one line. It is never printed.`,
		Example: `  rgrid login https://control:8443
  rgrid login https://control:8443 --ca-cert /etc/rgrid/ca.pem
  pass show rgrid | rgrid login https://control:8443`,
		Annotations: map[string]string{createsConfig: "true"},
		Args:        cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.login(cmd, args[0])
		},
	}
	cmd.Flags().String("token", "", "the API token (env RGRID_TOKEN); default: asked for, or read from standard input")
	addCACertFlag(cmd.Flags(), nil)
	return cmd
}

func (e *env) login(cmd *cobra.Command, server string) error {
	token, err := e.loginToken(cmd, server)
	if err != nil {
		return err
	}
	c, err := node.NewClient(server, token, e.caCert)
	if err != nil {
		return err
	}
	w, err := c.Whoami(cmd.Context())
	var ae *client.Error
	if errors.As(err, &ae) && ae.Status == 401 {
		return userErr(ae.Hint, "%s refused the token: %s", c.BaseURL(), ae.Message)
	}
	if err != nil {
		return err
	}
	who := ""
	switch w.Kind {
	case "user":
		who = fmt.Sprintf("as %s (%s)", w.User, w.Role)
	case "legacy":
		who = "with its shared --token (deprecated: ask an admin for a user token), acting as an admin"
	case "worker":
		return userErr(`give it to "rgrid worker --token" (or RGRID_TOKEN); log in with a user's token ("rgrid admin user create", "rgrid token create")`,
			"%s is a worker token: it works for rgrid worker only", w.Token)
	case "open":
		return userErr(`make its first admin token with "rgrid admin bootstrap --db …" on the server machine (or start it with --bootstrap-token-file), and log in with that`,
			"%s is open (it has no users or tokens yet), so it takes any token: there is nothing to log in to", c.BaseURL())
	default:
		return platformErr("upgrade rgrid", "%s answered whoami with kind %q, which this rgrid does not know", c.BaseURL(), w.Kind)
	}
	values := []configValue{{"server", c.BaseURL()}, {"token", token}}
	if fl := cmd.Flags().Lookup("ca-cert"); fl.Changed && config.Source(fl) == "" && e.caCert != "" {
		abs, err := filepath.Abs(e.caCert)
		if err != nil {
			return userErr("pass --ca-cert an absolute path", "--ca-cert %s: %v", e.caCert, err)
		}
		values = append(values, configValue{"ca-cert", abs})
	}
	path := e.cfg.Path
	if path == "" {
		return userErr("name a config file with --config or RGRID_CONFIG", "no place for the config file: this user has no home directory")
	}
	notes, err := saveConfigValues(path, values)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "logged in to %s %s; saved in %s\n", c.BaseURL(), who, path)
	for _, n := range notes {
		fmt.Fprintln(e.stderr, n)
	}
	for _, v := range values {
		env := config.EnvName(v.key)
		if got := os.Getenv(env); got != "" && got != v.value {
			fmt.Fprintf(e.stderr, "%s is set, and wins over the config file: unset it to use this login.\n", env)
		}
	}
	return nil
}

// loginToken is the token to log in with: --token or RGRID_TOKEN (not
// the config file's: that is the old login), else standard input.
func (e *env) loginToken(cmd *cobra.Command, server string) (string, error) {
	if fl := cmd.Flags().Lookup("token"); fl.Changed && !strings.HasPrefix(config.Source(fl), "config file") {
		if t := strings.TrimSpace(fl.Value.String()); t != "" {
			return t, nil
		}
	}
	if e.stdin == nil {
		return "", userErr("pass --token TOKEN", "no token given")
	}
	var raw []byte
	var err error
	if fd := int(e.stdin.Fd()); term.IsTerminal(fd) {
		fmt.Fprintf(e.stderr, "Token for %s: ", server)
		raw, err = term.ReadPassword(fd)
		fmt.Fprintln(e.stderr)
	} else {
		raw, err = bufio.NewReader(io.LimitReader(e.stdin, 4096)).ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			err = nil
		}
	}
	if err != nil {
		return "", userErr("pass --token TOKEN", "read the token from standard input: %v", err)
	}
	t := string(bytes.TrimSpace(raw))
	if t == "" {
		return "", userErr("paste the token when asked, pipe it in, or pass --token TOKEN", "no token given")
	}
	return t, nil
}

// settingsFor is the config file as cmd reads it. The file's token is
// the user's own (rgrid login writes it there): "rgrid server" never takes
// it for its deprecated shared --token, which would let that token act as
// an admin and a worker on the server.
func settingsFor(cmd *cobra.Command, f *config.File) *config.File {
	if _, ok := f.Values["token"]; !ok || cmd.Name() != "server" || cmd.Parent() != cmd.Root() {
		return f
	}
	c := *f
	c.Values = maps.Clone(f.Values)
	delete(c.Values, "token")
	return &c
}

type configValue struct{ key, value string }

// saveConfigValues sets top-level string keys of the TOML config file at
// path, making the file (mode 0600, in a directory made 0700) if need be.
// Everything else in the file is kept as written: each key's line is
// replaced, or added after the last top-level setting; the result is
// parsed again and must hold the same settings but these. The file is
// replaced whole, so it is never seen half written, and with mode 0600;
// notes say what changed besides the keys.
func saveConfigValues(path string, values []configValue) (notes []string, err error) {
	target := path
	if resolved, err := filepath.EvalSymlinks(path); err == nil {
		target = resolved // a config file kept elsewhere (dotfiles) stays there
	}
	old, err := os.ReadFile(target)
	var mode fs.FileMode
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, userErr("make it readable, or name another with --config", "read config file %s: %v", path, err)
	default:
		st, err := os.Stat(target)
		if err != nil {
			return nil, userErr("name another with --config", "config file %s: %v", path, err)
		}
		mode = st.Mode().Perm()
	}
	text, err := setConfigKeys(string(old), values)
	if err != nil {
		return nil, userErr(fmt.Sprintf("fix %s (or move it aside) and log in again", path), "config file %s: %v", path, err)
	}
	dir := filepath.Dir(target)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, userErr("name a config file in a directory you may write, with --config", "make %s: %v", dir, err)
	}
	if err := writeFileAtomic(target, []byte(text)); err != nil {
		return nil, userErr("name a config file in a directory you may write, with --config", "write config file %s: %v", path, err)
	}
	if runtime.GOOS != "windows" && mode&0o077 != 0 {
		notes = append(notes, fmt.Sprintf("%s was open to others (mode %04o); it now holds a token, so it is 0600.", path, mode))
	}
	return notes, nil
}

// writeFileAtomic writes data to a new file beside path (mode 0600) and
// renames it over path.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // gone already once renamed
	if err := f.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// tableHeader is a line opening a TOML table or array of tables.
var tableHeader = regexp.MustCompile(`^\s*\[`)

// setConfigKeys returns text with each top-level key set to its string
// value.
func setConfigKeys(text string, values []configValue) (string, error) {
	before := map[string]any{}
	if _, err := toml.Decode(text, &before); err != nil {
		return "", err
	}
	lines := strings.SplitAfter(text, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	top := len(lines) // the lines before the first table are top level
	for i, l := range lines {
		if tableHeader.MatchString(l) {
			top = i
			break
		}
	}
	for _, v := range values {
		line, err := tomlLine(v)
		if err != nil {
			return "", err
		}
		keyLine := regexp.MustCompile(`^\s*("?)` + regexp.QuoteMeta(v.key) + `("?)\s*=`)
		found := false
		for i := range top {
			if m := keyLine.FindStringSubmatch(lines[i]); m != nil && m[1] == m[2] {
				lines[i], found = line, true
				break
			}
		}
		if found {
			continue
		}
		at := 0 // after the last top-level setting, else at the start
		for i := top - 1; i >= 0; i-- {
			if t := strings.TrimSpace(lines[i]); t != "" && !strings.HasPrefix(t, "#") {
				at = i + 1
				break
			}
		}
		if at > 0 && !strings.HasSuffix(lines[at-1], "\n") {
			lines[at-1] += "\n"
		}
		lines = append(lines[:at], append([]string{line}, lines[at:]...)...)
		top++
	}
	out := strings.Join(lines, "")
	after := map[string]any{}
	if _, err := toml.Decode(out, &after); err != nil {
		return "", fmt.Errorf("could not set %s in it safely: %v", keyList(values), err)
	}
	for _, v := range values {
		if after[v.key] != v.value {
			return "", fmt.Errorf("could not set %s in it safely", v.key)
		}
		delete(before, v.key)
		delete(after, v.key)
	}
	if !reflect.DeepEqual(before, after) {
		return "", fmt.Errorf("could not set %s in it without changing its other settings", keyList(values))
	}
	return out, nil
}

// tomlLine is `key = "value"` as TOML writes it.
func tomlLine(v configValue) (string, error) {
	var b strings.Builder
	if err := toml.NewEncoder(&b).Encode(map[string]string{v.key: v.value}); err != nil {
		return "", err
	}
	return b.String(), nil
}

func keyList(values []configValue) string {
	keys := make([]string, len(values))
	for i, v := range values {
		keys[i] = v.key
	}
	return strings.Join(keys, ", ")
}
