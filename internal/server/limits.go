package server

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/store"
)

// Per-user limits: how many of a user's jobs may be queued (a submission
// over it is refused with 429 quota_exceeded) and how many may be leased
// or running at once (more wait in the queue, and other users' jobs go
// ahead of them). Each is the user's own (store.User.MaxQueued,
// MaxRunning) or else the server's default (Options.MaxQueuedPerUser,
// MaxRunningPerUser); 0 is no limit. Jobs of no user (an open server, the
// shared token) have none.

// limitsTTL is how long the users' limits are read from memory: a change
// by an admin on another replica takes effect within it (at once here).
const limitsTTL = 5 * time.Second

type limitCache struct {
	mu      sync.Mutex
	users   map[string]store.User
	fetched time.Time
}

func (c *limitCache) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.users = nil
}

// usersByID returns the users, read from the store at most every
// limitsTTL.
func (s *Server) usersByID(ctx context.Context) (map[string]store.User, error) {
	c := &s.limits
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.users != nil && time.Since(c.fetched) < limitsTTL {
		return c.users, nil
	}
	us, err := s.store.ListUsers(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the users' limits: %w", err)
	}
	c.users = make(map[string]store.User, len(us))
	for _, u := range us {
		c.users[u.ID] = u
	}
	c.fetched = time.Now()
	return c.users, nil
}

func limitOf(own *int, def int) int {
	if own != nil {
		return *own
	}
	return def
}

// ownerCaps is the running limit of every user that has one, for a lease.
func (s *Server) ownerCaps(ctx context.Context) (map[string]int, error) {
	us, err := s.usersByID(ctx)
	if err != nil {
		return nil, err
	}
	var caps map[string]int
	for id, u := range us {
		if n := limitOf(u.MaxRunning, s.opts.MaxRunningPerUser); n > 0 {
			if caps == nil {
				caps = map[string]int{}
			}
			caps[id] = n
		}
	}
	return caps, nil
}

// runningCapped reports whether a job of owner ending may let a waiting
// job of theirs run (their running limit held it back).
func (s *Server) runningCapped(owner string) bool {
	if owner == "" {
		return false
	}
	s.limits.mu.Lock()
	u, ok := s.limits.users[owner]
	s.limits.mu.Unlock()
	return s.opts.MaxRunningPerUser > 0 || ok && u.MaxRunning != nil && *u.MaxRunning > 0
}

// checkQueued refuses n more queued jobs for the request's user when that
// would pass their limit. Two submissions at the same instant may each
// pass the check: the limit bounds a user's backlog, it is not a
// reservation.
func (s *Server) checkQueued(r *http.Request, n int) error {
	p := caller(r)
	if p.kind != asUser {
		return nil
	}
	// The users' limits as last read (an admin's change here is seen at
	// once), else the user as their token was checked.
	u := p.user
	if us, err := s.usersByID(r.Context()); err == nil {
		if cur, ok := us[p.user.ID]; ok {
			u = cur
		}
	}
	limit := limitOf(u.MaxQueued, s.opts.MaxQueuedPerUser)
	if limit <= 0 {
		return nil
	}
	queued, err := s.store.CountJobs(r.Context(), p.user.ID, []store.State{store.StateQueued})
	if err != nil {
		return err
	}
	if queued+n > limit {
		return errorf(client.CodeQuotaExceeded,
			"wait for some of your queued jobs to start, cancel some (rgrid list --state queued), or ask an admin to raise your limit (rgrid admin user limits)",
			"user %s may have at most %d queued jobs: %d are queued and this adds %d", p.user.Name, limit, queued, n).
			with("limit", "max_queued").with("maximum", limit).with("queued", queued)
	}
	return nil
}
