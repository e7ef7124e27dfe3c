package scheduler

import "sync"

// Notifier wakes waiters by topic without losing a wake-up: a waiter takes
// the topic's channel before it looks at the store, and Notify closes that
// channel, so a change made between the look and the wait is still seen.
type Notifier struct {
	mu     sync.Mutex
	topics map[string]chan struct{}
}

// NewNotifier returns an empty notifier.
func NewNotifier() *Notifier {
	return &Notifier{topics: map[string]chan struct{}{}}
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

// Notify wakes everyone waiting on topic.
func (n *Notifier) Notify(topic string) {
	n.mu.Lock()
	defer n.mu.Unlock()
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
