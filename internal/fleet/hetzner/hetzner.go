// Package hetzner is the autoscaler's provider for Hetzner Cloud, through
// hcloud-go: it creates servers from a pool's [pools.hetzner] table, with
// cloud-init that installs and starts rgrid worker with the machine's own
// worker token, labels each one rgrid-pool=NAME and finds them again by
// that label. A server whose create or start fails is deleted at once
// (as the Kubernetes cluster-autoscaler's Hetzner provider does), and a
// server type and location without capacity (resource_unavailable) is
// skipped for a while, the next pair tried. Each worker is priced at the
// pool's price_per_hour or, without one, at the hourly price Hetzner's
// pricing API gives its server type in its location (net, without VAT).
package hetzner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"

	"github.com/rgrid/rgrid/internal/fleet"
	"github.com/rgrid/rgrid/internal/money"
	"github.com/rgrid/rgrid/internal/version"
)

// Options configure a Provider beyond the pool's table.
type Options struct {
	// Token is the API token; "" reads the pool's token_env.
	Token string
	// PollInterval is how often an action is polled (default 1 s).
	PollInterval time.Duration
	// Quarantine is how long a server type and location pair that had no
	// capacity is skipped (default 15 min).
	Quarantine time.Duration
	Now        func() time.Time
	Log        *slog.Logger
}

// Provider runs a pool's machines as Hetzner Cloud servers.
type Provider struct {
	pool *fleet.Pool
	c    *hcloud.Client
	opts Options

	mu          sync.Mutex
	quarantined map[pair]time.Time // until when
	resolved    *resolved
	prices      map[pair]fleet.Price // from the pricing API, once
}

type pair struct{ serverType, location string }

// resolved are the pool's SSH keys, networks and firewalls by id, looked
// up by name once.
type resolved struct {
	sshKeys   []*hcloud.SSHKey
	networks  []*hcloud.Network
	firewalls []*hcloud.ServerCreateFirewall
}

