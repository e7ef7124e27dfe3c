package leader_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rgrid/rgrid/internal/leader"
	"github.com/rgrid/rgrid/internal/store"
	"github.com/rgrid/rgrid/internal/testdb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// cutStore is a replica's view of the store that can lose the database.
type cutStore struct {
	store.LeaderStore
	cut atomic.Bool
}

var errCut = errors.New("database unreachable")

func (c *cutStore) TryLead(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (store.Lease, error) {
	if c.cut.Load() {
		return store.Lease{}, errCut
	}
	return c.LeaderStore.TryLead(ctx, name, holder, now, ttl)
}

func (c *cutStore) Resign(ctx context.Context, name, holder string) error {
	if c.cut.Load() {
		return errCut
	}
	return c.LeaderStore.Resign(ctx, name, holder)
}

// loop counts who runs it, and the most that ever ran it at once.
type loop struct {
	mu          sync.Mutex
	running     map[string]bool
	most, total int
}

func (l *loop) fn(name string) func(ctx context.Context) {
	return func(ctx context.Context) {
		l.mu.Lock()
		l.running[name] = true
		l.total++
		l.most = max(l.most, len(l.running))
		l.mu.Unlock()
		<-ctx.Done()
		l.mu.Lock()
		delete(l.running, name)
		l.mu.Unlock()
	}
}

func (l *loop) runner() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for n := range l.running {
		return n
	}
	return ""
}

// waitFor polls cond every 10 ms for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func eachDialect(t *testing.T, f func(t *testing.T, st store.Store)) {
	t.Run("sqlite", func(t *testing.T) { t.Parallel(); f(t, testdb.OpenSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { t.Parallel(); f(t, testdb.OpenPostgres(t)) })
}

func TestOneLeaderAndTakeOver(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, st store.Store) {
		const ttl = 600 * time.Millisecond
		l := &loop{running: map[string]bool{}}
		views := map[string]*cutStore{"a": {LeaderStore: st}, "b": {LeaderStore: st}, "c": {LeaderStore: st}}
		electors := map[string]*leader.Elector{}
		for name, v := range views {
			e := leader.New(v, "reaper", l.fn(name), leader.Options{TTL: ttl, Holder: name})
			if err := e.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(e.Stop)
			electors[name] = e
		}
		waitFor(t, "a leader", func() bool { return l.runner() != "" })
		first := l.runner()
		if !electors[first].IsLeader() {
			t.Errorf("%s runs the loop but is not leader", first)
		}

		// The leader stops: it resigns, and another takes over.
		electors[first].Stop()
		waitFor(t, "a second leader", func() bool { r := l.runner(); return r != "" && r != first })
		second := l.runner()

		// The second loses the database (as if killed): it steps down
		// before its lease expires, and the last takes over after it.
		views[second].cut.Store(true)
		waitFor(t, "the third leader", func() bool { r := l.runner(); return r != "" && r != first && r != second })
		if electors[second].IsLeader() {
			t.Errorf("%s, cut off, still thinks it leads", second)
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.most != 1 || l.total != 3 {
			t.Errorf("the loop ran on %d replicas at once at most, %d times in all; want 1 and 3", l.most, l.total)
		}
	})
}
