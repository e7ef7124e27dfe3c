package node

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rgrid/rgrid/internal/fleet"
	"github.com/rgrid/rgrid/internal/runtimes"
)

// Autoscaling mints worker tokens: on an open grid the first would close
// it to everyone, so a server without credentials refuses pools.
func TestAutoscalingNeedsTokens(t *testing.T) {
	t.Setenv("RGRID_DATA_DIR", t.TempDir())
	t.Setenv("RGRID_TEST_HCLOUD_TOKEN", "not-used")
	p := fleet.Pool{Name: "cpu", Provider: fleet.ProviderHetzner, Max: 1, Slots: 1, CPUs: 1, Memory: "1GiB",
		Hetzner: &fleet.HetznerPool{ServerTypes: []string{"cx22"}, Locations: []string{"fsn1"}, Image: "ubuntu-24.04",
			TokenEnv: "RGRID_TEST_HCLOUD_TOKEN", Endpoint: "http://127.0.0.1:9", ServerURL: "https://s", BinaryURL: "https://b",
			BinarySHA256: strings.Repeat("ab", 32)}}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	rt, _ := runtimes.New(nil)
	err := RunServer(t.Context(), ServerConfig{DB: filepath.Join(t.TempDir(), "rgrid.db"), Migrate: true,
		Listen: "127.0.0.1:0", Runtimes: rt, Autoscale: Autoscale{Pools: []fleet.Pool{p}}, Log: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), "needs a server that requires tokens") {
		t.Fatalf("autoscaling on an open grid: %v", err)
	}
}
