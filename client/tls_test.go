package client_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/testcerts"
)

// tlsServer serves h over TLS with leaf's certificate, at most TLS
// version maxVersion (0: any).
func tlsServer(t *testing.T, leaf testcerts.Leaf, maxVersion uint16, h http.Handler) *httptest.Server {
	t.Helper()
	cert, err := tls.X509KeyPair(leaf.CertPEM, leaf.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(h)
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MaxVersion: maxVersion}
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the point
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return ts
}

var healthOK = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"status":"ok"}`))
})

func withCA(t *testing.T, url string, pem []byte) *client.Client {
	t.Helper()
	c, err := client.New(url, "")
	if err != nil {
		t.Fatal(err)
	}
	if pem == nil {
		return c
	}
	if c, err = c.WithCACert(pem); err != nil {
		t.Fatal(err)
	}
	return c
}

// A server whose certificate a private CA signed is reached with that CA
// and refused without it, or with another CA, as a certificate error.
func TestCACertVerifiesTheServer(t *testing.T) {
	t.Parallel()
	ca, other := testcerts.New(t, "team CA"), testcerts.New(t, "another CA")
	ts := tlsServer(t, ca.Server(t, time.Time{}, time.Time{}, "127.0.0.1"), 0, healthOK)

	if h, err := withCA(t, ts.URL, ca.PEM).Health(t.Context()); err != nil || h.Status != "ok" {
		t.Fatalf("with the CA: %+v, %v", h, err)
	}
	for name, pem := range map[string][]byte{"system roots": nil, "another CA": other.PEM} {
		_, err := withCA(t, ts.URL, pem).Health(t.Context())
		var ue *client.UnreachableError
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &ue) || !errors.As(err, &unknown) || !client.IsCertificateError(err) {
			t.Errorf("%s: err = %v, want an UnreachableError for an unknown authority", name, err)
		}
	}
}

// A certificate for another name, or an expired one, is a certificate
// error too, each with its own cause.
func TestCertificateForAnotherNameOrExpired(t *testing.T) {
	t.Parallel()
	ca := testcerts.New(t, "team CA")
	other := tlsServer(t, ca.Server(t, time.Time{}, time.Time{}, "control.example"), 0, healthOK)
	_, err := withCA(t, other.URL, ca.PEM).Health(t.Context())
	var host x509.HostnameError
	if !errors.As(err, &host) || !client.IsCertificateError(err) {
		t.Errorf("another name: err = %v, want a HostnameError", err)
	}
	expired := tlsServer(t, ca.Server(t, time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour), "127.0.0.1"), 0, healthOK)
	_, err = withCA(t, expired.URL, ca.PEM).Health(t.Context())
	var invalid x509.CertificateInvalidError
	if !errors.As(err, &invalid) || invalid.Reason != x509.Expired || !client.IsCertificateError(err) {
		t.Errorf("expired: err = %v, want an expired CertificateInvalidError", err)
	}
}

// Nothing under TLS 1.2 is spoken, with or without a CA given.
func TestTLSBelow12IsRefused(t *testing.T) {
	t.Parallel()
	ca := testcerts.New(t, "team CA")
	ts := tlsServer(t, ca.Server(t, time.Time{}, time.Time{}, "127.0.0.1"), tls.VersionTLS11, healthOK)
	for _, pem := range [][]byte{ca.PEM, nil} {
		_, err := withCA(t, ts.URL, pem).Health(t.Context())
		var ue *client.UnreachableError
		if !errors.As(err, &ue) || client.IsCertificateError(err) {
			t.Errorf("err = %v, want an UnreachableError that is no certificate error", err)
		}
	}
}

// A presigned URL on another host is verified against the system roots
// plus the CA: a blob store under the same private CA is reached.
func TestCACertAlsoTrustedForOtherHosts(t *testing.T) {
	t.Parallel()
	ca := testcerts.New(t, "team CA")
	leaf := ca.Server(t, time.Time{}, time.Time{}, "127.0.0.1")
	got := make(chan string, 1)
	store := tlsServer(t, leaf, 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- string(b)
	}))
	ts := tlsServer(t, leaf, 0, healthOK)
	c := withCA(t, ts.URL, ca.PEM)
	up := client.BlobUpload{Method: http.MethodPut, URL: store.URL + "/bucket/blob?sig=x"}
	up.Size = 5
	if err := c.UploadBlob(t.Context(), up, strings.NewReader("hello")); err != nil {
		t.Fatalf("upload to the store: %v", err)
	}
	if b := <-got; b != "hello" {
		t.Errorf("the store got %q", b)
	}
}

// A plain-HTTP request to a TLS server is answered 400 by Go's server;
// the error says to use https://.
func TestHTTPToAnHTTPSServer(t *testing.T) {
	t.Parallel()
	ca := testcerts.New(t, "team CA")
	ts := tlsServer(t, ca.Server(t, time.Time{}, time.Time{}, "127.0.0.1"), 0, healthOK)
	_, err := withCA(t, "http://"+strings.TrimPrefix(ts.URL, "https://"), nil).Health(t.Context())
	var e *client.Error
	if !errors.As(err, &e) || e.Status != http.StatusBadRequest || !strings.Contains(e.Hint, "https://") {
		t.Errorf("err = %#v, want a 400 whose hint names https://", err)
	}
}

func TestCACertWithoutCertificate(t *testing.T) {
	t.Parallel()
	c, err := client.New("https://127.0.0.1:1", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WithCACert([]byte("not a certificate\n")); !errors.Is(err, client.ErrNoCACert) {
		t.Errorf("err = %v, want ErrNoCACert", err)
	}
}
