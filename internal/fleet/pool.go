// Package fleet is rgrid server's autoscaler: it starts and stops the
// machines of worker pools, through a Provider (hetzner for Hetzner Cloud,
// docker for the local engine), as the queue asks. Pools come from the
// server's config file ([[pools]] tables); the policy (Decide) is a pure
// function over a snapshot of the queue, the pool's workers and the
// provider's machines, so that every rule is tested without a cloud or a
// clock. Every machine it makes carries the label rgrid-pool=NAME and is
// found again by that label after a restart: nothing it made is kept only
// in memory.
package fleet

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/rgrid/rgrid/internal/bytesize"
	"github.com/rgrid/rgrid/internal/money"
)

// Pool is one [[pools]] table of the server's config file.
type Pool struct {
	Name     string `toml:"name"`
	Provider string `toml:"provider"` // "hetzner" or "docker"
	Min      int    `toml:"min"`
	Max      int    `toml:"max"`
	// What one worker of the pool offers: job slots, CPUs and memory
	// ("4GiB"). A queued job that asks for more than one worker has is
	// not counted as demand of this pool.
	Slots  int     `toml:"slots"`
	CPUs   float64 `toml:"cpus"`
	Memory string  `toml:"memory"`
	// PricePerHour is what one machine costs an hour, an amount with its
	// currency ("0.0119 EUR"): every worker the pool starts is priced at
	// it, so that its jobs are charged. A hetzner pool without it takes
	// the price of the server type and location each machine gets from
	// Hetzner's pricing API. MaxSpendPerHour is the ceiling of the pool's
	// machines together, in the same currency ("" or none).
	PricePerHour    Amount `toml:"price_per_hour"`
	MaxSpendPerHour Amount `toml:"max_spend_per_hour"`
	// BilledHourly keeps an idle machine until near the end of the hour
	// already paid for (the last ScaleInWindow of it); default true for
	// hetzner.
	BilledHourly *bool `toml:"billed_hourly"`
	// IdleWindow is how long a worker must have run nothing before it is
	// stopped (default 10m).
	IdleWindow string `toml:"idle_window"`
	// CooldownOut and CooldownIn are the least time between two scale-outs,
	// and between two scale-ins (defaults 1m and 5m): one per direction, so
	// that a scale-out does not hold back the scale-in after it, and the
	// reverse.
	CooldownOut string `toml:"cooldown_out"`
	CooldownIn  string `toml:"cooldown_in"`
	// BootTimeout is how long a machine may take to register its worker
	// before it is deleted as failed (default 10m).
	BootTimeout string `toml:"boot_timeout"`

	Hetzner *HetznerPool `toml:"hetzner"`
	Docker  *DockerPool  `toml:"docker"`

	// Parsed by Validate.
	memoryBytes                        int64
	price                              Price
	maxSpendMicros                     int64
	idle, coolOut, coolIn, bootTimeout time.Duration
}

// HetznerPool is a pool's [pools.hetzner] table.
type HetznerPool struct {
	// ServerTypes and Locations are tried in order, every type in every
	// location: the first pair with capacity is used.
	ServerTypes []string `toml:"server_types"`
	Locations   []string `toml:"locations"`
	// Image is an image name ("ubuntu-24.04"); ImageSelector a label
	// selector picking the newest snapshot that matches. One of them.
	Image         string            `toml:"image"`
	ImageSelector string            `toml:"image_selector"`
	SSHKeys       []string          `toml:"ssh_keys"`
	Networks      []string          `toml:"networks"`
	Firewalls     []string          `toml:"firewalls"`
	Labels        map[string]string `toml:"labels"`
	// TokenEnv is the environment variable holding the API token (default
	// HCLOUD_TOKEN): the token is never written in the file.
	TokenEnv string `toml:"token_env"`
	// Endpoint overrides the API's URL (tests).
	Endpoint string `toml:"endpoint"`
	// ServerURL is the rgrid server the machines' workers reach, and
	// CACertFile the CA they trust for it (optional).
	ServerURL  string `toml:"server_url"`
	CACertFile string `toml:"ca_cert_file"`
	// BinaryURL is where cloud-init downloads the rgrid binary from, and
	// BinarySHA256 its SHA-256 (hex), checked before it runs.
	BinaryURL    string `toml:"binary_url"`
	BinarySHA256 string `toml:"binary_sha256"`
	// Executor the workers use (default docker).
	Executor string `toml:"executor"`
}

