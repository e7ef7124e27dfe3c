package client

import (
	"context"
	"net/http"
	"net/url"
)

// CostOptions select a cost report: Since and Until as GET /v1/cost
// takes them ("7d", "36h", "2026-11-01", an RFC 3339 time; "" for the
// last 30 days until now), By one of user, batch, pool, worker, day.
type CostOptions struct {
	Since, Until, By string
}

// Cost returns what jobs cost in a period: the caller's own, or every
// job and the idle capacity for an admin.
func (c *Client) Cost(ctx context.Context, o CostOptions) (CostReport, error) {
	q := url.Values{}
	for k, v := range map[string]string{"since": o.Since, "until": o.Until, "by": o.By} {
		if v != "" {
			q.Set(k, v)
		}
	}
	path := "/v1/cost"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out CostReport
	return out, c.do(ctx, http.MethodGet, path, nil, &out)
}
