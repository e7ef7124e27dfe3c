package server

import (
	"context"
	"math"
	"regexp"
	"sync"
	"time"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/store"
)

// What jobs cost: workers register their price (client.Pricing), a claim
// charges each attempt its worker's price times the job's share of the
// worker (store.Rate), and the reports sum the attempts' run times at
// those rates.

// maxPriceMicros bounds a worker's price per hour (1,000,000 units of
// its currency): far above any machine, low enough that no sum of a
// year's attempts overflows.
const maxPriceMicros = 1_000_000 * 1_000_000

var currencyCode = regexp.MustCompile(`^[A-Z]{3}$`)

// checkPricing refuses a worker's pricing that is not a price: negative or
// absurd amounts, a currency that is not an ISO 4217 code, capacity that
// is not a number.
func checkPricing(p *client.Pricing) (store.Pricing, error) {
	if p == nil {
		return store.Pricing{}, nil
	}
	fix := "start the worker with --price-per-hour 0.02 --currency EUR (and --billing-seconds 3600 for hourly billing)"
	switch {
	case p.PriceMicrosPerHour < 0 || p.PriceMicrosPerHour > maxPriceMicros:
		return store.Pricing{}, errorf(client.CodeInvalidRequest, fix,
			"price %d micro-units per hour is out of range (0 to %d)", p.PriceMicrosPerHour, int64(maxPriceMicros))
	case p.PriceMicrosPerHour > 0 && !currencyCode.MatchString(p.Currency):
		return store.Pricing{}, errorf(client.CodeInvalidRequest, fix,
			"currency %q is not a three-letter ISO 4217 code such as EUR or USD", p.Currency)
	case p.CPUs < 0 || math.IsNaN(p.CPUs) || math.IsInf(p.CPUs, 0) || p.MemoryBytes < 0:
		return store.Pricing{}, errorf(client.CodeInvalidRequest, "the worker agent sends its machine's CPUs and memory with --price-per-hour",
			"pricing capacity (cpus %v, memory %d bytes) must not be negative", p.CPUs, p.MemoryBytes)
	case p.BillingSeconds < 0 || p.BillingSeconds > 31*24*3600:
		return store.Pricing{}, errorf(client.CodeInvalidRequest, fix,
			"billing granularity %d s is out of range (0 to a month)", p.BillingSeconds)
	}
	return store.Pricing{PriceMicros: p.PriceMicrosPerHour, Currency: p.Currency, CPUs: p.CPUs,
		MemoryBytes: p.MemoryBytes, BillingSeconds: p.BillingSeconds}, nil
}

// pricingTTL is how long a replica uses a worker's pricing before reading
// its registration again: a worker that registers again on another
// replica with a new price is charged it within this time.
const pricingTTL = 30 * time.Second

// pricingCache keeps each worker's pricing and slots for its leases, so
// that a lease does not read the worker's row.
type pricingCache struct {
	mu sync.Mutex
	m  map[string]pricedWorker
}

type pricedWorker struct {
	pricing store.Pricing
	slots   int
	at      time.Time
}

func (c *pricingCache) put(w store.Worker, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]pricedWorker{}
	}
	if len(c.m) > 100_000 {
		clear(c.m) // a bound, far above any grid's workers
	}
	c.m[w.ID] = pricedWorker{w.Pricing, w.Slots, now}
}

// of returns worker id's pricing and slots, reading its registration when
// not known or older than pricingTTL.
func (s *Server) pricingOf(ctx context.Context, id string) (store.Pricing, int, error) {
	now := s.opts.Now()
	c := &s.pricing
	c.mu.Lock()
	p, ok := c.m[id]
	c.mu.Unlock()
	if ok && now.Sub(p.at) < pricingTTL {
		return p.pricing, p.slots, nil
	}
	w, err := s.store.GetWorker(ctx, id)
	if err != nil {
		return store.Pricing{}, 0, err
	}
	c.put(w, now)
	return w.Pricing, w.Slots, nil
}
