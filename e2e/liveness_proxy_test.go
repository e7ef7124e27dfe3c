package e2e

import (
	"net"
	"sync"
	"testing"
	"time"
)

// proxy forwards TCP connections to a server, and cuts them off on
// request in one of two ways a network fails.
type proxy struct {
	ln     net.Listener
	target string

	mu       sync.Mutex
	mode     proxyMode
	conns    map[net.Conn]struct{}
	accepted int // connections accepted so far
}

type proxyMode int

const (
	proxyUp proxyMode = iota
	// proxyRefused closes every connection and drops new ones at once: a
	// peer that is gone, the failure that is noticed at once.
	proxyRefused
	// proxyBlackHole keeps connections open but delivers nothing either
	// way, and accepts new ones that never answer: a partition or a
	// firewall dropping packets, noticed only by a timeout.
	proxyBlackHole
)

func (m proxyMode) String() string {
	return [...]string{"up", "refused", "black hole"}[m]
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		p.set(proxyRefused)
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.accepted++
			p.mu.Unlock()
			wg.Go(func() { p.forward(c) })
		}
	})
	return p
}

func (p *proxy) connections() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

func (p *proxy) url() string { return "http://" + p.ln.Addr().String() }

func (p *proxy) current() proxyMode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode
}

func (p *proxy) forward(c net.Conn) {
	if !p.track(c) {
		c.Close()
		return
	}
	defer p.untrack(c)
	if p.current() == proxyBlackHole {
		p.pump(nil, c) // swallow until the connection is closed
		return
	}
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	if !p.track(up) {
		up.Close()
		return
	}
	defer p.untrack(up)
	done := make(chan struct{}, 2)
	go func() { p.pump(up, c); done <- struct{}{} }()
	go func() { p.pump(c, up); done <- struct{}{} }()
	<-done // either side ending ends both
}

// pump copies src to dst (nil: nowhere), dropping what arrives while the
// proxy is a black hole.
func (p *proxy) pump(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && dst != nil && p.current() != proxyBlackHole {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode == proxyRefused {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

// set switches the proxy's mode. Leaving or entering refused closes every
// connection; leaving a black hole too, since the bytes it swallowed broke
// the streams on it.
func (p *proxy) set(m proxyMode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if m == proxyRefused || p.mode == proxyBlackHole {
		for c := range p.conns {
			c.Close()
		}
	}
	p.mode = m
}
