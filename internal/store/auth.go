package store

import (
	"context"
	"errors"
	"time"
)

// Errors of the users and tokens store.
var (
	// ErrUserExists: a user of that name is stored already.
	ErrUserExists = errors.New("user exists")
)

// Roles of a user.
const (
	RoleAdmin = "admin" // sees and acts on everything, manages users and workers
	RoleUser  = "user"  // sees and acts on their own jobs and batches
)

// Kinds of token: a user's, usable on the user routes, and a worker's,
// usable on the worker routes only.
const (
	TokenUser   = "user"
	TokenWorker = "worker"
)

// User is a person (or a service) that submits jobs.
type User struct {
	ID   string
	Name string
	Role string
	// MaxQueued and MaxRunning override the server's per-user limits on
	// the user's queued and running (leased or running) jobs: nil takes
	// the server's default, 0 is no limit.
	MaxQueued, MaxRunning *int
	// BudgetMicros is what the user's jobs may cost per calendar month
	// (UTC), in micro-units of BudgetCurrency; nil for no budget.
	BudgetMicros   *int64
	BudgetCurrency string
	CreatedAt      time.Time
}

// Token is an API credential. Its secret is never stored: Hash is the
// SHA-256 of the whole token, and ID its visible prefix, by which it is
// listed and revoked.
type Token struct {
	ID   string // e.g. "rgu_1a2b3c4d"
	Kind string // TokenUser or TokenWorker
	// UserID is the user a user token acts as ("" for a worker token).
	UserID string
	// Pool is a worker token's pool ("" for a user token or the default
	// pool).
	Pool       string
	Name       string
	Hash       []byte
	CreatedBy  string // the user id that made it ("" for the bootstrap)
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// Valid reports whether the token may be used at now: not revoked, not
// expired.
func (t Token) Valid(now time.Time) bool {
	return t.RevokedAt == nil && (t.ExpiresAt == nil || now.Before(*t.ExpiresAt))
}

// AuditEntry is one security-relevant action: who did what to what.
type AuditEntry struct {
	ID     int64 // assigned by the store; orders the log
	Time   time.Time
	Actor  string // the acting user's name, "bootstrap", or "worker:<token>"
	Action string // e.g. "token.create", "user.create", "job.cancel"
	Target string // what it acted on: a user's name, a token's prefix, a job id
	Detail string // a short free text, never a secret
}

// ListAuditParams selects a page of the audit log, newest first.
type ListAuditParams struct {
	BeforeID int64 // when non-zero, entries older than it
	Limit    int
}

// OwnerCount is how many jobs of one owner are in some states.
type OwnerCount struct {
	Owner string
	Jobs  int
}

// AuthStore is the part of Store that keeps users, tokens and the audit
// log, and answers the questions authorization asks.
type AuthStore interface {
	// CreateUser stores a user; ErrUserExists if the name is taken.
	CreateUser(ctx context.Context, u User) (User, error)
	// GetUser returns a user by id, GetUserByName by name; ErrNotFound.
	GetUser(ctx context.Context, id string) (User, error)
	GetUserByName(ctx context.Context, name string) (User, error)
	// ListUsers returns every user, by name.
	ListUsers(ctx context.Context) ([]User, error)
	// SetUserLimits replaces a user's MaxQueued and MaxRunning.
	SetUserLimits(ctx context.Context, id string, maxQueued, maxRunning *int) (User, error)
	// SetUserBudget replaces a user's monthly budget (nil: none).
	SetUserBudget(ctx context.Context, id string, micros *int64, currency string) (User, error)

	// CreateToken stores a token (its hash, never its secret).
	CreateToken(ctx context.Context, t Token) error
	// TokenByHash returns the token whose Hash is hash, revoked and
	// expired ones included; ErrNotFound.
	TokenByHash(ctx context.Context, hash []byte) (Token, error)
	// ListTokens returns the tokens of a user (userID "" for all of
	// them, worker tokens included), newest first.
	ListTokens(ctx context.Context, userID string) ([]Token, error)
	// RevokeToken marks the token with that id revoked at now and returns
	// it; ErrNotFound. Revoking a revoked token keeps its first time.
	RevokeToken(ctx context.Context, id string, now time.Time) (Token, error)
	// TouchToken records that the token was used at now.
	TouchToken(ctx context.Context, id string, now time.Time) error
	// CountTokens is how many tokens are stored, revoked ones included: a
	// server with none (and no other credential) is in open mode.
	CountTokens(ctx context.Context) (int, error)

	// AppendAudit adds an entry to the audit log (ID and, if zero, Time
	// are filled in).
	AppendAudit(ctx context.Context, e AuditEntry) error
	// ListAudit returns entries newest first.
	ListAudit(ctx context.Context, p ListAuditParams) ([]AuditEntry, error)

	// ServerKey returns the key stored under name, storing fresh there
	// first when there is none: every server on the database gets the same
	// key, whichever stored it.
	ServerKey(ctx context.Context, name string, fresh []byte, now time.Time) ([]byte, error)

	// CountJobs counts the jobs of owner in states (a user's queued jobs,
	// for the limit on them).
	CountJobs(ctx context.Context, owner string, states []State) (int, error)
	// ActiveByOwner counts, per owner, the jobs leased or running: what a
	// claim checks the owners' running limits against.
	ActiveByOwner(ctx context.Context) ([]OwnerCount, error)
	// BlobsOwned returns which of hashes a job or batch of owner
	// references.
	BlobsOwned(ctx context.Context, owner string, hashes []string) (map[string]bool, error)
	// InputsByHash returns the inputs manifest whose SHA-256 is hash of a
	// job of owner (NewJob.InputsSHA256), ErrNotFound when no job of
	// owner has it: another owner's manifests are not found.
	InputsByHash(ctx context.Context, owner, hash string) ([]byte, error)
	// BlobsHeld returns which of hashes a job references that is leased
	// or running on a worker registered with the token tokenID (an item's
	// batch's shared blobs count as its own).
	BlobsHeld(ctx context.Context, tokenID string, hashes []string) (map[string]bool, error)
	// GetWorker returns a worker's registration, or ErrNotFound.
	GetWorker(ctx context.Context, id string) (Worker, error)
	// AttemptHolders says, for each ref, the worker holding it: the
	// worker of the job's current attempt if that is ref.Attempt and
	// active, else "" (stale, ended, unknown).
	AttemptHolders(ctx context.Context, refs []AttemptRef) ([]string, error)
}

// IdempotencyWindow is how long a submission's idempotency key finds the
// job it made: a later submission with the key makes a new job.
const IdempotencyWindow = 24 * time.Hour

// CapArrays are a claim's OwnerCap as SQL parameters.
func CapArrays(m map[string]int) (owners []string, caps []int32) {
	owners, caps = []string{}, []int32{}
	for k, v := range m {
		owners, caps = append(owners, k), append(caps, int32(max(v, 0)))
	}
	return owners, caps
}
