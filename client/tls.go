package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
)

// ErrNoCACert is WithCACert given no PEM certificate.
var ErrNoCACert = errors.New(`no PEM certificate in it (a "-----BEGIN CERTIFICATE-----" block)`)

// WithCACert returns a client that accepts the server's certificate only
// when one of the CA certificates in pemCerts (PEM, one or more: a private
// CA's) signed it. For the server these CAs replace this machine's system
// roots, as curl's --cacert does: a private grid trusts its own CA and no
// other. Other hosts the client is sent to (a blob store's presigned URLs)
// are verified against the system roots plus these CAs, so both a public
// object store and one under the private CA work. Without WithCACert the
// system roots verify everything. Either way TLS 1.2 is the least accepted.
func (c *Client) WithCACert(pemCerts []byte) (*Client, error) {
	own := x509.NewCertPool()
	if !own.AppendCertsFromPEM(pemCerts) {
		return nil, ErrNoCACert
	}
	both, err := x509.SystemCertPool()
	if err != nil || both == nil {
		both = x509.NewCertPool() // no system roots here: the CAs alone
	}
	both.AppendCertsFromPEM(pemCerts)
	server := transport.Clone()
	server.TLSClientConfig = &tls.Config{RootCAs: own, MinVersion: tls.VersionTLS12}
	others := transport.Clone()
	others.TLSClientConfig = &tls.Config{RootCAs: both, MinVersion: tls.VersionTLS12}
	cc := *c
	cc.http = &http.Client{Transport: c.failover(byHost{hosts: serverHosts(c.servers), server: server, others: others})}
	return &cc, nil
}

// byHost sends requests to the servers' hosts through one transport and
// everything else through another: each trusts its own roots.
type byHost struct {
	hosts          map[string]bool
	server, others http.RoundTripper
}

func (b byHost) RoundTrip(req *http.Request) (*http.Response, error) {
	if b.hosts[req.URL.Host] {
		return b.server.RoundTrip(req)
	}
	return b.others.RoundTrip(req)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach both.
func (b byHost) CloseIdleConnections() {
	for _, t := range []http.RoundTripper{b.server, b.others} {
		if ci, ok := t.(interface{ CloseIdleConnections() }); ok {
			ci.CloseIdleConnections()
		}
	}
}

// IsCertificateError reports whether err is the server's TLS certificate
// refused: signed by a CA this machine does not trust (see WithCACert),
// issued for another name, expired or not yet valid. Trying again does not
// help; the client's or the server's settings must change.
func IsCertificateError(err error) bool {
	var verify *tls.CertificateVerificationError
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	return errors.As(err, &verify) || errors.As(err, &unknown) || errors.As(err, &host) || errors.As(err, &invalid)
}
