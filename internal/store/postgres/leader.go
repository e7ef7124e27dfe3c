package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rgrid/rgrid/internal/store"
)

// TryLead takes or renews a singleton loop's lease (see store.LeaderStore).
func (s *Store) TryLead(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (store.Lease, error) {
	now = nowOr(now).UTC()
	l := store.Lease{Name: name}
	err := s.pool.QueryRow(ctx, `INSERT INTO leader_leases (name, holder, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
			WHERE leader_leases.holder = excluded.holder OR leader_leases.expires_at <= $4
		RETURNING holder, expires_at`, name, holder, now.Add(ttl), now).Scan(&l.Holder, &l.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) { // another replica holds it
		err = s.pool.QueryRow(ctx, `SELECT holder, expires_at FROM leader_leases WHERE name = $1`, name).Scan(&l.Holder, &l.ExpiresAt)
	}
	if err != nil {
		return store.Lease{}, fmt.Errorf("lease %s: %w", name, err)
	}
	l.ExpiresAt = l.ExpiresAt.UTC()
	return l, nil
}

// Resign gives a lease up if holder holds it.
func (s *Store) Resign(ctx context.Context, name, holder string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM leader_leases WHERE name = $1 AND holder = $2`, name, holder); err != nil {
		return fmt.Errorf("resign lease %s: %w", name, err)
	}
	return nil
}
