package scheduler

import "sync"

// Notifier wakes waiters by topic without losing a wake-up: a waiter takes
// the topic's channel before it looks at the store, and Notify closes that
// channel, so a change made between the look and the wait is still seen.
//
// With a Relay (SetRelay), every Notify is also sent to the other server
// replicas on the same database, whose relays Deliver it to their own
// notifiers: a job queued through one replica wakes the lease requests
// held by another.
type Notifier struct {
	mu     sync.Mutex
	topics map[string]chan struct{}
	relay  Relay
}

// Relay carries a topic to the other replicas. Publish must not block:
// it is called on the request path, and a lost publish only delays the
// wake-up to the next poll.
type Relay interface {
	Publish(topic string)
}

// Sink is what a relay delivers the other replicas' topics to: a
// Notifier.
type Sink interface {
	// Deliver wakes the local waiters of topic.
	Deliver(topic string)
	// WakeAll wakes every local waiter.
	WakeAll()
}

var _ Sink = (*Notifier)(nil)

// NewNotifier returns an empty notifier.
func NewNotifier() *Notifier {
	return &Notifier{topics: map[string]chan struct{}{}}
}

// SetRelay makes every later Notify also go to r (nil: this process only).
func (n *Notifier) SetRelay(r Relay) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.relay = r
}

// Chan returns a channel that is closed at the next Notify of topic.
func (n *Notifier) Chan(topic string) <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	ch, ok := n.topics[topic]
	if !ok {
		ch = make(chan struct{})
		n.topics[topic] = ch
	}
	return ch
}

// Notify wakes everyone waiting on topic, here and, through the relay, on
// the other replicas.
func (n *Notifier) Notify(topic string) {
	n.mu.Lock()
	relay := n.relay
	n.wake(topic)
	n.mu.Unlock()
	if relay != nil {
		relay.Publish(topic)
	}
}

// Deliver wakes everyone waiting on topic in this process only: what a
// relay calls with a topic another replica published.
func (n *Notifier) Deliver(topic string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.wake(topic)
}

// WakeAll wakes every waiter of every topic in this process: what a relay
// calls when it may have missed notifications (it reconnected), so every
// waiter looks at the store again.
func (n *Notifier) WakeAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for topic, ch := range n.topics {
		close(ch)
		delete(n.topics, topic)
	}
}

func (n *Notifier) wake(topic string) {
	if ch, ok := n.topics[topic]; ok {
		close(ch)
		delete(n.topics, topic)
	}
}

// Topics used by the server.
const TopicQueued = "queued"

// JobTopic is notified when a job's log grows or its state changes.
func JobTopic(id string) string { return "job/" + id }

// WorkerTopic is notified when a worker has an attempt to stop.
func WorkerTopic(id string) string { return "worker/" + id }
