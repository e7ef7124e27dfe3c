package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/rgrid/rgrid/internal/store"
)

// TryLead takes or renews a singleton loop's lease (see store.LeaderStore).
func (s *Store) TryLead(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (store.Lease, error) {
	now = nowOr(now)
	l := store.Lease{Name: name}
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO leader_leases (name, holder, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
				WHERE leader_leases.holder = excluded.holder OR leader_leases.expires_at <= ?`,
			name, holder, nanos(now.Add(ttl)), nanos(now)); err != nil {
			return err
		}
		var exp int64
		if err := tx.QueryRowContext(ctx, `SELECT holder, expires_at FROM leader_leases WHERE name = ?`, name).Scan(&l.Holder, &exp); err != nil {
			return err
		}
		l.ExpiresAt = fromNanos(exp)
		return nil
	})
	if err != nil {
		return store.Lease{}, fmt.Errorf("lease %s: %w", name, err)
	}
	return l, nil
}

// Resign gives a lease up if holder holds it.
func (s *Store) Resign(ctx context.Context, name, holder string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM leader_leases WHERE name = ? AND holder = ?`, name, holder)
		return err
	})
	if err != nil {
		return fmt.Errorf("resign lease %s: %w", name, err)
	}
	return nil
}