// DockerPool is a pool's [pools.docker] table.
type DockerPool struct {
	Image     string `toml:"image"`      // an image holding rgrid, e.g. rgrid-worker:dev
	Network   string `toml:"network"`    // the Docker network the server is reached on
	ServerURL string `toml:"server_url"` // the server's URL from inside that network
}

// Names of the providers.
const (
	ProviderHetzner = "hetzner"
	ProviderDocker  = "docker"
)

var poolName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$`)

// Validate checks a pool and fills its defaults; the error names the
// pool, the key and what to write instead.
func (p *Pool) Validate() error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("[[pools]] %q: %s", p.Name, fmt.Sprintf(format, args...))
	}
	if !poolName.MatchString(p.Name) {
		return fmt.Errorf("[[pools]] name %q: use 1 to 32 lowercase letters, digits and '-', e.g. name = \"cpu\"", p.Name)
	}
	switch p.Provider {
	case ProviderHetzner:
		if p.Hetzner == nil {
			return fail(`provider "hetzner" needs a [pools.hetzner] table (server_types, locations, image, server_url, binary_url)`)
		}
		if err := p.Hetzner.validate(); err != nil {
			return fail("%v", err)
		}
		if p.BilledHourly == nil {
			t := true
			p.BilledHourly = &t
		}
	case ProviderDocker:
		if p.Docker == nil || p.Docker.Image == "" || p.Docker.Network == "" || p.Docker.ServerURL == "" {
			return fail(`provider "docker" needs a [pools.docker] table with image, network and server_url`)
		}
	default:
		return fail(`provider %q is not known: use "hetzner" or "docker"`, p.Provider)
	}
	if p.BilledHourly == nil {
		f := false
		p.BilledHourly = &f
	}
	if p.Min < 0 || p.Max < 1 || p.Min > p.Max {
		return fail("min %d and max %d: need 0 <= min <= max and max >= 1", p.Min, p.Max)
	}
	if p.Max > 1000 {
		return fail("max %d: at most 1000 machines per pool", p.Max)
	}
	if p.Slots < 1 {
		return fail("slots %d: each worker needs at least 1 slot, e.g. slots = 4", p.Slots)
	}
	if p.CPUs <= 0 {
		return fail("cpus %g: say how many CPUs one worker has, e.g. cpus = 4", p.CPUs)
	}
	if p.Memory == "" {
		return fail(`memory: say how much memory one worker has, e.g. memory = "8GiB"`)
	}
	m, err := bytesize.Parse(p.Memory)
	if err != nil || m <= 0 {
		return fail("memory %q: write a size such as \"8GiB\"", p.Memory)
	}
	p.memoryBytes = m
	if err := p.validatePrices(); err != nil {
		return fail("%v", err)
	}
	for _, d := range []struct {
		key, raw string
		def      time.Duration
		out      *time.Duration
	}{
		{"idle_window", p.IdleWindow, 10 * time.Minute, &p.idle},
		{"cooldown_out", p.CooldownOut, time.Minute, &p.coolOut},
		{"cooldown_in", p.CooldownIn, 5 * time.Minute, &p.coolIn},
		{"boot_timeout", p.BootTimeout, 10 * time.Minute, &p.bootTimeout},
	} {
		*d.out = d.def
		if d.raw == "" {
			continue
		}
		v, err := time.ParseDuration(d.raw)
		if err != nil || v < 0 {
			return fail("%s %q: write a duration such as \"5m\"", d.key, d.raw)
		}
		*d.out = v
	}
	return nil
}

// maxPrice bounds a price or spend per hour (units of its currency).
const maxPrice = 1_000_000

func (p *Pool) validatePrices() error {
	p.price, p.maxSpendMicros = Price{}, 0
	if p.PricePerHour != "" {
		m, c, err := money.ParseWithCurrency(string(p.PricePerHour), maxPrice)
		if err != nil {
			return fmt.Errorf("price_per_hour: %v", err)
		}
		p.price = Price{Micros: m, Currency: c}
	}
	if p.MaxSpendPerHour == "" {
		return nil
	}
	m, c, err := money.ParseWithCurrency(string(p.MaxSpendPerHour), maxPrice)
	switch {
	case err != nil:
		return fmt.Errorf("max_spend_per_hour: %v", err)
	case p.price.Micros == 0:
		return errors.New(`max_spend_per_hour needs price_per_hour, the cost of one machine an hour, e.g. price_per_hour = "0.0119 EUR"`)
	case c != p.price.Currency:
		return fmt.Errorf("max_spend_per_hour is in %s, price_per_hour in %s: give both in one currency", c, p.price.Currency)
	case int64(p.Min)*p.price.Micros > m:
		return fmt.Errorf("min %d machines cost %s %s an hour, over max_spend_per_hour %s %s",
			p.Min, money.Format(int64(p.Min)*p.price.Micros), c, money.Format(m), c)
	}
	p.maxSpendMicros = m
	return nil
}

// Amount is a money string of the config file: an amount and its
// currency code, "0.0119 EUR". A bare number is refused, naming the form.
type Amount string

// UnmarshalTOML takes a string only.
func (a *Amount) UnmarshalTOML(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("%v is a bare number: write the amount with its currency as a string, e.g. \"%v EUR\"", v, v)
	}
	*a = Amount(s)
	return nil
}

// Price is an amount per hour in micro-units of Currency; zero is no
// price.
type Price struct {
	Micros   int64
	Currency string
}

// Price is the pool's price_per_hour (after Validate); zero when unset.
func (p *Pool) Price() Price { return p.price }

func (h *HetznerPool) validate() error {
	if len(h.ServerTypes) == 0 || len(h.Locations) == 0 {
		return errors.New(`[pools.hetzner] needs server_types and locations, e.g. server_types = ["cpx31", "cx42"], locations = ["fsn1", "nbg1"]`)
	}
	if (h.Image == "") == (h.ImageSelector == "") {
		return errors.New(`[pools.hetzner] needs one of image ("ubuntu-24.04") or image_selector ("role=rgrid-worker")`)
	}
	if !strings.HasPrefix(h.ServerURL, "https://") {
		return errors.New(`[pools.hetzner] server_url must be the https:// URL the machines reach the server on`)
	}
	if !strings.HasPrefix(h.BinaryURL, "https://") {
		return errors.New(`[pools.hetzner] binary_url must be an https:// URL of the rgrid linux binary`)
	}
	if len(h.BinarySHA256) != 64 || strings.Trim(strings.ToLower(h.BinarySHA256), "0123456789abcdef") != "" {
		return errors.New(`[pools.hetzner] binary_sha256 must be the 64 hex digits of the binary's SHA-256 (sha256sum rgrid), so that a machine never runs a binary altered on its way`)
	}
	for k := range h.Labels {
		if strings.HasPrefix(k, "rgrid-") {
			return fmt.Errorf("[pools.hetzner] labels: %q: the rgrid- prefix is the autoscaler's own", k)
		}
	}
	if h.TokenEnv == "" {
		h.TokenEnv = "HCLOUD_TOKEN"
	}
	if h.Executor == "" {
		h.Executor = "docker"
	}
	return nil
}

// MemoryBytes is one worker's memory (after Validate).
func (p *Pool) MemoryBytes() int64 { return p.memoryBytes }

// IdleWindowDuration is the parsed idle_window (after Validate).
func (p *Pool) IdleWindowDuration() time.Duration { return p.idle }

// ValidatePools validates every pool and refuses two of one name.
func ValidatePools(ps []Pool) error {
	seen := map[string]bool{}
	for i := range ps {
		if err := ps[i].Validate(); err != nil {
			return err
		}
		if seen[ps[i].Name] {
			return fmt.Errorf("[[pools]] %q is defined twice: give each pool its own name", ps[i].Name)
		}
		seen[ps[i].Name] = true
	}
	return nil
}
