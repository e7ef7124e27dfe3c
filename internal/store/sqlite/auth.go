package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/rgrid/rgrid/internal/store"
)

const userColumns = `id, name, role, max_queued, max_running, created_at, budget_micros, budget_currency`

func scanUser(sc scanner) (store.User, error) {
	var (
		u                 store.User
		maxQueued, maxRun sql.NullInt64
		created           int64
		budget            sql.NullInt64
	)
	if err := sc.Scan(&u.ID, &u.Name, &u.Role, &maxQueued, &maxRun, &created, &budget, &u.BudgetCurrency); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return store.User{}, store.ErrNotFound
		}
		return store.User{}, err
	}
	u.MaxQueued, u.MaxRunning, u.CreatedAt = fromNullInt(maxQueued), fromNullInt(maxRun), fromNanos(created)
	if budget.Valid {
		u.BudgetMicros = &budget.Int64
	}
	return u, nil
}

// CreateUser stores a user.
func (s *Store) CreateUser(ctx context.Context, u store.User) (store.User, error) {
	var out store.User
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = scanUser(tx.QueryRowContext(ctx, `INSERT INTO users (id, name, role, max_queued, max_running, created_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING RETURNING `+userColumns,
			u.ID, u.Name, u.Role, nullInt(u.MaxQueued), nullInt(u.MaxRunning), nanos(nowOr(u.CreatedAt))))
		if errors.Is(err, store.ErrNotFound) {
			return store.ErrUserExists
		}
		return err
	})
	if err != nil {
		return store.User{}, fmt.Errorf("create user %q: %w", u.Name, err)
	}
	return out, nil
}

// GetUser returns a user by id.
func (s *Store) GetUser(ctx context.Context, id string) (store.User, error) {
	return scanUser(s.r.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
}

// GetUserByName returns a user by name.
func (s *Store) GetUserByName(ctx context.Context, name string) (store.User, error) {
	return scanUser(s.r.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE name = ?`, name))
}

// collect scans every row with scan.
func collect[T any](rows *sql.Rows, err error, scan func(scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// ListUsers returns every user by name.
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+userColumns+` FROM users ORDER BY name`)
	out, err := collect(rows, err, scanUser)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}

// SetUserBudget replaces a user's monthly budget.
func (s *Store) SetUserBudget(ctx context.Context, id string, micros *int64, currency string) (store.User, error) {
	var out store.User
	err := s.write(ctx, func(tx *sql.Tx) error {
		var b sql.NullInt64
		if micros != nil {
			b = sql.NullInt64{Int64: *micros, Valid: true}
		}
		var err error
		out, err = scanUser(tx.QueryRowContext(ctx, `UPDATE users SET budget_micros = ?, budget_currency = ?
			WHERE id = ? RETURNING `+userColumns, b, currency, id))
		return err
	})
	return out, err
}

// SetUserLimits replaces a user's limits.
func (s *Store) SetUserLimits(ctx context.Context, id string, maxQueued, maxRunning *int) (store.User, error) {
	var out store.User
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = scanUser(tx.QueryRowContext(ctx, `UPDATE users SET max_queued = ?, max_running = ?
			WHERE id = ? RETURNING `+userColumns, nullInt(maxQueued), nullInt(maxRunning), id))
		return err
	})
	return out, err
}

const tokenColumns = `id, kind, user_id, pool, name, hash, created_by, created_at, expires_at, last_used_at, revoked_at`

func scanToken(sc scanner) (store.Token, error) {
	var (
		t                      store.Token
		created                int64
		expires, used, revoked sql.NullInt64
	)
	if err := sc.Scan(&t.ID, &t.Kind, &t.UserID, &t.Pool, &t.Name, &t.Hash, &t.CreatedBy,
		&created, &expires, &used, &revoked); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return store.Token{}, store.ErrNotFound
		}
		return store.Token{}, err
	}
	t.CreatedAt = fromNanos(created)
	t.ExpiresAt, t.LastUsedAt, t.RevokedAt = fromNullNanos(expires), fromNullNanos(used), fromNullNanos(revoked)
	return t, nil
}

// CreateToken stores a token's hash.
func (s *Store) CreateToken(ctx context.Context, t store.Token) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO tokens (`+tokenColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)`,
			t.ID, t.Kind, t.UserID, t.Pool, t.Name, t.Hash, t.CreatedBy, nanos(nowOr(t.CreatedAt)), nullNanos(t.ExpiresAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("create token %s: %w", t.ID, err)
	}
	return nil
}

// TokenByHash finds a token by the hash of its secret.
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (store.Token, error) {
	return scanToken(s.r.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = ?`, hash))
}

