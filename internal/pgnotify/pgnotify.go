// Package pgnotify carries the scheduler's wake-ups between server replicas
// that share one PostgreSQL database, over LISTEN/NOTIFY.
//
// Every replica publishes each topic it notifies (a job queued, a job's log
// grown, a worker's stop request) with pg_notify, and listens on a
// connection of its own, outside the pool: a transaction pooler
// (PgBouncer in transaction mode) hands each statement to any server
// connection, so a LISTEN made through it would be lost. Notifications
// carry ids only (the topic, e.g. "job/ID"); whoever wakes reads the rows.
//
// Nothing depends on a notification arriving: the scheduler still polls
// (once a second by default), so a lost one only delays a wake-up. When the
// listening connection breaks, the relay reconnects with backoff and then
// wakes every local waiter, since notifications sent meanwhile were missed.
package pgnotify

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rgrid/rgrid/internal/scheduler"
	"github.com/rgrid/rgrid/internal/startstop"
)

// Channel is the PostgreSQL notification channel every replica listens on.
const Channel = "rgrid_wake"

// wakeAllTopic, published when more topics are pending than one round
// carries, wakes every waiter of the replicas that receive it.
const wakeAllTopic = "*"

// Limits.
const (
	// MaxPending is the most distinct topics held for the next publish;
	// past it, the round publishes one wake-everyone instead.
	MaxPending = 1000
	// maxTopicBytes keeps a payload well under PostgreSQL's 8000 bytes; a
	// longer topic is published as a wake-everyone.
	maxTopicBytes = 1000
	// Reconnect backoff: from minBackoff, doubling, up to maxBackoff.
	minBackoff = 100 * time.Millisecond
	maxBackoff = 10 * time.Second
)

// Relay publishes this replica's topics and delivers the other replicas'
// to its sink. It implements scheduler.Relay and startstop.Service: Start
// it before serving, Stop it before closing the pool.
type Relay struct {
	startstop.Base
	listenURL string
	pool      *pgxpool.Pool
	sink      scheduler.Sink // set by Attach before Start
	log       *slog.Logger
	origin    string // this relay's id: its own notifications come back to it and are skipped

	mu       sync.Mutex
	pending  map[string]struct{}
	overflow bool
	kick     chan struct{}
	pid      uint32        // the listening connection's backend, 0 while none
	up       chan struct{} // closed at each LISTEN made; replaced when the connection breaks
	connects int
}

// New returns a relay that listens on a connection made from listenURL
// (usually the server's --db) and publishes through pool. Attach it to a
// notifier before Start.
func New(listenURL string, pool *pgxpool.Pool, log *slog.Logger) (*Relay, error) {
	if _, err := pgx.ParseConfig(listenURL); err != nil {
		return nil, fmt.Errorf("notification listener: parse database URL: %w", err)
	}
	var b [8]byte
	_, _ = crand.Read(b[:])
	return &Relay{
		listenURL: listenURL, pool: pool, log: log,
		origin:  hex.EncodeToString(b[:]),
		pending: map[string]struct{}{},
		kick:    make(chan struct{}, 1),
		up:      make(chan struct{}),
	}, nil
}

// Attach sets where the other replicas' topics are delivered; call it
// before Start.
func (r *Relay) Attach(sink scheduler.Sink) { r.sink = sink }

// Publish queues topic for the other replicas and returns at once; the
// relay's loop sends what is queued in one statement.
func (r *Relay) Publish(topic string) {
	r.mu.Lock()
	switch {
	case r.overflow:
	case len(topic) > maxTopicBytes || len(r.pending) >= MaxPending:
		r.overflow = true
		clear(r.pending)
	default:
		r.pending[topic] = struct{}{}
	}
	r.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Start launches the listening and the publishing loops.
func (r *Relay) Start(ctx context.Context) error {
	if r.sink == nil {
		return errors.New("notification relay: started before Attach")
	}
	ctx, ok, done := r.StartInit(ctx)
	if !ok {
		return nil
	}
	var wg sync.WaitGroup
	wg.Go(func() { r.listen(ctx) })
	wg.Go(func() { r.publishLoop(ctx) })
	go func() {
		wg.Wait()
		done()
	}()
	return nil
}

// Listening returns a channel closed once the relay listens (already
// closed if it listens now): for tests, and to wait for the relay before
// counting on it.
func (r *Relay) Listening() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.up
}

// ListenerPID is the backend process id of the listening connection, 0
// while there is none.
func (r *Relay) ListenerPID() uint32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pid
}

// Connects is how many times the relay has connected and listened.
func (r *Relay) Connects() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.connects
}

func (r *Relay) publishLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
		}
		r.mu.Lock()
		topics := make([]string, 0, len(r.pending)+1)
		for t := range r.pending {
			topics = append(topics, r.origin+" "+t)
		}
		if r.overflow {
			topics = append(topics, r.origin+" "+wakeAllTopic)
		}
		clear(r.pending)
		r.overflow = false
		r.mu.Unlock()
		if len(topics) == 0 {
			continue
		}
		_, err := r.pool.Exec(ctx, `SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`, Channel, topics)
		if err != nil && ctx.Err() == nil {
			// The other replicas find the change at their next poll.
			r.log.Warn("replica notifications: publish failed; the other replicas see the change at their next poll", "topics", len(topics), "err", err)
		}
	}
}

func (r *Relay) listen(ctx context.Context) {
	failures := 0
	for ctx.Err() == nil {
		listened, err := r.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if listened { // the backoff starts over
			failures = 0
		}
		wait := backoff(failures)
		if failures == 0 {
			r.log.Warn("replica notifications: listening connection lost; reconnecting (jobs are still found by polling meanwhile)", "err", err, "retry_in", wait)
		}
		failures++
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// session connects, listens and delivers until the connection breaks or
// ctx ends. It says whether it listened, and why it ended.
func (r *Relay) session(ctx context.Context) (bool, error) {
	connectCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := pgx.Connect(connectCtx, r.listenURL)
	cancel()
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return false, fmt.Errorf("listen: %w", err)
	}
	// Whatever was notified before this LISTEN is lost: every waiter
	// looks at the store again. This comes before Listening is closed, so
	// a waiter that registers after Listening sees only real topics.
	r.sink.WakeAll()
	r.mu.Lock()
	r.pid = conn.PgConn().PID()
	r.connects++
	reconnect := r.connects > 1
	close(r.up)
	r.mu.Unlock()
	if reconnect {
		r.log.Info("replica notifications: listening again")
	}
	defer func() {
		r.mu.Lock()
		r.pid = 0
		r.up = make(chan struct{})
		r.mu.Unlock()
	}()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true, err
		}
		origin, topic, ok := strings.Cut(n.Payload, " ")
		switch {
		case !ok || origin == r.origin:
		case topic == wakeAllTopic:
			r.sink.WakeAll()
		default:
			r.sink.Deliver(topic)
		}
	}
}

// backoff is the wait before reconnect attempt n (0 first): doubling from
// minBackoff up to maxBackoff, with up to a fifth of jitter so replicas
// cut off together do not reconnect together.
func backoff(n int) time.Duration {
	d := maxBackoff
	if n < 20 {
		d = min(minBackoff<<n, maxBackoff)
	}
	return d - time.Duration(rand.Int64N(int64(d/5)+1))
}