// New makes the provider of a validated hetzner pool.
func New(pool *fleet.Pool, opts Options) (*Provider, error) {
	h := pool.Hetzner
	if opts.Token == "" {
		opts.Token = os.Getenv(h.TokenEnv)
	}
	if opts.Token == "" {
		return nil, fmt.Errorf("pool %s: no Hetzner Cloud API token: set %s (a read-write token of the project)", pool.Name, h.TokenEnv)
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.Quarantine <= 0 {
		opts.Quarantine = 15 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	copts := []hcloud.ClientOption{hcloud.WithToken(opts.Token), hcloud.WithApplication("rgrid", appVersion()),
		hcloud.WithPollOpts(hcloud.PollOpts{BackoffFunc: hcloud.ConstantBackoff(opts.PollInterval)})}
	if h.Endpoint != "" {
		copts = append(copts, hcloud.WithEndpoint(h.Endpoint))
	}
	return &Provider{pool: pool, c: hcloud.NewClient(copts...), opts: opts, quarantined: map[pair]time.Time{}, prices: map[pair]fleet.Price{}}, nil
}

func appVersion() string {
	if version.Version == "" {
		return "dev"
	}
	return version.Version
}

func (p *Provider) selector() string {
	return fleet.LabelPool + "=" + p.pool.Name + "," + fleet.LabelManaged + "=autoscaler"
}

// startGrace is how long a server may stay off before it counts as
// failed (a start that never came).
const startGrace = 5 * time.Minute

// Machines lists the pool's servers by label.
func (p *Provider) Machines(ctx context.Context) ([]fleet.Machine, error) {
	servers, err := p.c.Server.AllWithOpts(ctx, hcloud.ServerListOpts{ListOpts: hcloud.ListOpts{LabelSelector: p.selector()}})
	if err != nil {
		return nil, fmt.Errorf("list the servers of pool %s: %w", p.pool.Name, err)
	}
	now := p.opts.Now()
	out := make([]fleet.Machine, 0, len(servers))
	for _, s := range servers {
		failed := s.Status == hcloud.ServerStatusOff && now.Sub(s.Created) > startGrace
		out = append(out, fleet.Machine{ID: strconv.FormatInt(s.ID, 10), Name: s.Name, Pool: p.pool.Name, CreatedAt: s.Created, Failed: failed})
	}
	return out, nil
}

// ErrNoCapacity is a create for which every server type and location was
// out of capacity or quarantined.
var ErrNoCapacity = errors.New("no server type and location of the pool has capacity")

// Create makes a server: each server type in each location in turn, the
// pairs quarantined skipped. It waits for the create and start actions;
// a server whose actions fail is deleted before the next pair is tried
// or the error returned.
func (p *Provider) Create(ctx context.Context, spec fleet.MachineSpec) (fleet.Machine, error) {
	h := p.pool.Hetzner
	res, err := p.resolve(ctx)
	if err != nil {
		return fleet.Machine{}, err
	}
	image, err := p.image(ctx)
	if err != nil {
		return fleet.Machine{}, err
	}
	labels := fleet.Labels(p.pool.Name)
	for k, v := range h.Labels {
		labels[k] = v
	}
	var tried []string
	for _, st := range h.ServerTypes {
		for _, loc := range h.Locations {
			pr := pair{st, loc}
			if until, q := p.isQuarantined(pr); q {
				tried = append(tried, fmt.Sprintf("%s in %s (quarantined until %s)", st, loc, until.UTC().Format(time.TimeOnly)))
				continue
			}
			price, err := p.price(ctx, pr)
			if err != nil {
				return fleet.Machine{}, err
			}
			userData, err := CloudInit(p.pool, spec, price)
			if err != nil {
				return fleet.Machine{}, err
			}
			m, err := p.createIn(ctx, spec, pr, image, labels, userData, res)
			if err == nil {
				return m, nil
			}
			if !unavailable(err) {
				return fleet.Machine{}, err
			}
			p.quarantine(pr)
			p.opts.Log.Warn("hetzner: no capacity; trying the next server type and location", "pool", p.pool.Name, "server_type", st, "location", loc, "err", err)
			tried = append(tried, fmt.Sprintf("%s in %s (%v)", st, loc, err))
		}
	}
	return fleet.Machine{}, fmt.Errorf("%w: %s; add server_types or locations to pool %s", ErrNoCapacity, strings.Join(tried, "; "), p.pool.Name)
}

// unavailable says whether err is Hetzner's answer of no capacity for a
// server type in a location, from the create call or from its action.
func unavailable(err error) bool {
	if hcloud.IsError(err, hcloud.ErrorCodeResourceUnavailable, hcloud.ErrorCodePlacementError) {
		return true
	}
	var ae hcloud.ActionError
	return errors.As(err, &ae) && (ae.Code == string(hcloud.ErrorCodeResourceUnavailable) || ae.Code == string(hcloud.ErrorCodePlacementError))
}

func (p *Provider) createIn(ctx context.Context, spec fleet.MachineSpec, pr pair, image *hcloud.Image,
	labels map[string]string, userData string, res *resolved) (fleet.Machine, error) {
	start := true
	created, _, err := p.c.Server.Create(ctx, hcloud.ServerCreateOpts{
		Name: spec.Name, ServerType: &hcloud.ServerType{Name: pr.serverType}, Image: image,
		Location: &hcloud.Location{Name: pr.location}, UserData: userData, Labels: labels,
		StartAfterCreate: &start, SSHKeys: res.sshKeys, Networks: res.networks, Firewalls: res.firewalls,
	})
	if err != nil {
		if hcloud.IsError(err) {
			return fleet.Machine{}, fmt.Errorf("create server %s (%s in %s): %w", spec.Name, pr.serverType, pr.location, err)
		}
		// No answer (a timeout, a cut connection): the server may exist.
		p.cleanupByName(ctx, spec.Name)
		return fleet.Machine{}, fmt.Errorf("create server %s (%s in %s): %w", spec.Name, pr.serverType, pr.location, err)
	}
	if err := p.c.Action.WaitFor(ctx, append([]*hcloud.Action{created.Action}, created.NextActions...)...); err != nil {
		p.cleanup(ctx, created.Server)
		return fleet.Machine{}, fmt.Errorf("create server %s (%s in %s): %w; the server was deleted", spec.Name, pr.serverType, pr.location, err)
	}
	return fleet.Machine{ID: strconv.FormatInt(created.Server.ID, 10), Name: spec.Name, Pool: p.pool.Name, CreatedAt: p.opts.Now()}, nil
}

// cleanup deletes a server whose create or start failed, even once ctx
// has ended: a half-made server costs money until then.
func (p *Provider) cleanup(ctx context.Context, s *hcloud.Server) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if _, _, err := p.c.Server.DeleteWithResult(cctx, s); err != nil && !hcloud.IsError(err, hcloud.ErrorCodeNotFound) {
		p.opts.Log.Error("hetzner: delete a server whose create failed: it is found by its label and deleted at the next round", "server", s.Name, "err", err)
	}
}

func (p *Provider) cleanupByName(ctx context.Context, name string) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	s, _, err := p.c.Server.GetByName(cctx, name)
	if err != nil || s == nil {
		return // the next round's list finds it by label if it exists
	}
	p.cleanup(cctx, s)
}