// ListTokens returns a user's tokens (every token for userID ""), newest
// first.
func (s *Store) ListTokens(ctx context.Context, userID string) ([]store.Token, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+tokenColumns+` FROM tokens
		WHERE ?1 = '' OR user_id = ?1 ORDER BY created_at DESC, id`, userID)
	out, err := collect(rows, err, scanToken)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}

// RevokeToken marks a token revoked.
func (s *Store) RevokeToken(ctx context.Context, id string, now time.Time) (store.Token, error) {
	var out store.Token
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = scanToken(tx.QueryRowContext(ctx, `UPDATE tokens SET revoked_at = coalesce(revoked_at, ?)
			WHERE id = ? RETURNING `+tokenColumns, nanos(nowOr(now)), id))
		return err
	})
	return out, err
}

// TouchToken records a token's use.
func (s *Store) TouchToken(ctx context.Context, id string, now time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE tokens SET last_used_at = ? WHERE id = ?`, nanos(nowOr(now)), id)
		return err
	})
}

// CountTokens counts the stored tokens.
func (s *Store) CountTokens(ctx context.Context) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM tokens`).Scan(&n)
	return n, err
}

// AppendAudit adds to the audit log.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEntry) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO audit_log (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)`,
			nanos(nowOr(e.Time)), e.Actor, e.Action, e.Target, e.Detail)
		return err
	})
	if err != nil {
		return fmt.Errorf("append to the audit log: %w", err)
	}
	return nil
}

// ListAudit returns audit entries newest first.
func (s *Store) ListAudit(ctx context.Context, p store.ListAuditParams) ([]store.AuditEntry, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, at, actor, action, target, detail FROM audit_log
		WHERE ?1 = 0 OR id < ?1 ORDER BY id DESC LIMIT ?2`, p.BeforeID, limit)
	out, err := collect(rows, err, func(sc scanner) (store.AuditEntry, error) {
		var (
			e  store.AuditEntry
			at int64
		)
		err := sc.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Target, &e.Detail)
		e.Time = fromNanos(at)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("list the audit log: %w", err)
	}
	return out, nil
}

// jsonList is v as a JSON array parameter for json_each.
func jsonList[T any](v []T) string {
	if v == nil {
		return "[]"
	}
	b, _ := json.Marshal(v) // strings and states always encode
	return string(b)
}

// CountJobs counts an owner's jobs in some states.
func (s *Store) CountJobs(ctx context.Context, owner string, states []store.State) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM jobs
		WHERE owner_id = ? AND state IN (SELECT value FROM json_each(?))`, owner, jsonList(states)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count jobs of %s: %w", owner, err)
	}
	return n, nil
}

