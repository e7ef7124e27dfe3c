package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

// A bad [[pools]] table stops rgrid server before it touches the
// database, naming the pool, the key and the fix.
func TestServerRefusesABadPool(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "rgrid.db")
	for _, tc := range []struct{ name, text, want string }{
		{"min over max", "[[pools]]\nname = \"cpu\"\nprovider = \"docker\"\nmin = 4\nmax = 3\nslots = 1\ncpus = 1\nmemory = \"1GiB\"\n[pools.docker]\nimage = \"i\"\nnetwork = \"n\"\nserver_url = \"http://s\"\n", "min <= max"},
		{"unknown provider", "[[pools]]\nname = \"cpu\"\nprovider = \"aws\"\nmax = 3\n", `use "hetzner" or "docker"`},
		{"hetzner without its table", "[[pools]]\nname = \"cpu\"\nprovider = \"hetzner\"\nmax = 3\n", "[pools.hetzner]"},
	} {
		code, _, stderr := runCLIWithConfig(t, tc.text, "server", "--db", db)
		if code == 0 || !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, "fix [[pools]] in") {
			t.Errorf("%s: exit %d, stderr %q; want %q and the file to fix", tc.name, code, stderr, tc.want)
		}
	}
}
