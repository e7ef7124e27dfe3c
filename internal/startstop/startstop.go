// Package startstop gives every background loop of rgrid one lifecycle, as
// River's startstop does: Start launches the loop and returns, Stop cancels
// it and returns only once the loop has, so that whatever the loop uses (a
// store, a connection, a file) can be closed right after. A service embeds
// Base, or is a function made into one with Func.
package startstop

import (
	"context"
	"sync"
)

// Service is a background loop with a lifecycle.
type Service interface {
	// Start launches the service under ctx (canceling ctx stops it too)
	// and returns. Starting a started service does nothing.
	Start(ctx context.Context) error
	// Stop cancels the service and waits until it has stopped. Stopping
	// one that never started, or twice, does nothing.
	Stop()
}

// Base is the state a service embeds to implement Stop, Stopped and the
// bookkeeping of Start (see StartInit).
type Base struct {
	mu      sync.Mutex
	cancel  context.CancelFunc
	stopped chan struct{}
}

// StartInit begins a Start: it returns the context the service's loop runs
// under, whether the caller should start it (false if it already runs),
// and the function the loop must call when it returns:
//
//	func (s *Svc) Start(ctx context.Context) error {
//		ctx, ok, done := s.StartInit(ctx)
//		if !ok {
//			return nil
//		}
//		go func() {
//			defer done()
//			s.loop(ctx)
//		}()
//		return nil
//	}
func (b *Base) StartInit(ctx context.Context) (context.Context, bool, func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped != nil {
		select {
		case <-b.stopped:
			// Stopped: it may start again.
		default:
			return ctx, false, func() {}
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	stopped := make(chan struct{})
	b.cancel, b.stopped = cancel, stopped
	var once sync.Once
	return ctx, true, func() { once.Do(func() { cancel(); close(stopped) }) }
}

// Stop cancels the service's context and waits until its loop has called
// done.
func (b *Base) Stop() {
	b.mu.Lock()
	cancel, stopped := b.cancel, b.stopped
	b.mu.Unlock()
	if stopped == nil {
		return
	}
	cancel()
	<-stopped
}

// Stopped returns a channel closed once the started service has stopped
// (by Stop, by its context, or by returning on its own); nil before the
// first Start.
func (b *Base) Stopped() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stopped
}

// Func is a Service that runs fn until fn returns; fn must return soon
// after its context is canceled.
func Func(fn func(ctx context.Context)) *FuncService { return &FuncService{fn: fn} }

// FuncService is a function run as a Service (see Func).
type FuncService struct {
	Base
	fn func(ctx context.Context)
}

// Start runs the function in a goroutine.
func (f *FuncService) Start(ctx context.Context) error {
	ctx, ok, done := f.StartInit(ctx)
	if !ok {
		return nil
	}
	go func() {
		defer done()
		f.fn(ctx)
	}()
	return nil
}

// Group starts services together and stops them in the reverse order.
type Group struct {
	mu       sync.Mutex
	services []Service
}

// Start starts s and keeps it to be stopped with the group. If s fails
// to start, nothing is kept and the error is returned.
func (g *Group) Start(ctx context.Context, s Service) error {
	if err := s.Start(ctx); err != nil {
		return err
	}
	g.mu.Lock()
	g.services = append(g.services, s)
	g.mu.Unlock()
	return nil
}

// Go starts fn as a Func service of the group.
func (g *Group) Go(ctx context.Context, fn func(ctx context.Context)) {
	_ = g.Start(ctx, Func(fn)) // a Func always starts
}

// Stop stops every service started through the group, the last started
// first, each waited for before the next.
func (g *Group) Stop() {
	g.mu.Lock()
	services := g.services
	g.services = nil
	g.mu.Unlock()
	for i := len(services) - 1; i >= 0; i-- {
		services[i].Stop()
	}
}
