package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Roles of a user.
const (
	RoleAdmin = "admin"
	RoleUser  = "user"
)

// Kinds of token.
const (
	TokenUser   = "user"
	TokenWorker = "worker"
)

// Whoami is who the server takes the caller for (GET /v1/whoami).
type Whoami struct {
	// Kind is "user", "worker", "open" (a server without users: everyone
	// is an admin) or "legacy" (the server's old shared --token).
	Kind  string `json:"kind"`
	User  string `json:"user,omitempty"`
	Role  string `json:"role,omitempty"`
	Token string `json:"token,omitempty"` // the token's prefix
	Pool  string `json:"pool,omitempty"`
}

// User is a user of the grid. MaxQueued and MaxRunning are their own
// limits (nil: the server's default; 0: none).
type User struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Role       string `json:"role"`
	MaxQueued  *int   `json:"max_queued,omitempty"`
	MaxRunning *int   `json:"max_running,omitempty"`
	// Budget is what the user's jobs may cost per calendar month (UTC);
	// nil for none.
	Budget    *Money    `json:"budget,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// UserBudgetRequest is the body of PUT /v1/users/{name}/budget: a
// monthly budget, or nil Micros for none.
type UserBudgetRequest struct {
	Micros   *int64 `json:"micros"`
	Currency string `json:"currency,omitempty"`
}

// SetUserBudget sets a user's monthly budget (nil micros: none).
func (c *Client) SetUserBudget(ctx context.Context, name string, req UserBudgetRequest) (User, error) {
	var out User
	return out, c.do(ctx, http.MethodPut, "/v1/users/"+url.PathEscape(name)+"/budget", req, &out)
}

// Token is an API token as listed: never its secret.
type Token struct {
	ID         string     `json:"id"` // the visible prefix, e.g. rgu_1a2b3c4d
	Kind       string     `json:"kind"`
	User       string     `json:"user,omitempty"`
	Pool       string     `json:"pool,omitempty"`
	Name       string     `json:"name,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// NewToken is a token just made: Secret is shown this once and never
// again.
type NewToken struct {
	Token
	Secret string `json:"secret"`
}

// CreateUserRequest is POST /v1/users (admins).
type CreateUserRequest struct {
	Name string `json:"name"`
	Role string `json:"role,omitempty"` // default user
}

// CreateUserResponse is the user and their first token.
type CreateUserResponse struct {
	User  User     `json:"user"`
	Token NewToken `json:"token"`
}

// CreateTokenRequest is POST /v1/tokens (a token for the caller) and POST
// /v1/worker-tokens (admins: a worker token).
type CreateTokenRequest struct {
	Name string `json:"name,omitempty"`
	// ExpiresInSeconds, when positive, makes the token expire that long
	// after it is made.
	ExpiresInSeconds int64  `json:"expires_in_seconds,omitempty"`
	Pool             string `json:"pool,omitempty"` // worker tokens
}

// UserLimitsRequest is PATCH /v1/users/{name} (admins). A nil field is
// the server's default, 0 none.
type UserLimitsRequest struct {
	MaxQueued  *int `json:"max_queued"`
	MaxRunning *int `json:"max_running"`
}

// AuditEntry is one entry of the audit log.
type AuditEntry struct {
	ID     int64     `json:"id"`
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Target string    `json:"target,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

// AuditPage is a page of the audit log, newest first.
type AuditPage struct {
	Entries []AuditEntry `json:"entries"`
	Next    string       `json:"next,omitempty"`
}

// Whoami asks the server who the client's token is.
func (c *Client) Whoami(ctx context.Context) (Whoami, error) {
	var out Whoami
	return out, c.do(ctx, http.MethodGet, "/v1/whoami", nil, &out)
}

// CreateUser makes a user and their first token (admins).
func (c *Client) CreateUser(ctx context.Context, req CreateUserRequest) (CreateUserResponse, error) {
	var out CreateUserResponse
	return out, c.do(ctx, http.MethodPost, "/v1/users", req, &out)
}

// ListUsers lists the users (admins).
func (c *Client) ListUsers(ctx context.Context) ([]User, error) {
	var out struct {
		Users []User `json:"users"`
	}
	return out.Users, c.do(ctx, http.MethodGet, "/v1/users", nil, &out)
}

// SetUserLimits sets a user's limits (admins).
func (c *Client) SetUserLimits(ctx context.Context, name string, req UserLimitsRequest) (User, error) {
	var out User
	return out, c.do(ctx, http.MethodPatch, "/v1/users/"+url.PathEscape(name), req, &out)
}

// CreateToken makes a token for the caller.
func (c *Client) CreateToken(ctx context.Context, req CreateTokenRequest) (NewToken, error) {
	var out NewToken
	return out, c.do(ctx, http.MethodPost, "/v1/tokens", req, &out)
}

// CreateWorkerToken makes a worker token (admins).
func (c *Client) CreateWorkerToken(ctx context.Context, req CreateTokenRequest) (NewToken, error) {
	var out NewToken
	return out, c.do(ctx, http.MethodPost, "/v1/worker-tokens", req, &out)
}

// ListTokens lists the caller's tokens; all, for an admin, lists every
// token, worker tokens included.
func (c *Client) ListTokens(ctx context.Context, all bool) ([]Token, error) {
	var out struct {
		Tokens []Token `json:"tokens"`
	}
	path := "/v1/tokens"
	if all {
		path += "?all=true"
	}
	return out.Tokens, c.do(ctx, http.MethodGet, path, nil, &out)
}

// RevokeToken revokes a token by its prefix: one of the caller's, or any
// for an admin.
func (c *Client) RevokeToken(ctx context.Context, prefix string) (Token, error) {
	var out Token
	return out, c.do(ctx, http.MethodDelete, "/v1/tokens/"+url.PathEscape(prefix), nil, &out)
}

// Audit reads a page of the audit log (admins); before is the previous
// page's Next, or "".
func (c *Client) Audit(ctx context.Context, before string, limit int) (AuditPage, error) {
	q := url.Values{}
	if before != "" {
		q.Set("before", before)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	path := "/v1/audit"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out AuditPage
	return out, c.do(ctx, http.MethodGet, path, nil, &out)
}
