package client

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
)

// MaxServers is the most server URLs one client takes.
const MaxServers = 16

// parseServers reads a server list: one URL, or several separated by
// commas (the replicas of one grid), each http:// or https://.
func parseServers(list string) ([]string, error) {
	var out []string
	for s := range strings.SplitSeq(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("server URL %q is not an http:// or https:// address", s)
		}
		out = append(out, strings.TrimRight(s, "/"))
	}
	switch {
	case len(out) == 0:
		return nil, fmt.Errorf("server URL %q is not an http:// or https:// address", list)
	case len(out) > MaxServers:
		return nil, fmt.Errorf("%d server URLs given; at most %d are taken", len(out), MaxServers)
	}
	return out, nil
}

// failover sends each request meant for the server to the replica that
// answered last, and on to the next one in the list when that one cannot
// be connected to: a refused or timed-out connection, a name that does
// not resolve. Such a request never reached a server, so sending it to
// another is safe whatever it does. Any answer, a 4xx or a 5xx included,
// is the server's and is returned as is; so is a connection that broke
// after the request was sent (it may have taken effect: the caller's
// retry, which the server deduplicates, decides), though the next request
// then starts at the next replica.
//
// Requests are built against servers[0]; failover rewrites them to the
// replica it picks. Other hosts (a blob store's presigned URLs) pass
// through untouched.
type failover struct {
	servers []string
	cur     *atomic.Int32 // shared by the client's copies (WithWorkerInstance, WithCACert)
	next    http.RoundTripper
}

func (f failover) RoundTrip(req *http.Request) (*http.Response, error) {
	rest, ok := strings.CutPrefix(req.URL.String(), f.servers[0])
	if !ok || len(f.servers) == 1 || rest != "" && rest[0] != '/' && rest[0] != '?' {
		return f.next.RoundTrip(req)
	}
	start := int(f.cur.Load())
	var errs []error
	for i := range f.servers {
		n := (start + i) % len(f.servers)
		r, err := f.rewrite(req, f.servers[n]+rest, i > 0)
		if err != nil {
			return nil, err
		}
		resp, err := f.next.RoundTrip(r)
		if err == nil {
			f.cur.CompareAndSwap(int32(start), int32(n))
			return resp, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", f.servers[n], err))
		advance := func() { f.cur.CompareAndSwap(int32(start), int32((n+1)%len(f.servers))) }
		switch {
		case req.Context().Err() != nil:
			// The caller gave up; if this replica did not even accept
			// the connection by then, the next request tries another.
			if notConnected(err) {
				advance()
			}
			return nil, serversError(errs)
		case !notConnected(err), req.Body != nil && req.Body != http.NoBody && req.GetBody == nil:
			// It may have reached the server, or its body cannot be
			// sent again: the caller retries, and the next request
			// tries the next replica first.
			advance()
			return nil, serversError(errs)
		}
	}
	return nil, serversError(errs)
}

// serversError is what each replica tried said, on one line.
type serversError []error

func (e serversError) Error() string {
	if len(e) == 1 {
		return e[0].Error()
	}
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = err.Error()
	}
	return "no server answered: " + strings.Join(msgs, "; ")
}

func (e serversError) Unwrap() []error { return e }

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// transport.
func (f failover) CloseIdleConnections() {
	if ci, ok := f.next.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// rewrite is req sent to target, with a fresh body when it is a retry.
func (f failover) rewrite(req *http.Request, target string, retry bool) (*http.Request, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	r := req.Clone(req.Context())
	r.URL, r.Host = u, ""
	if retry && req.GetBody != nil {
		if r.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// notConnected reports an error of making the connection, before anything
// was sent.
func notConnected(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// serverHosts are the host:port of every server in the list.
func serverHosts(servers []string) map[string]bool {
	hosts := map[string]bool{}
	for _, s := range servers {
		u, _ := url.Parse(s) // parseServers checked it
		hosts[u.Host] = true
	}
	return hosts
}

// Servers are the server URLs the client was given, in order.
func (c *Client) Servers() []string { return append([]string(nil), c.servers...) }

// Server is the server URL the client uses now: the one that answered
// last.
func (c *Client) Server() string { return c.servers[int(c.cur.Load())%len(c.servers)] }
