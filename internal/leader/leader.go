// Package leader runs the server's singleton loops (the reaper, blob
// retention, the autoscaler) on one replica at a time, as River's
// leader election does: a row per loop in the database names the holder
// and an expiry; the holder renews it every TTL/3, and when it dies or
// loses the database another replica takes the lease once it has expired
// (within the TTL). A replica that stops resigns, so another takes over at
// its next try.
package leader

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rgrid/rgrid/internal/startstop"
	"github.com/rgrid/rgrid/internal/store"
)

// DefaultTTL is how long a lease lives unrenewed: how long the loops may go
// without a leader after the leader dies.
const DefaultTTL = 15 * time.Second

// Options tune an Elector.
type Options struct {
	// TTL is the lease's life (default DefaultTTL); it is renewed every
	// TTL/3. Replicas' clocks must agree to well within it.
	TTL time.Duration
	// Holder names this replica (default: host name, process id and a
	// random suffix).
	Holder string
	// Now is the clock (default time.Now).
	Now func() time.Time
	Log *slog.Logger
}

// Elector holds the lease name for this replica when it can, and runs a
// function only while it does. It is a startstop.Service.
type Elector struct {
	startstop.Base
	st      store.LeaderStore
	name    string
	fn      func(ctx context.Context)
	opts    Options
	leading atomic.Bool
	changed func(leading bool) // for tests; nil in production
}

// New returns an elector for the lease name that runs fn while this
// replica leads: fn's context ends when the lease is lost or the elector
// stops, and fn must return soon after.
func New(st store.LeaderStore, name string, fn func(ctx context.Context), opts Options) *Elector {
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	if opts.Holder == "" {
		opts.Holder = DefaultHolder()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Elector{st: st, name: name, fn: fn, opts: opts}
}

// DefaultHolder is a replica's name in the lease: host, pid, random.
func DefaultHolder() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// IsLeader reports whether this replica holds the lease now.
func (e *Elector) IsLeader() bool { return e.leading.Load() }

// Holder is this replica's name in the lease.
func (e *Elector) Holder() string { return e.opts.Holder }

// Start launches the election loop.
func (e *Elector) Start(ctx context.Context) error {
	ctx, ok, done := e.StartInit(ctx)
	if !ok {
		return nil
	}
	go func() {
		defer done()
		e.loop(ctx)
	}()
	return nil
}

func (e *Elector) loop(ctx context.Context) {
	var (
		cancel  context.CancelFunc
		wg      sync.WaitGroup
		expires time.Time
	)
	stepDown := func() {
		if cancel != nil {
			cancel()
			wg.Wait()
			cancel = nil
		}
		if e.leading.Swap(false) {
			e.opts.Log.Info("leader: no longer runs this loop here", "loop", e.name)
			e.notify(false)
		}
	}
	defer func() {
		stepDown()
		// Resign, so another replica need not wait out the TTL.
		rctx, c := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer c()
		if err := e.st.Resign(rctx, e.name, e.opts.Holder); err != nil {
			e.opts.Log.Warn("leader: resign failed; another replica takes over after the lease expires", "loop", e.name, "err", err)
		}
	}()
	renew := e.opts.TTL / 3
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := e.opts.Now()
		tctx, c := context.WithTimeout(ctx, renew)
		l, err := e.st.TryLead(tctx, e.name, e.opts.Holder, now, e.opts.TTL)
		c()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			// Keep leading while the lease surely lives; give up before
			// another replica could take it.
			if e.leading.Load() && !e.opts.Now().Before(expires.Add(-renew)) {
				e.opts.Log.Warn("leader: cannot renew the lease; stepping down", "loop", e.name, "err", err)
				stepDown()
			} else if !e.leading.Load() {
				e.opts.Log.Debug("leader: cannot try the lease", "loop", e.name, "err", err)
			}
		case l.Holder == e.opts.Holder:
			expires = l.ExpiresAt
			if !e.leading.Swap(true) {
				e.opts.Log.Info("leader: runs this loop here", "loop", e.name, "holder", e.opts.Holder)
				fctx, c := context.WithCancel(ctx)
				cancel = c // called by stepDown, on losing the lease or stopping
				wg.Go(func() { e.fn(fctx) })
				e.notify(true)
			}
		default:
			stepDown()
		}
		t.Reset(renew)
	}
}

func (e *Elector) notify(leading bool) {
	if e.changed != nil {
		e.changed(leading)
	}
}