// Delete deletes a server; one already gone is not an error.
func (p *Provider) Delete(ctx context.Context, m fleet.Machine) error {
	id, err := strconv.ParseInt(m.ID, 10, 64)
	if err != nil {
		return fmt.Errorf("server id %q of %s: %w", m.ID, m.Name, err)
	}
	res, _, err := p.c.Server.DeleteWithResult(ctx, &hcloud.Server{ID: id, Name: m.Name})
	if hcloud.IsError(err, hcloud.ErrorCodeNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete server %s: %w", m.Name, err)
	}
	if err := p.c.Action.WaitFor(ctx, res.Action); err != nil {
		return fmt.Errorf("delete server %s: %w", m.Name, err)
	}
	return nil
}

func (p *Provider) isQuarantined(pr pair) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	until, ok := p.quarantined[pr]
	if ok && !p.opts.Now().Before(until) {
		delete(p.quarantined, pr)
		return time.Time{}, false
	}
	return until, ok
}

func (p *Provider) quarantine(pr pair) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.quarantined[pr] = p.opts.Now().Add(p.opts.Quarantine)
}

// image is the pool's image: by name, or the newest snapshot its
// selector matches.
func (p *Provider) image(ctx context.Context) (*hcloud.Image, error) {
	h := p.pool.Hetzner
	if h.ImageSelector == "" {
		return &hcloud.Image{Name: h.Image}, nil
	}
	imgs, err := p.c.Image.AllWithOpts(ctx, hcloud.ImageListOpts{ListOpts: hcloud.ListOpts{LabelSelector: h.ImageSelector},
		Type: []hcloud.ImageType{hcloud.ImageTypeSnapshot}, Sort: []string{"created:desc"}})
	if err != nil {
		return nil, fmt.Errorf("find the snapshot of pool %s (image_selector %q): %w", p.pool.Name, h.ImageSelector, err)
	}
	if len(imgs) == 0 {
		return nil, fmt.Errorf("pool %s: no snapshot matches image_selector %q: label one, or set image instead", p.pool.Name, h.ImageSelector)
	}
	return &hcloud.Image{ID: imgs[0].ID}, nil
}

