package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rgrid/rgrid/internal/store"
)

const userColumns = `id, name, role, max_queued, max_running, created_at, budget_micros, budget_currency`

func scanUser(row pgx.Row) (store.User, error) {
	var u store.User
	if err := row.Scan(&u.ID, &u.Name, &u.Role, &u.MaxQueued, &u.MaxRunning, &u.CreatedAt, &u.BudgetMicros, &u.BudgetCurrency); err != nil {
		return store.User{}, err
	}
	u.CreatedAt = utc(u.CreatedAt)
	return u, nil
}

func notFound[T any](v T, err error) (T, error) {
	if errors.Is(err, pgx.ErrNoRows) {
		return v, store.ErrNotFound
	}
	return v, err
}

// CreateUser stores a user.
func (s *Store) CreateUser(ctx context.Context, u store.User) (store.User, error) {
	out, err := scanUser(s.pool.QueryRow(ctx, `INSERT INTO users (id, name, role, max_queued, max_running, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+userColumns,
		u.ID, u.Name, u.Role, u.MaxQueued, u.MaxRunning, nowOr(u.CreatedAt)))
	if pgCode(err) == codeUniqueViolation {
		return store.User{}, fmt.Errorf("create user %q: %w", u.Name, store.ErrUserExists)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("create user %q: %w", u.Name, err)
	}
	return out, nil
}

// GetUser returns a user by id.
func (s *Store) GetUser(ctx context.Context, id string) (store.User, error) {
	return notFound(scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id)))
}

// GetUserByName returns a user by name.
func (s *Store) GetUserByName(ctx context.Context, name string) (store.User, error) {
	return notFound(scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE name = $1`, name)))
}

// ListUsers returns every user by name.
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+userColumns+` FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.User, error) { return scanUser(r) })
}

// SetUserBudget replaces a user's monthly budget.
func (s *Store) SetUserBudget(ctx context.Context, id string, micros *int64, currency string) (store.User, error) {
	return notFound(scanUser(s.pool.QueryRow(ctx, `UPDATE users SET budget_micros = $2, budget_currency = $3
		WHERE id = $1 RETURNING `+userColumns, id, micros, currency)))
}

// SetUserLimits replaces a user's limits.
func (s *Store) SetUserLimits(ctx context.Context, id string, maxQueued, maxRunning *int) (store.User, error) {
	return notFound(scanUser(s.pool.QueryRow(ctx, `UPDATE users SET max_queued = $2, max_running = $3
		WHERE id = $1 RETURNING `+userColumns, id, maxQueued, maxRunning)))
}

const tokenColumns = `id, kind, user_id, pool, name, hash, created_by, created_at, expires_at, last_used_at, revoked_at`

func scanToken(row pgx.Row) (store.Token, error) {
	var t store.Token
	if err := row.Scan(&t.ID, &t.Kind, &t.UserID, &t.Pool, &t.Name, &t.Hash, &t.CreatedBy,
		&t.CreatedAt, &t.ExpiresAt, &t.LastUsedAt, &t.RevokedAt); err != nil {
		return store.Token{}, err
	}
	t.CreatedAt = utc(t.CreatedAt)
	t.ExpiresAt, t.LastUsedAt, t.RevokedAt = utcPtr(t.ExpiresAt), utcPtr(t.LastUsedAt), utcPtr(t.RevokedAt)
	return t, nil
}

// CreateToken stores a token's hash.
func (s *Store) CreateToken(ctx context.Context, t store.Token) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO tokens (`+tokenColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, NULL)`,
		t.ID, t.Kind, t.UserID, t.Pool, t.Name, t.Hash, t.CreatedBy, nowOr(t.CreatedAt), t.ExpiresAt)
	if err != nil {
		return fmt.Errorf("create token %s: %w", t.ID, err)
	}
	return nil
}

// TokenByHash finds a token by the hash of its secret.
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (store.Token, error) {
	return notFound(scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = $1`, hash)))
}

// ListTokens returns a user's tokens (every token for userID ""), newest
// first.
func (s *Store) ListTokens(ctx context.Context, userID string) ([]store.Token, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tokenColumns+` FROM tokens
		WHERE $1 = '' OR user_id = $1 ORDER BY created_at DESC, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Token, error) { return scanToken(r) })
}

// RevokeToken marks a token revoked.
func (s *Store) RevokeToken(ctx context.Context, id string, now time.Time) (store.Token, error) {
	return notFound(scanToken(s.pool.QueryRow(ctx, `UPDATE tokens SET revoked_at = coalesce(revoked_at, $2)
		WHERE id = $1 RETURNING `+tokenColumns, id, nowOr(now))))
}

// TouchToken records a token's use.
func (s *Store) TouchToken(ctx context.Context, id string, now time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE tokens SET last_used_at = $2 WHERE id = $1`, id, nowOr(now))
	return err
}

