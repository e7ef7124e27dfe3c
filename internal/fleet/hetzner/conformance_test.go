package hetzner_test

import (
	"testing"

	"github.com/rgrid/rgrid/internal/fleet"
	"github.com/rgrid/rgrid/internal/fleet/fleettest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	fleettest.Run(t, fleettest.Harness{Pool: hetznerPool(t, api, "cpu"), Other: hetznerPool(t, api, "gpu"),
		New: func(t *testing.T, p *fleet.Pool) fleet.Provider { return newProvider(t, p, nil) }})
}
