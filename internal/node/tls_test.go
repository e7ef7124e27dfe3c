package node

import (
	"bytes"
	"crypto/tls"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rgrid/rgrid/internal/testcerts"
)

func TestIsLoopback(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "127.1.2.3:80": true, "[::1]:8080": true, "localhost:8080": true, "LocalHost:1": true,
		"0.0.0.0:8080": false, ":8080": false, "[::]:8080": false, "10.0.0.5:8080": false,
		"control.example:8080": false, "127.0.0.1": false, "": false,
	} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

// logBuffer is a logger whose text output the test reads.
func logBuffer() (*slog.Logger, *bytes.Buffer) {
	var b bytes.Buffer
	return slog.New(slog.NewTextHandler(&b, nil)), &b
}

// wantUsageErr checks that err is a usage error whose message and hint
// hold msg and hint.
func wantUsageErr(t *testing.T, what string, err error, msg, hint string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || !e.Usage || !strings.Contains(e.Message, msg) || !strings.Contains(e.Hint, hint) {
		t.Errorf("%s: err = %#v, want a usage error with %q and the hint %q", what, err, msg, hint)
	}
}

// Plain HTTP on an address other machines reach is refused unless
// --insecure-http allows it, which is warned of; loopback needs nothing.
func TestServerTLSPlainHTTP(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"0.0.0.0:8080", ":8080", "192.0.2.1:8080", "control.example:8080"} {
		log, out := logBuffer()
		conf, err := serverTLS(ServerTLS{}, addr, log)
		wantUsageErr(t, addr, err, "--listen "+addr+" is reachable from other machines", "--tls-cert FILE --tls-key FILE")
		if conf != nil || out.Len() != 0 {
			t.Errorf("%s: config %v, log %q", addr, conf, out)
		}

		log, out = logBuffer()
		conf, err = serverTLS(ServerTLS{InsecureHTTP: true}, addr, log)
		if err != nil || conf != nil || !strings.Contains(out.String(), "level=WARN") || !strings.Contains(out.String(), "--insecure-http") {
			t.Errorf("%s with --insecure-http: config %v, err %v, log %q; want plain HTTP and a warning", addr, conf, err, out)
		}
	}
	for _, addr := range []string{"127.0.0.1:8080", "[::1]:0", "localhost:8080"} {
		log, out := logBuffer()
		if conf, err := serverTLS(ServerTLS{}, addr, log); err != nil || conf != nil || out.Len() != 0 {
			t.Errorf("%s: config %v, err %v, log %q; want plain HTTP, silently", addr, conf, err, out)
		}
	}
}

func TestServerTLSFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := testcerts.New(t, "team CA")
	cert, key := ca.Server(t, time.Time{}, time.Time{}, "127.0.0.1").Write(t, dir)
	other := t.TempDir()
	_, otherKey := ca.Server(t, time.Time{}, time.Time{}, "127.0.0.1").Write(t, other)
	expired := t.TempDir()
	oldCert, oldKey := ca.Server(t, time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour), "127.0.0.1").Write(t, expired)
	log, _ := logBuffer()

	_, err := serverTLS(ServerTLS{CertFile: cert}, "0.0.0.0:8443", log)
	wantUsageErr(t, "cert alone", err, "--tls-cert given without --tls-key", "pass --tls-key too")
	_, err = serverTLS(ServerTLS{KeyFile: key}, "127.0.0.1:8443", log)
	wantUsageErr(t, "key alone", err, "--tls-key given without --tls-cert", "pass --tls-cert too")
	_, err = serverTLS(ServerTLS{CertFile: cert, KeyFile: key, InsecureHTTP: true}, "0.0.0.0:8443", log)
	wantUsageErr(t, "TLS and --insecure-http", err, "contradict", "drop --insecure-http")
	_, err = serverTLS(ServerTLS{CertFile: cert, KeyFile: otherKey}, "0.0.0.0:8443", log)
	wantUsageErr(t, "another certificate's key", err, "TLS certificate "+cert+", key "+otherKey+": tls: private key does not match", "do not make a pair")
	_, err = serverTLS(ServerTLS{CertFile: filepath.Join(dir, "nope.pem"), KeyFile: key}, "0.0.0.0:8443", log)
	wantUsageErr(t, "a missing file", err, "nope.pem: no such file", "pass --tls-cert the PEM certificate")
	_, err = serverTLS(ServerTLS{CertFile: oldCert, KeyFile: oldKey}, "0.0.0.0:8443", log)
	wantUsageErr(t, "an expired certificate", err, "the certificate expired at", "--tls-cert")

	conf, err := serverTLS(ServerTLS{CertFile: cert, KeyFile: key}, "0.0.0.0:8443", log)
	if err != nil || conf == nil || conf.MinVersion != tls.VersionTLS12 || conf.GetCertificate == nil {
		t.Fatalf("a good pair: config %+v, err %v", conf, err)
	}
	c, err := conf.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil || c.Leaf == nil || c.Leaf.IPAddresses[0].String() != "127.0.0.1" {
		t.Errorf("served %+v, %v", c, err)
	}
}

// A renewed pair is served once the files change, looked at once per
// interval at most; a half-written renewal keeps the old pair and is
// warned of once.
func TestCertificateReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := testcerts.New(t, "team CA")
	first := ca.Server(t, time.Time{}, time.Time{}, "first.example")
	cert, key := first.Write(t, dir)
	now := time.Now()
	clock := func() time.Time { return now }
	log, out := logBuffer()
	r, err := newCertReloader(cert, key, clock, log)
	if err != nil {
		t.Fatal(err)
	}
	served := func() string {
		t.Helper()
		c, err := r.getCertificate(&tls.ClientHelloInfo{})
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf.DNSNames[0]
	}
	// stamp gives both files a modification time of their own, as a
	// renewal seconds later would.
	at := now
	stamp := func() {
		t.Helper()
		at = at.Add(time.Minute)
		for _, f := range []string{cert, key} {
			if err := os.Chtimes(f, at, at); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := served(); got != "first.example" {
		t.Fatalf("served %s", got)
	}

	second := ca.Server(t, time.Time{}, time.Time{}, "second.example")
	second.Write(t, dir)
	stamp()
	now = now.Add(time.Second)
	if got := served(); got != "first.example" {
		t.Errorf("within the interval: served %s, want the files not looked at yet", got)
	}
	now = now.Add(certCheckInterval)
	if got := served(); got != "second.example" {
		t.Errorf("after a renewal: served %s", got)
	}
	if !strings.Contains(out.String(), "reloaded the TLS certificate") {
		t.Errorf("no reload logged:\n%s", out)
	}

	// Half a renewal: a new certificate beside the old key.
	if err := os.WriteFile(cert, ca.Server(t, time.Time{}, time.Time{}, "third.example").CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	stamp()
	for range 2 {
		now = now.Add(certCheckInterval)
		if got := served(); got != "second.example" {
			t.Errorf("a mismatched pair: served %s, want the one before", got)
		}
	}
	if n := strings.Count(out.String(), "do not load"); n != 1 {
		t.Errorf("warned %d times of the mismatched pair, want once:\n%s", n, out)
	}
}
