package node

import (
	"crypto/sha256"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rgrid/rgrid/internal/database"
	"github.com/rgrid/rgrid/internal/runtimes"
)

// rgrid dev takes no tokens: it refuses an address other machines reach.
func TestDevServesLoopbackOnly(t *testing.T) {
	t.Setenv("RGRID_DATA_DIR", t.TempDir())
	err := RunDev(t.Context(), DevConfig{DataDir: t.TempDir(), Listen: "0.0.0.0:0"}, func(string, string) {
		t.Error("rgrid dev served on 0.0.0.0")
	})
	if err == nil || !strings.Contains(err.Error(), "only on loopback") {
		t.Fatalf("rgrid dev --listen 0.0.0.0:0: %v", err)
	}
}

// A server with no credentials refuses an address other machines reach,
// even over plain HTTP allowed by --insecure-http: anyone reaching it
// would be an admin.
func TestServerRefusesOpenModeBeyondLoopback(t *testing.T) {
	t.Setenv("RGRID_DATA_DIR", t.TempDir())
	rt, _ := runtimes.New(nil)
	err := RunServer(t.Context(), ServerConfig{DB: filepath.Join(t.TempDir(), "rgrid.db"), Migrate: true,
		Listen: "0.0.0.0:0", TLS: ServerTLS{InsecureHTTP: true}, Runtimes: rt, Log: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), "open mode") {
		t.Fatalf("open server on 0.0.0.0: %v", err)
	}
}

// --bootstrap-token-file: a missing file gets a new admin token (0600)
// that the server then takes; a second start takes the same one.
func TestBootstrapTokenFile(t *testing.T) {
	t.Setenv("RGRID_DATA_DIR", t.TempDir())
	db := filepath.Join(t.TempDir(), "rgrid.db")
	file := filepath.Join(t.TempDir(), "sub", "admin.token")
	st, err := database.Open(t.Context(), db, database.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	log := slog.New(slog.DiscardHandler)
	if err := bootstrapFromFile(t.Context(), st, file, log); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", fi, err)
	}
	b, _ := os.ReadFile(file)
	secret := strings.TrimSpace(string(b))
	if err := bootstrapFromFile(t.Context(), st, file, log); err != nil {
		t.Fatal(err)
	}
	if n, _ := st.CountTokens(t.Context()); n != 1 {
		t.Errorf("%d tokens after two starts, want 1", n)
	}
	tok, err := st.TokenByHash(t.Context(), sha(secret))
	if err != nil || tok.Kind != "user" {
		t.Fatalf("the file's token is not stored: %v %+v", err, tok)
	}
	u, err := st.GetUser(t.Context(), tok.UserID)
	if err != nil || u.Role != "admin" {
		t.Errorf("the bootstrap token's user: %+v %v", u, err)
	}
	if err := os.WriteFile(file, []byte("not a token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := bootstrapFromFile(t.Context(), st, file, log); err == nil || !strings.Contains(err.Error(), "not an RGrid token") {
		t.Errorf("a file without a token: %v", err)
	}
}

func sha(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}