// resolve looks the pool's SSH keys, networks and firewalls up by name,
// once.
func (p *Provider) resolve(ctx context.Context) (*resolved, error) {
	p.mu.Lock()
	r := p.resolved
	p.mu.Unlock()
	if r != nil {
		return r, nil
	}
	h := p.pool.Hetzner
	r = &resolved{}
	for _, n := range h.SSHKeys {
		k, _, err := p.c.SSHKey.Get(ctx, n)
		if err != nil || k == nil {
			return nil, notFound("SSH key", "ssh_keys", n, p.pool.Name, err)
		}
		r.sshKeys = append(r.sshKeys, k)
	}
	for _, n := range h.Networks {
		nw, _, err := p.c.Network.Get(ctx, n)
		if err != nil || nw == nil {
			return nil, notFound("network", "networks", n, p.pool.Name, err)
		}
		r.networks = append(r.networks, nw)
	}
	for _, n := range h.Firewalls {
		fw, _, err := p.c.Firewall.Get(ctx, n)
		if err != nil || fw == nil {
			return nil, notFound("firewall", "firewalls", n, p.pool.Name, err)
		}
		r.firewalls = append(r.firewalls, &hcloud.ServerCreateFirewall{Firewall: hcloud.Firewall{ID: fw.ID}})
	}
	p.mu.Lock()
	p.resolved = r
	p.mu.Unlock()
	return r, nil
}

func notFound(what, key, name, pool string, err error) error {
	if err != nil {
		return fmt.Errorf("pool %s: look up %s %q: %w", pool, what, name, err)
	}
	return fmt.Errorf("pool %s: %s %q does not exist in the project: fix %s in [pools.hetzner]", pool, what, name, key)
}

// price is what a machine of pair pr costs an hour: the pool's
// price_per_hour, or else the pricing API's net hourly price of its
// server type in its location (read once per pair).
func (p *Provider) price(ctx context.Context, pr pair) (fleet.Price, error) {
	if pp := p.pool.Price(); pp.Micros > 0 {
		return pp, nil
	}
	p.mu.Lock()
	got, ok := p.prices[pr]
	p.mu.Unlock()
	if ok {
		return got, nil
	}
	pricing, _, err := p.c.Pricing.Get(ctx)
	if err != nil {
		return fleet.Price{}, fmt.Errorf("pool %s: read the price of %s in %s from the pricing API: %w (or set price_per_hour)", p.pool.Name, pr.serverType, pr.location, err)
	}
	for _, st := range pricing.ServerTypes {
		if st.ServerType == nil || st.ServerType.Name != pr.serverType {
			continue
		}
		for _, lp := range st.Pricings {
			if lp.Location == nil || lp.Location.Name != pr.location {
				continue
			}
			got, err = hourly(lp.Hourly, pricing.Currency)
			if err != nil {
				return fleet.Price{}, fmt.Errorf("pool %s: the pricing API's hourly price of %s in %s: %w (set price_per_hour instead)", p.pool.Name, pr.serverType, pr.location, err)
			}
			p.mu.Lock()
			p.prices[pr] = got
			p.mu.Unlock()
			return got, nil
		}
	}
	return fleet.Price{}, fmt.Errorf("pool %s: the pricing API has no price for server type %s in %s: fix server_types or locations, or set price_per_hour", p.pool.Name, pr.serverType, pr.location)
}

// hourly reads an API price ("0.0119000000", net) into micro-units,
// rounded to the nearest one.
func hourly(pr hcloud.Price, currency string) (fleet.Price, error) {
	if pr.Currency != "" {
		currency = pr.Currency
	}
	if !money.IsCurrency(currency) {
		return fleet.Price{}, fmt.Errorf("currency %q is not an ISO 4217 code", currency)
	}
	whole, frac, _ := strings.Cut(pr.Net, ".")
	round := len(frac) > 6 && frac[6] >= '5'
	if len(frac) > 6 {
		frac = frac[:6]
	}
	m, err := money.Parse(whole+"."+frac, 1_000_000)
	if err != nil {
		return fleet.Price{}, err
	}
	if round {
		m++
	}
	return fleet.Price{Micros: m, Currency: currency}, nil
}
