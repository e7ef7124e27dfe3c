package cli

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/rgrid/rgrid/internal/config"
)

func TestSetConfigKeys(t *testing.T) {
	t.Parallel()
	login := []configValue{{"server", "https://control:8443"}, {"token", "rgu_new"}}
	for _, tc := range []struct {
		name, in, want string
	}{
		{"an empty file", "", "server = \"https://control:8443\"\ntoken = \"rgu_new\"\n"},
		{"other keys and tables are kept, the new keys go before the tables",
			"# mine\nslots = 4\n\n# a mirror\n[[runtimes]]\nname = \"python3.11\"\nimage = \"x\"\n",
			"# mine\nslots = 4\nserver = \"https://control:8443\"\ntoken = \"rgu_new\"\n\n# a mirror\n[[runtimes]]\nname = \"python3.11\"\nimage = \"x\"\n"},
		{"the old values are replaced in place",
			"token = 'rgu_old'   # laptop\nslots = 4\n  \"server\" = \"http://old\"\n",
			"token = \"rgu_new\"\nslots = 4\nserver = \"https://control:8443\"\n"},
		{"a last line without a newline", "slots = 4", "slots = 4\nserver = \"https://control:8443\"\ntoken = \"rgu_new\"\n"},
		{"a key of a table is not the top-level one",
			"[[runtimes]]\nname = \"x\"\ntoken = \"no\"\n",
			"server = \"https://control:8443\"\ntoken = \"rgu_new\"\n[[runtimes]]\nname = \"x\"\ntoken = \"no\"\n"},
		{"a key that only starts like one", "tokens = 1\n", "tokens = 1\nserver = \"https://control:8443\"\ntoken = \"rgu_new\"\n"},
	} {
		got, err := setConfigKeys(tc.in, login)
		if err != nil || got != tc.want {
			t.Errorf("%s: got %q, %v\nwant %q", tc.name, got, err, tc.want)
		}
	}

	// What the lines alone cannot change safely is refused, not written.
	for _, in := range []string{
		"token = \"\"\"\nrgu_old\n\"\"\"\n", // a multi-line string
		"slots = [\n[1],\n]\n",              // a line of a top-level array looks like a table
		"slots = \n",                        // not TOML
	} {
		if got, err := setConfigKeys(in, login); err == nil {
			t.Errorf("%q: got %q, want an error", in, got)
		}
	}
}

// rgrid login's file: made 0600 in a 0700 directory, other settings kept,
// a second login replacing the first's token, an open mode tightened.
func TestSaveConfigValues(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "xdg", "rgrid")
	path := filepath.Join(dir, "config.toml")
	notes, err := saveConfigValues(path, []configValue{{"server", "https://a:8443"}, {"token", "rgu_first"}})
	if err != nil || len(notes) != 0 {
		t.Fatalf("first login: %v %v", notes, err)
	}
	wantMode(t, dir, 0o700)
	wantMode(t, path, 0o600)

	if err := os.WriteFile(path, []byte("slots = 4\n"+mustRead(t, path)+"[[runtimes]]\nname = \"python3.11\"\nimage = \"m/py\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	notes, err = saveConfigValues(path, []configValue{{"server", "https://b:8443"}, {"token", "rgu_second"}})
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && (len(notes) != 1 || !strings.Contains(notes[0], "mode 0644") || !strings.Contains(notes[0], "0600")) {
		t.Errorf("notes %q: want one saying the mode was 0644 and is 0600", notes)
	}
	wantMode(t, path, 0o600)
	var got struct {
		Server, Token string
		Slots         int
		Runtimes      []struct{ Name, Image string }
	}
	text := mustRead(t, path)
	if _, err := toml.Decode(text, &got); err != nil {
		t.Fatal(err)
	}
	if got.Server != "https://b:8443" || got.Token != "rgu_second" || got.Slots != 4 ||
		len(got.Runtimes) != 1 || got.Runtimes[0].Image != "m/py" || strings.Contains(text, "rgu_first") {
		t.Errorf("after the second login:\n%s", text)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("files left beside the config: %v", entries)
	}
}

func wantMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	if runtime.GOOS == "windows" {
		return
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != want {
		t.Errorf("%s: mode %04o, want %04o", path, got, want)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The token rgrid login saved is the client's: rgrid server does not take
// it for its shared --token.
func TestServerIgnoresTheLoginToken(t *testing.T) {
	t.Parallel()
	root := newRoot(&env{})
	f := &config.File{Path: "config.toml", Values: map[string]any{"token": "rgu_mine", "server": "https://a"}}
	for _, tc := range []struct {
		cmd       []string
		wantToken bool
	}{{[]string{"server"}, false}, {[]string{"status"}, true}, {[]string{"worker"}, true}, {[]string{"token", "list"}, true}} {
		cmd, _, err := root.Find(tc.cmd)
		if err != nil {
			t.Fatal(err)
		}
		_, got := settingsFor(cmd, f).Values["token"]
		if got != tc.wantToken {
			t.Errorf("rgrid %s reads the file's token: %v, want %v", strings.Join(tc.cmd, " "), got, tc.wantToken)
		}
	}
	if _, ok := f.Values["token"]; !ok {
		t.Error("settingsFor changed the file it was given")
	}
}
