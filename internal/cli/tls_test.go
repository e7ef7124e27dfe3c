package cli

import (
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rgrid/rgrid/internal/testcerts"
)

// rgrid server refuses, before it opens any database, to serve plain
// HTTP where other machines reach it, and TLS flags that do not go
// together; the settings come from flags, the environment or the file.
func TestServerRefusesPlainHTTPAndHalfTLS(t *testing.T) {
	db := filepath.Join(t.TempDir(), "rgrid.db")
	for _, listen := range []string{"0.0.0.0:8080", ":8080"} {
		code, _, stderr := runCLI(t, "server", "--db", db, "--listen", listen)
		wantUsage(t, code, stderr, "--listen "+listen+" is reachable from other machines", "--insecure-http")
	}
	code, _, stderr := runCLI(t, "server", "--db", db, "--tls-cert", "server.pem")
	wantUsage(t, code, stderr, "--tls-cert given without --tls-key", "pass --tls-key too")
	code, _, stderr = runCLIWithConfig(t, "insecure-http = true\ntls-key = \"k.pem\"\ntls-cert = \"c.pem\"\n", "server", "--db", db)
	wantUsage(t, code, stderr, "--insecure-http and --tls-cert contradict each other", "drop --insecure-http")
	t.Setenv("RGRID_TLS_KEY", "server-key.pem")
	code, _, stderr = runCLI(t, "server", "--db", db)
	wantUsage(t, code, stderr, "--tls-key given without --tls-cert", "pass --tls-cert too")
	if _, err := os.Stat(db); err == nil {
		t.Errorf("the database %s was made by a server that refused to start", db)
	}
}

// A server under a private CA: without --ca-cert the error names the
// problem and the flag; with it (flag, environment or file) the command
// reaches the server.
func TestCACertFlag(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.New(t, "team CA")
	leaf := ca.Server(t, time.Time{}, time.Time{}, "127.0.0.1")
	cert, err := tls.X509KeyPair(leaf.CertPEM, leaf.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"code":"not_found","message":"job job_x not found","hint":"check the id"}`))
	}))
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.StartTLS()
	defer ts.Close()
	caFile := ca.WriteCA(t, dir)

	code, _, stderr := runCLI(t, "status", "--server", ts.URL, "job_x")
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if code == 0 || len(lines) != 2 ||
		lines[0] != "Error: the rgrid server at "+ts.URL+" has a certificate signed by a CA this machine does not trust" ||
		!strings.HasPrefix(lines[1], "Hint: pass --ca-cert FILE") {
		t.Errorf("without --ca-cert: exit %d, stderr:\n%s", code, stderr)
	}

	code, _, stderr = runCLI(t, "status", "--server", ts.URL, "--ca-cert", caFile, "job_x")
	wantUsage(t, code, stderr, "job job_x not found", "check the id")
	code, _, stderr = runCLIWithConfig(t, "ca-cert = \""+caFile+"\"\n", "status", "--server", ts.URL, "job_x")
	wantUsage(t, code, stderr, "job job_x not found", "check the id")

	missing := filepath.Join(dir, "nope.pem")
	for _, cmd := range []string{"status", "worker"} {
		args := []string{cmd, "--server", ts.URL, "--ca-cert", missing}
		if cmd == "status" {
			args = append(args, "job_x")
		}
		code, _, stderr = runCLI(t, args...)
		wantUsage(t, code, stderr, "CA certificate "+missing+": open "+missing+": no such file", "the PEM certificate of the CA")
	}
	t.Setenv("RGRID_CA_CERT", leafFile(t, dir, leaf.KeyPEM))
	code, _, stderr = runCLI(t, "status", "--server", ts.URL, "job_x")
	wantUsage(t, code, stderr, "no PEM certificate in it", "--ca-cert")
}

func leafFile(t *testing.T, dir string, b []byte) string {
	t.Helper()
	path := filepath.Join(dir, "key-not-ca.pem")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
