package cli

import (
	"log/slog"
	"net"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rgrid/rgrid/internal/database"
	"github.com/rgrid/rgrid/internal/runtimes"
	"github.com/rgrid/rgrid/internal/server"
)

// A server list, from --server or the config file, reaches the replica
// that answers when the first cannot be connected to.
func TestServerListFromFlagAndConfigFile(t *testing.T) {
	t.Parallel()
	st, err := database.Open(t.Context(), filepath.Join(t.TempDir(), "rgrid.db"), database.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rt, _ := runtimes.New(nil)
	ts := httptest.NewServer(server.New(st, rt, slog.New(slog.DiscardHandler), server.Options{}).Handler())
	t.Cleanup(ts.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()

	code, stdout, stderr := runCLI(t, "runtimes", "--server", dead+","+ts.URL)
	if code != 0 || !strings.Contains(stdout, "python") {
		t.Errorf("--server list: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = runCLIWithConfig(t, "server = [\""+dead+"\", \""+ts.URL+"\"]\n", "runtimes")
	if code != 0 || !strings.Contains(stdout, "python") {
		t.Errorf("config file list: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	code, _, stderr = runCLI(t, "runtimes", "--server", ts.URL+",ftp://x")
	wantUsage(t, code, stderr, `server URL "ftp://x" is not an http:// or https:// address`, "--server")
}
