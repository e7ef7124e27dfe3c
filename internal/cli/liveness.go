package cli

import (
	"time"

	"github.com/spf13/pflag"

	"github.com/rgrid/rgrid/internal/node"
)

// livenessFlags are a server's heartbeat interval and dead-after: how often
// its workers heartbeat and how long one may be silent before its jobs go
// elsewhere. rgrid server has them, and so do the commands that start an
// embedded server (rgrid dev, and rgrid run, where they are hidden: an
// embedded run's worker lives in the same process, and its dead-after is
// also how long a killed embedded run's job waits before the next run
// settles it).
type livenessFlags struct {
	heartbeat, deadAfter time.Duration
}

func (l *livenessFlags) add(f *pflag.FlagSet, hidden bool) {
	f.DurationVar(&l.heartbeat, "heartbeat-interval", 5*time.Second, "how often workers heartbeat")
	f.DurationVar(&l.deadAfter, "dead-after", 15*time.Second, "a worker silent this long is dead; its jobs go to other workers")
	if hidden {
		_ = f.MarkHidden("heartbeat-interval")
		_ = f.MarkHidden("dead-after")
	}
}

// options checks the two and returns them as server options.
func (l *livenessFlags) options() (node.ServerOptions, error) {
	if l.heartbeat < time.Second || l.deadAfter%time.Second != 0 || l.heartbeat%time.Second != 0 {
		return node.ServerOptions{}, userErr("use whole seconds, e.g. --heartbeat-interval 5s --dead-after 15s",
			"--heartbeat-interval and --dead-after are whole seconds of at least 1 s")
	}
	if l.deadAfter <= l.heartbeat {
		return node.ServerOptions{}, userErr("make --dead-after a few heartbeats long (the default is 3)",
			"--dead-after %s must be longer than --heartbeat-interval %s", l.deadAfter, l.heartbeat)
	}
	return node.ServerOptions{HeartbeatInterval: l.heartbeat, DeadAfter: l.deadAfter}, nil
}