// ActiveByOwner counts leased and running jobs per owner.
func (s *Store) ActiveByOwner(ctx context.Context) ([]store.OwnerCount, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT owner_id, count(*) FROM jobs
		WHERE state IN ('leased', 'running') GROUP BY owner_id ORDER BY owner_id`)
	out, err := collect(rows, err, func(sc scanner) (store.OwnerCount, error) {
		var c store.OwnerCount
		return c, sc.Scan(&c.Owner, &c.Jobs)
	})
	if err != nil {
		return nil, fmt.Errorf("count running jobs per owner: %w", err)
	}
	return out, nil
}

func (s *Store) hashSet(ctx context.Context, query string, args ...any) (map[string]bool, error) {
	rows, err := s.r.QueryContext(ctx, query, args...)
	hs, err := collect(rows, err, func(sc scanner) (string, error) {
		var h string
		return h, sc.Scan(&h)
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(hs))
	for _, h := range hs {
		out[h] = true
	}
	return out, nil
}

// BlobsOwned returns which of hashes a job or batch of owner references.
func (s *Store) BlobsOwned(ctx context.Context, owner string, hashes []string) (map[string]bool, error) {
	out, err := s.hashSet(ctx, `SELECT r.sha256 FROM blob_refs r
		WHERE r.sha256 IN (SELECT value FROM json_each(?1))
		  AND (EXISTS (SELECT 1 FROM jobs j WHERE j.id = r.job_id AND j.owner_id = ?2)
		    OR EXISTS (SELECT 1 FROM batches b WHERE b.id = r.job_id AND b.owner_id = ?2))
		UNION SELECT m.sha256 FROM manifest_blobs m
		WHERE m.sha256 IN (SELECT value FROM json_each(?1))
		  AND EXISTS (SELECT 1 FROM jobs j WHERE j.inputs_sha256 = m.manifest_sha256 AND j.owner_id = ?2)`, jsonList(hashes), owner)
	if err != nil {
		return nil, fmt.Errorf("blobs of %s: %w", owner, err)
	}
	return out, nil
}

// BlobsHeld returns which of hashes an active job on a worker of the
// token references.
func (s *Store) BlobsHeld(ctx context.Context, tokenID string, hashes []string) (map[string]bool, error) {
	out, err := s.hashSet(ctx, `SELECT r.sha256 FROM blob_refs r
		WHERE r.sha256 IN (SELECT value FROM json_each(?1)) AND EXISTS (SELECT 1 FROM jobs j
			JOIN workers w ON w.id = j.worker_id
			WHERE (j.id = r.job_id OR j.batch_id = r.job_id)
			  AND j.state IN ('leased', 'running') AND w.token_id = ?2)
		UNION SELECT m.sha256 FROM manifest_blobs m
		WHERE m.sha256 IN (SELECT value FROM json_each(?1)) AND EXISTS (SELECT 1 FROM jobs j
			JOIN workers w ON w.id = j.worker_id
			WHERE j.inputs_sha256 = m.manifest_sha256
			  AND j.state IN ('leased', 'running') AND w.token_id = ?2)`, jsonList(hashes), tokenID)
	if err != nil {
		return nil, fmt.Errorf("blobs held by workers of token %s: %w", tokenID, err)
	}
	return out, nil
}

// AttemptHolders says which worker holds each attempt.
func (s *Store) AttemptHolders(ctx context.Context, refs []store.AttemptRef) ([]string, error) {
	ids := make([]string, len(refs))
	for i, r := range refs {
		ids[i] = r.JobID
	}
	type cur struct {
		id, worker string
		attempt    int
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, attempt, worker_id FROM jobs
		WHERE id IN (SELECT value FROM json_each(?)) AND state IN ('leased', 'running')`, jsonList(ids))
	got, err := collect(rows, err, func(sc scanner) (cur, error) {
		var c cur
		return c, sc.Scan(&c.id, &c.attempt, &c.worker)
	})
	if err != nil {
		return nil, fmt.Errorf("attempt holders: %w", err)
	}
	current := make(map[string]cur, len(got))
	for _, c := range got {
		current[c.id] = c
	}
	out := make([]string, len(refs))
	for i, r := range refs {
		if c, ok := current[r.JobID]; ok && c.attempt == r.Attempt {
			out[i] = c.worker
		}
	}
	return out, nil
}

// GetWorker returns a worker's registration.
func (s *Store) GetWorker(ctx context.Context, id string) (store.Worker, error) {
	w, err := scanWorker(s.r.QueryRowContext(ctx, `SELECT `+workerColumns+` FROM workers WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Worker{}, store.ErrNotFound
	}
	return w, err
}

// ServerKey returns the key named name, storing fresh first if there is
// none.
func (s *Store) ServerKey(ctx context.Context, name string, fresh []byte, now time.Time) ([]byte, error) {
	var key []byte
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO server_keys (name, secret, created_at) VALUES (?, ?, ?)
			ON CONFLICT (name) DO NOTHING`, name, fresh, nanos(nowOr(now))); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT secret FROM server_keys WHERE name = ?`, name).Scan(&key)
	})
	if err != nil {
		return nil, fmt.Errorf("server key %q: %w", name, err)
	}
	return key, nil
}
