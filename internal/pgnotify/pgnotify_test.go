package pgnotify_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"

	"github.com/rgrid/rgrid/internal/pgnotify"
	"github.com/rgrid/rgrid/internal/scheduler"
	"github.com/rgrid/rgrid/internal/testdb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// sink records what a relay delivers.
type sink struct {
	mu      sync.Mutex
	topics  []string
	wakeAll int
	changed chan struct{}
}

func newSink() *sink { return &sink{changed: make(chan struct{}, 1)} }

func (s *sink) Deliver(topic string) {
	s.mu.Lock()
	s.topics = append(s.topics, topic)
	s.mu.Unlock()
	s.kick()
}

func (s *sink) WakeAll() {
	s.mu.Lock()
	s.wakeAll++
	s.mu.Unlock()
	s.kick()
}

func (s *sink) kick() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// waitFor waits, up to 10 s, until cond holds of the sink's record.
func (s *sink) waitFor(t *testing.T, what string, cond func(topics []string, wakeAll int) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		s.mu.Lock()
		ok := cond(slices.Clone(s.topics), s.wakeAll)
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-s.changed:
		case <-deadline:
			s.mu.Lock()
			defer s.mu.Unlock()
			t.Fatalf("timed out waiting for %s; delivered %q, %d wake-alls", what, s.topics, s.wakeAll)
		}
	}
}

type replica struct {
	relay *pgnotify.Relay
	sink  *sink
}

// startReplica starts a relay on url, with its own pool, delivering to a
// recording sink, and waits until it listens.
func startReplica(t *testing.T, url string) replica {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	r, err := pgnotify.New(url, pool, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	s := newSink()
	r.Attach(s)
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Stop(); pool.Close() })
	select {
	case <-r.Listening():
	case <-ctx.Done():
		t.Fatal("the relay never listened")
	}
	return replica{relay: r, sink: s}
}

func TestRelayCarriesTopicsToOtherReplicasOnly(t *testing.T) {
	url := testdb.PostgresURL(t)
	a, b := startReplica(t, url), startReplica(t, url)

	a.relay.Publish("job/J1")
	a.relay.Publish("queued")
	b.sink.waitFor(t, "b to hear a's topics", func(topics []string, _ int) bool {
		return slices.Contains(topics, "job/J1") && slices.Contains(topics, "queued")
	})
	// b's marker is committed after a's topics, so a would have heard its
	// own topics back before it hears the marker.
	b.relay.Publish("marker")
	a.sink.waitFor(t, "a to hear b's marker", func(topics []string, _ int) bool {
		return slices.Contains(topics, "marker")
	})
	a.sink.mu.Lock()
	defer a.sink.mu.Unlock()
	if !slices.Equal(a.sink.topics, []string{"marker"}) {
		t.Errorf("a heard %q; want only b's marker (its own topics skipped)", a.sink.topics)
	}
}

func TestNotifierWakesWaitersOnOtherReplica(t *testing.T) {
	url := testdb.PostgresURL(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var notifiers [2]*scheduler.Notifier
	var relays [2]*pgnotify.Relay
	for i := range notifiers {
		notifiers[i] = scheduler.NewNotifier()
		relays[i], err = pgnotify.New(url, pool, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		relays[i].Attach(notifiers[i])
		notifiers[i].SetRelay(relays[i])
		if err := relays[i].Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer relays[i].Stop()
		<-relays[i].Listening()
	}
	waiting := notifiers[1].Chan(scheduler.TopicQueued)
	other := notifiers[1].Chan(scheduler.JobTopic("other"))
	notifiers[0].Notify(scheduler.TopicQueued)
	select {
	case <-waiting:
	case <-time.After(10 * time.Second):
		t.Fatal("a lease waiting on replica 1 was not woken by a job queued on replica 0")
	}
	select {
	case <-other:
		t.Error("a waiter of another topic was woken")
	default:
	}
}

func TestRelayReconnectsAndWakesEveryone(t *testing.T) {
	url := testdb.PostgresURL(t)
	a, b := startReplica(t, url), startReplica(t, url)
	b.sink.waitFor(t, "the first connect's wake-all", func(_ []string, w int) bool { return w == 1 })

	pid := b.relay.ListenerPID()
	if pid == 0 {
		t.Fatal("a listening relay has no backend pid")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var killed bool
	if err := pool.QueryRow(ctx, "SELECT pg_terminate_backend($1)", int32(pid)).Scan(&killed); err != nil || !killed {
		t.Fatalf("terminate the listener's backend %d: %v (%v)", pid, killed, err)
	}
	// Whatever was sent while it was gone is lost: it wakes everyone.
	b.sink.waitFor(t, "the reconnect's wake-all", func(_ []string, w int) bool { return w == 2 })
	select {
	case <-b.relay.Listening():
	case <-ctx.Done():
		t.Fatal("the relay never listened again")
	}
	if n := b.relay.Connects(); n != 2 {
		t.Errorf("connects = %d, want 2", n)
	}
	if got := b.relay.ListenerPID(); got == pid || got == 0 {
		t.Errorf("listener pid after reconnect = %d (was %d)", got, pid)
	}
	a.relay.Publish("after")
	b.sink.waitFor(t, "a topic published after the reconnect", func(topics []string, _ int) bool {
		return slices.Contains(topics, "after")
	})
}

func TestRelayOverflowWakesEveryone(t *testing.T) {
	url := testdb.PostgresURL(t)
	a, b := startReplica(t, url), startReplica(t, url)
	b.sink.waitFor(t, "the first connect's wake-all", func(_ []string, w int) bool { return w == 1 })
	// More distinct topics than one round holds, faster than the loop
	// sends them: at least one round overflows into a wake-everyone, and
	// nothing is silently dropped.
	const n = 3 * pgnotify.MaxPending
	for i := range n {
		a.relay.Publish(fmt.Sprintf("job/%d", i))
	}
	a.relay.Publish("last")
	b.sink.waitFor(t, "every topic or a wake-all", func(topics []string, w int) bool {
		return w > 1 || len(topics) == n+1
	})
}

func TestNewRefusesBadURL(t *testing.T) {
	if _, err := pgnotify.New("postgres://%zz", nil, slog.Default()); err == nil {
		t.Fatal("a malformed URL was accepted")
	}
}
