package client

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// PoolStatus is one autoscaled pool as GET /v1/pools shows it (admins
// only): its bounds, how many machines it has and should have, and the
// autoscaler's last decision with its reason.
type PoolStatus struct {
	Name     string `json:"name"`
	Provider string `json:"provider"`
	Min      int    `json:"min"`
	Max      int    `json:"max"`
	// Current counts the machines up or starting and not draining;
	// Draining those draining; Target what Current should be.
	Current  int `json:"current"`
	Target   int `json:"target"`
	Draining int `json:"draining"`
	// LastDirection is "out", "in" or "hold"; LastDecision says why.
	LastDirection string     `json:"last_direction,omitempty"`
	LastDecision  string     `json:"last_decision"`
	DecidedAt     *time.Time `json:"decided_at,omitempty"`
}

// PoolsResponse is the body of GET /v1/pools. Enabled is false when the
// server runs no autoscaler (no [[pools]] in its config).
//
// Elsewhere is true on a replica that does not run the autoscaler now:
// another replica holds its lease, and the pools shown are what this one
// last decided when it did (or nothing yet).
type PoolsResponse struct {
	Enabled   bool         `json:"enabled"`
	Elsewhere bool         `json:"elsewhere,omitempty"`
	Pools     []PoolStatus `json:"pools"`
}

// Pools lists the autoscaled pools (admins only).
func (c *Client) Pools(ctx context.Context) (PoolsResponse, error) {
	var out PoolsResponse
	err := c.do(ctx, http.MethodGet, "/v1/pools", nil, &out)
	return out, err
}

// PoolBudgetRequest is the body of PUT /v1/pools/{name}/budget: a monthly
// budget for the pool's workers, or nil Micros for none.
type PoolBudgetRequest struct {
	Micros   *int64 `json:"micros"`
	Currency string `json:"currency,omitempty"`
}

// PoolBudget is a pool's monthly budget (nil Micros: none) and what it
// has used this month: its workers' running attempts at their worst
// case, the ended ones at what they cost. Resets is the date (UTC) it
// starts again.
type PoolBudget struct {
	Pool       string `json:"pool"`
	Micros     *int64 `json:"micros"`
	Currency   string `json:"currency,omitempty"`
	UsedMicros int64  `json:"used_micros"`
	Resets     string `json:"resets,omitempty"`
}

// PoolBudgetsResponse is the body of GET /v1/pool-budgets.
type PoolBudgetsResponse struct {
	Budgets []PoolBudget `json:"budgets"`
}

// SetPoolBudget sets a pool's monthly budget (nil micros: none).
func (c *Client) SetPoolBudget(ctx context.Context, pool string, req PoolBudgetRequest) (PoolBudget, error) {
	var out PoolBudget
	return out, c.do(ctx, http.MethodPut, "/v1/pools/"+url.PathEscape(pool)+"/budget", req, &out)
}

// PoolBudgets lists the pools' budgets.
func (c *Client) PoolBudgets(ctx context.Context) (PoolBudgetsResponse, error) {
	var out PoolBudgetsResponse
	return out, c.do(ctx, http.MethodGet, "/v1/pool-budgets", nil, &out)
}
