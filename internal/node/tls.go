package node

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/rgrid/rgrid/client"
)

// ServerTLS is how rgrid server secures its API.
type ServerTLS struct {
	// CertFile and KeyFile are PEM files: the server's certificate (with
	// any intermediates after it) and its private key. Both or neither.
	CertFile, KeyFile string
	// InsecureHTTP lets the server serve plain HTTP on an address other
	// machines reach (behind a TLS-terminating proxy, say); it warns at
	// every start. Loopback needs no such permission.
	InsecureHTTP bool
}

// certCheckInterval is how often, at most, the certificate files are
// looked at for a renewal.
const certCheckInterval = 5 * time.Second

// serverTLS checks t against the listen address and returns the TLS
// configuration to serve with, nil for plain HTTP (loopback, or allowed by
// InsecureHTTP, which is warned of).
func serverTLS(t ServerTLS, listen string, log *slog.Logger) (*tls.Config, error) {
	switch {
	case (t.CertFile == "") != (t.KeyFile == ""):
		given, missing := "--tls-cert", "--tls-key"
		if t.CertFile == "" {
			given, missing = missing, given
		}
		return nil, usageErr(fmt.Sprintf("pass %s too: TLS needs the certificate (--tls-cert FILE) and its private key (--tls-key FILE)", missing),
			"%s given without %s", given, missing)
	case t.CertFile != "" && t.InsecureHTTP:
		return nil, usageErr("drop --insecure-http (or RGRID_INSECURE_HTTP): it is for serving plain HTTP, and --tls-cert serves HTTPS",
			"--insecure-http and --tls-cert contradict each other")
	case t.CertFile == "" && !isLoopback(listen):
		if !t.InsecureHTTP {
			return nil, usageErr("serve HTTPS with --tls-cert FILE --tls-key FILE; or listen on loopback (--listen 127.0.0.1:8080); "+
				"or, behind a proxy that terminates TLS, pass --insecure-http",
				"--listen %s is reachable from other machines, and without TLS tokens and scripts would cross the network in clear text", listen)
		}
		log.Warn("serving plain HTTP on an address other machines reach (--insecure-http): tokens, scripts and their output cross the network unencrypted unless a proxy in front terminates TLS",
			"listen", listen)
		return nil, nil
	case t.CertFile == "":
		return nil, nil
	}
	r, err := newCertReloader(t.CertFile, t.KeyFile, time.Now, log)
	if err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.getCertificate}, nil
}

// isLoopback reports whether addr (host:port) listens on loopback only:
// 127.0.0.0/8, ::1 or localhost. No host (":8080"), 0.0.0.0, :: and any
// other name are reachable from elsewhere.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// certReloader serves a certificate pair and reads it again when either
// file changes, so that a renewal (certbot, an ACME client, the team's
// CA) needs no restart. A pair that does not load (a renewal half
// written) leaves the one served in place, and is tried again at the next
// look.
type certReloader struct {
	certFile, keyFile string
	now               func() time.Time
	log               *slog.Logger

	mu       sync.Mutex
	cert     *tls.Certificate
	stamp    fileStamp // of the pair served
	lastLook time.Time
	warned   string // the last failure warned of, so it is warned of once
}

// fileStamp tells a changed file from the one read: modification times
// and sizes of both files.
type fileStamp struct {
	certMod, keyMod   time.Time
	certSize, keySize int64
}

func newCertReloader(certFile, keyFile string, now func() time.Time, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, now: now, log: log}
	stamp, err := r.stampFiles()
	if err == nil {
		err = r.load(stamp)
	}
	if err != nil {
		return nil, usageErr(fmt.Sprintf("pass --tls-cert the PEM certificate (with its chain) and --tls-key its PEM private key: %s and %s do not make a pair that serves", certFile, keyFile),
			"TLS certificate %s, key %s: %v", certFile, keyFile, err)
	}
	leaf := r.cert.Leaf
	log.Info("serving HTTPS", "cert", certFile, "subject", leaf.Subject.String(), "names", certNames(leaf), "expires", leaf.NotAfter.UTC().Format(time.RFC3339))
	return r, nil
}

func (r *certReloader) stampFiles() (fileStamp, error) {
	c, err := os.Stat(r.certFile)
	if err != nil {
		return fileStamp{}, err
	}
	k, err := os.Stat(r.keyFile)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{certMod: c.ModTime(), keyMod: k.ModTime(), certSize: c.Size(), keySize: k.Size()}, nil
}

// load reads the pair and checks that it is in its validity period.
// Called with mu held, or before r is shared.
func (r *certReloader) load(stamp fileStamp) error {
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return err
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return err
		}
		cert.Leaf = leaf
	}
	now := r.now()
	switch {
	case now.After(leaf.NotAfter):
		return fmt.Errorf("the certificate expired at %s: renew it", leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		return fmt.Errorf("the certificate is valid only from %s: check this machine's clock", leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	r.cert, r.stamp = &cert, stamp
	return nil
}

// getCertificate is tls.Config.GetCertificate: the pair served, read
// again first if the files changed since it was (looked at once per
// certCheckInterval at most).
func (r *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if now.Sub(r.lastLook) < certCheckInterval {
		return r.cert, nil
	}
	r.lastLook = now
	stamp, err := r.stampFiles()
	if err == nil && stamp == r.stamp {
		return r.cert, nil
	}
	if err == nil {
		err = r.load(stamp)
	}
	if err != nil {
		if err.Error() != r.warned {
			r.warned = err.Error()
			r.log.Warn("the TLS certificate files changed and do not load; serving the certificate loaded before until they do",
				"cert", r.certFile, "key", r.keyFile, "err", err)
		}
		return r.cert, nil
	}
	r.warned = ""
	r.log.Info("reloaded the TLS certificate", "cert", r.certFile, "names", certNames(r.cert.Leaf),
		"expires", r.cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	return r.cert, nil
}

// certNames are the names and addresses a certificate is valid for.
func certNames(c *x509.Certificate) string {
	names := append([]string(nil), c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	return strings.Join(names, ",")
}

// NewClient is a client for the server at url with token, trusting the
// CA certificates in the PEM file caCert for it when caCert is not ""
// (client.WithCACert: that CA instead of the system roots).
func NewClient(url, token, caCert string) (*client.Client, error) {
	c, err := client.New(url, token)
	if err != nil {
		return nil, usageErr("pass a URL like https://control:8443 (or http://127.0.0.1:8080), or several comma-separated, with --server or RGRID_SERVER", "%v", err)
	}
	if caCert == "" {
		return c, nil
	}
	pem, err := os.ReadFile(caCert)
	if err == nil {
		c, err = c.WithCACert(pem)
	}
	if err != nil {
		return nil, usageErr("pass --ca-cert (or RGRID_CA_CERT, or ca-cert in the config file) the PEM certificate of the CA that signed the server's certificate",
			"CA certificate %s: %v", caCert, err)
	}
	return c, nil
}