// CountTokens counts the stored tokens.
func (s *Store) CountTokens(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM tokens`).Scan(&n)
	return n, err
}

// AppendAudit adds to the audit log.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEntry) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO audit_log (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)`,
		nowOr(e.Time), e.Actor, e.Action, e.Target, e.Detail)
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
	rows, err := s.pool.Query(ctx, `SELECT id, at, actor, action, target, detail FROM audit_log
		WHERE $1::bigint = 0 OR id < $1 ORDER BY id DESC LIMIT $2`, p.BeforeID, limit)
	if err != nil {
		return nil, fmt.Errorf("list the audit log: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.AuditEntry, error) {
		var e store.AuditEntry
		err := r.Scan(&e.ID, &e.Time, &e.Actor, &e.Action, &e.Target, &e.Detail)
		e.Time = utc(e.Time)
		return e, err
	})
}

// CountJobs counts an owner's jobs in some states.
func (s *Store) CountJobs(ctx context.Context, owner string, states []store.State) (int, error) {
	st := make([]string, len(states))
	for i, x := range states {
		st[i] = string(x)
	}
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM jobs WHERE owner_id = $1 AND state = ANY ($2)`, owner, st).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count jobs of %s: %w", owner, err)
	}
	return n, nil
}

// ActiveByOwner counts leased and running jobs per owner.
func (s *Store) ActiveByOwner(ctx context.Context) ([]store.OwnerCount, error) {
	rows, err := s.pool.Query(ctx, `SELECT owner_id, count(*) FROM jobs
		WHERE state IN ('leased', 'running') GROUP BY owner_id`)
	if err != nil {
		return nil, fmt.Errorf("count running jobs per owner: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.OwnerCount, error) {
		var c store.OwnerCount
		return c, r.Scan(&c.Owner, &c.Jobs)
	})
}

func hashSet(ctx context.Context, q querier, sql string, args ...any) (map[string]bool, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	hs, err := pgx.CollectRows(rows, pgx.RowTo[string])
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
	out, err := hashSet(ctx, s.pool, `SELECT r.sha256 FROM blob_refs r
		WHERE r.sha256 = ANY ($1)
		  AND (EXISTS (SELECT 1 FROM jobs j WHERE j.id = r.job_id AND j.owner_id = $2)
		    OR EXISTS (SELECT 1 FROM batches b WHERE b.id = r.job_id AND b.owner_id = $2))
		UNION SELECT m.sha256 FROM manifest_blobs m
		WHERE m.sha256 = ANY ($1)
		  AND EXISTS (SELECT 1 FROM jobs j WHERE j.inputs_sha256 = m.manifest_sha256 AND j.owner_id = $2)`, hashes, owner)
	if err != nil {
		return nil, fmt.Errorf("blobs of %s: %w", owner, err)
	}
	return out, nil
}

// BlobsHeld returns which of hashes an active job on a worker of the
// token references.
func (s *Store) BlobsHeld(ctx context.Context, tokenID string, hashes []string) (map[string]bool, error) {
	out, err := hashSet(ctx, s.pool, `SELECT r.sha256 FROM blob_refs r
		WHERE r.sha256 = ANY ($1) AND EXISTS (SELECT 1 FROM jobs j JOIN workers w ON w.id = j.worker_id
			WHERE (j.id = r.job_id OR j.batch_id = r.job_id)
			  AND j.state IN ('leased', 'running') AND w.token_id = $2)
		UNION SELECT m.sha256 FROM manifest_blobs m
		WHERE m.sha256 = ANY ($1) AND EXISTS (SELECT 1 FROM jobs j JOIN workers w ON w.id = j.worker_id
			WHERE j.inputs_sha256 = m.manifest_sha256
			  AND j.state IN ('leased', 'running') AND w.token_id = $2)`, hashes, tokenID)
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
	rows, err := s.pool.Query(ctx, `SELECT id, attempt, worker_id FROM jobs
		WHERE id = ANY ($1) AND state IN ('leased', 'running')`, ids)
	if err != nil {
		return nil, fmt.Errorf("attempt holders: %w", err)
	}
	type cur struct {
		attempt int
		worker  string
	}
	current := map[string]cur{}
	var (
		id string
		c  cur
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &c.attempt, &c.worker}, func() error {
		current[id] = c
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("attempt holders: %w", err)
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
	return notFound(scanWorker(s.pool.QueryRow(ctx, `SELECT `+workerColumns+` FROM workers WHERE id = $1`, id)))
}

// ServerKey returns the key named name, storing fresh first if there is
// none.
func (s *Store) ServerKey(ctx context.Context, name string, fresh []byte, now time.Time) ([]byte, error) {
	var key []byte
	var err error
	// A key another server stored after this statement's snapshot and
	// before its insert gives no row: the next statement sees it.
	for range 3 {
		err = s.pool.QueryRow(ctx, `WITH ins AS (
				INSERT INTO server_keys (name, secret, created_at) VALUES ($1, $2, $3)
				ON CONFLICT (name) DO NOTHING RETURNING secret)
			SELECT secret FROM ins UNION ALL SELECT secret FROM server_keys WHERE name = $1
			LIMIT 1`, name, fresh, nowOr(now)).Scan(&key)
		if !errors.Is(err, pgx.ErrNoRows) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("server key %q: %w", name, err)
	}
	return key, nil
}
