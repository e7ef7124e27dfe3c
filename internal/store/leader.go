package store

import (
	"context"
	"time"
)

// LeaderStore keeps the leases of the server's singleton loops (the
// reaper, blob retention, the autoscaler): several replicas share one
// database, and each loop runs on the one replica that holds its lease.
//
// Times are the callers' clocks: replicas must agree on the time to well
// within a lease's TTL (NTP does).
type LeaderStore interface {
	// TryLead takes the lease name for holder until now+ttl, or renews it,
	// when nobody holds it, holder already does, or the lease expired by
	// now. It returns the lease as it is afterwards: Holder is holder
	// when holder leads.
	TryLead(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (Lease, error)
	// Resign gives the lease up when holder holds it, so that another
	// replica takes over at its next try rather than after the TTL.
	Resign(ctx context.Context, name, holder string) error
}

// Lease is who runs a singleton loop, until when.
type Lease struct {
	Name      string
	Holder    string
	ExpiresAt time.Time
}
