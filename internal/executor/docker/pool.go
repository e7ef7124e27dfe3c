package docker

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"

	"github.com/rgrid/rgrid/internal/executor"
	"github.com/rgrid/rgrid/internal/executor/diskquota"
	"github.com/rgrid/rgrid/internal/executor/docker/jobinit"
)

// The warm pool: containers created and started ahead of their jobs,
// waiting in our init (which blocks in the open of its spec FIFO and
// costs nothing meanwhile), per (image, network). A job that finds one
// skips the engine's create and start, most of a start's time: its inputs
// are staged into the container's run directory (work/ is bind-mounted
// with slave propagation from a shared mount, so the job's disk and
// overlay mounts made now appear in the container), its limits applied
// with an update of the container's cgroups, and then its spec sent. A
// warm container has never run anything but the init, and it serves one
// job: after it the container is removed like any other.
//
// A warm container is made with every setting of a job's container but
// its limits (applied when it is taken) and its job's labels: the engine
// cannot relabel a container, so the job and attempt it was given are
// written into its run directory (assignedFile), where Find, Adopt and
// RemoveOrphans read them. Unassigned warm containers are kept only by
// the process whose pool made them; any other finds them orphaned.

const (
	// labelPool marks a warm container.
	labelPool = "rgrid.pool"
	// assignedFile, in a warm container's run directory (private to the
	// worker, not mounted), names the job and attempt it was given.
	assignedFile = "assigned"

	// DefaultPoolIdle is how long a pool keeps warm containers of an
	// (image, network) no job has asked for.
	DefaultPoolIdle = 2 * time.Minute

	// poolWindow is the span over which starts are counted to size the
	// pool: as many warm containers as starts in the last poolWindow, at
	// least one while the key is in use, at most Options.PoolMax in all.
	poolWindow = 10 * time.Second
	// poolCheck is the longest the pool sleeps between looks at its sizes.
	poolCheck = 5 * time.Second
	// poolBackoff bounds the wait after a warm container could not be made.
	poolBackoff = time.Minute
)

// errWarmUnusable marks a warm container that could not take its job
// before the job began (its init gone, the update refused): the job starts
// in a new container instead.
var errWarmUnusable = errors.New("warm container unusable")

// poolKey is what a warm container fits: an image (by id, so that a tag
// moved to another image since is not run) and the network mode.
type poolKey struct {
	image   string
	network bool
}

type warm struct {
	key     poolKey
	id, dir string
	report  *os.File // the exit FIFO, open before the init started (openExitReport)
}

type keyUse struct {
	last   time.Time   // the last start that asked for the key
	starts []time.Time // starts within poolWindow
	retry  time.Time   // after a failed make, not before then
	fails  int
}

type pool struct {
	e    *Executor
	max  int
	idle time.Duration

	// propagation is that of the working directory's bind: slave, so
	// that the job's disk mounted later appears (tests break it).
	propagation mount.Propagation

	mu    sync.Mutex
	off   bool // turned off for good (disable): take gives nothing
	ready map[poolKey][]*warm
	use   map[poolKey]*keyUse
	// live are the run directories of the warm containers this pool made
	// and that are not removed yet, taken or not: RemoveOrphans keeps an
	// unassigned warm container only if it is one of these.
	live map[string]bool

	kick chan struct{}
	// changes gets a value (if none waits) whenever the count of waiting
	// containers may have changed: the worker reports it then, not only
	// at its next heartbeat.
	changes chan struct{}
	closed  sync.Once
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
}

// startPool turns the pool on if it can serve here, else logs why not.
func (e *Executor) startPool() {
	why := ""
	switch {
	case e.initPath == "":
		why = "job containers use the engine's init here (see the init's notice)"
	case e.opts.WorkerID == "":
		why = "the executor has no worker id to label them with"
	default:
		bound, err := shareWorkDir(e.opts.WorkDir)
		if err != nil {
			why = err.Error()
		}
		e.boundWorkDir = bound
	}
	if why != "" {
		e.log.Warn("warm containers are off: jobs start in new containers", "reason", why)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &pool{
		e: e, max: e.opts.PoolMax, idle: e.opts.PoolIdle, propagation: mount.PropagationRSlave,
		ready: map[poolKey][]*warm{}, use: map[poolKey]*keyUse{}, live: map[string]bool{},
		kick: make(chan struct{}, 1), changes: make(chan struct{}, 1), ctx: ctx, cancel: cancel, done: make(chan struct{}),
	}
	e.pool = p
	go p.loop()
	e.log.Info("warm containers on", "max", p.max, "idle", p.idle)
}

// Warm says how many warm containers are waiting for a job.
func (e *Executor) Warm() int {
	p := e.pool
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, list := range p.ready {
		n += len(list)
	}
	return n
}

// WarmChanged gets a value whenever the count Warm returns may have
// changed (nil without a pool: it never does).
func (e *Executor) WarmChanged() <-chan struct{} {
	if e.pool == nil {
		return nil
	}
	return e.pool.changes
}

// changed says the count of waiting containers may have changed.
func (p *pool) changed() {
	select {
	case p.changes <- struct{}{}:
	default:
	}
}

// take returns a warm container for key, or nil, and counts the start
// either way: demand sizes the pool.
func (p *pool) take(key poolKey) *warm {
	p.mu.Lock()
	if p.off {
		p.mu.Unlock()
		return nil
	}
	p.count(key)
	var w *warm
	if list := p.ready[key]; len(list) > 0 {
		w = list[0] // the longest waiting
		p.ready[key] = slices.Delete(list, 0, 1)
	}
	p.mu.Unlock()
	p.poke()
	if w != nil {
		p.changed()
	}
	return w
}

// disable turns the pool off for good, for why, and removes its waiting
// containers in the background.
func (p *pool) disable(why error) {
	p.mu.Lock()
	was := p.off
	p.off = true
	p.mu.Unlock()
	if !was {
		p.e.log.Warn("warm containers are off: jobs start in new containers", "reason", why)
		go p.close()
	}
}

// count records a start that asked for key; p.mu is held.
func (p *pool) count(key poolKey) {
	now := time.Now()
	u := p.use[key]
	if u == nil {
		u = &keyUse{}
		p.use[key] = u
	}
	u.last = now
	u.starts = append(recent(u.starts, now), now)
}

func (p *pool) poke() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// owns says whether dir is the run directory of a container this pool
// made that is not removed yet.
func (p *pool) owns(dir string) bool {
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.live[filepath.Clean(dir)]
}

// forget drops dir from the pool's own, once it is removed.
func (p *pool) forget(dir string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	delete(p.live, filepath.Clean(dir))
	p.mu.Unlock()
}

func recent(starts []time.Time, now time.Time) []time.Time {
	i := 0
	for i < len(starts) && now.Sub(starts[i]) > poolWindow {
		i++
	}
	return starts[i:]
}

// targets says how many warm containers each key should have now, and
// when that can next change by itself.
func (p *pool) targets(now time.Time) (map[poolKey]int, time.Duration) {
	keys := make([]poolKey, 0, len(p.use))
	next := poolCheck
	for k, u := range p.use {
		u.starts = recent(u.starts, now)
		if now.Sub(u.last) > p.idle {
			if len(p.ready[k]) == 0 {
				delete(p.use, k)
			}
			continue
		}
		next = min(next, p.idle-now.Sub(u.last)+time.Millisecond)
		keys = append(keys, k)
	}
	// The most recently used first, when the keys want more than max.
	slices.SortFunc(keys, func(a, b poolKey) int { return p.use[b].last.Compare(p.use[a].last) })
	want, left := map[poolKey]int{}, p.max
	for _, k := range keys {
		n := min(max(1, len(p.use[k].starts)), left)
		want[k] = n
		left -= n
	}
	return want, next
}

// loop keeps the pool at its targets, one container made or removed at
// a time, until the pool is closed.
func (p *pool) loop() {
	defer close(p.done)
	for {
		wait := p.step()
		if wait == 0 {
			if p.ctx.Err() != nil {
				return
			}
			continue
		}
		t := time.NewTimer(wait)
		select {
		case <-p.ctx.Done():
			t.Stop()
			return
		case <-p.kick:
		case <-t.C:
		}
		t.Stop()
	}
}

// step makes or removes one warm container and returns 0, or returns
// how long to wait when the pool is at its targets.
func (p *pool) step() time.Duration {
	now := time.Now()
	p.mu.Lock()
	want, next := p.targets(now)
	var excess *warm
	for k, list := range p.ready {
		if len(list) > want[k] {
			excess = list[len(list)-1]
			p.ready[k] = list[:len(list)-1]
			break
		}
	}
	var short *poolKey
	if excess == nil {
		total := 0
		for _, list := range p.ready {
			total += len(list)
		}
		for k, n := range want {
			u := p.use[k]
			switch {
			case len(p.ready[k]) >= n:
			case now.Before(u.retry):
				next = min(next, u.retry.Sub(now))
			case total < p.max:
				short = &k
			}
			if short != nil {
				break
			}
		}
	}
	p.mu.Unlock()
	switch {
	case excess != nil:
		p.changed()
		p.discard(excess)
		return 0
	case short != nil:
		w, err := p.make(*short)
		p.mu.Lock()
		if u := p.use[*short]; u != nil {
			if err != nil {
				u.fails++
				u.retry = time.Now().Add(min(poolBackoff, time.Second<<min(u.fails, 6)))
			} else {
				u.fails = 0
			}
		}
		if w != nil {
			p.ready[w.key] = append(p.ready[w.key], w)
		}
		p.mu.Unlock()
		if w != nil {
			p.changed()
		}
		if err != nil && p.ctx.Err() == nil {
			p.e.log.Warn("making a warm container", "image", short.image, "err", err)
		}
		return 0
	}
	return next
}

// make creates and starts a warm container for key.
func (p *pool) make(key poolKey) (*warm, error) {
	e := p.e
	// Not cancelled by close, which waits for it: a create cut short
	// could leave a container the engine made.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(p.ctx), cleanupTimeout)
	defer cancel()
	dir, err := os.MkdirTemp(e.opts.WorkDir, "run-*")
	if err != nil {
		return nil, fmt.Errorf("make run directory: %w", err)
	}
	unlock, err := diskquota.Hold(dir)
	if err != nil {
		os.Remove(dir)
		return nil, fmt.Errorf("make run directory: %w", err)
	}
	p.mu.Lock()
	p.live[filepath.Clean(dir)] = true
	p.mu.Unlock()
	failed := func(err error) (*warm, error) {
		e.cleanRunDir(dir)
		unlock()
		p.forget(dir)
		return nil, err
	}
	// work/ with mode 0 until its job's disk is mounted on it (stageInto);
	// input/ for a script staged alone.
	if err := diskquota.MountPoint(filepath.Join(dir, runWork), 0); err != nil {
		return failed(err)
	}
	if err := diskquota.MountPoint(filepath.Join(dir, runInput), 0o755); err != nil {
		return failed(err)
	}
	ctl, err := makeCtl(dir, true, true)
	if err != nil {
		return failed(err)
	}
	report, err := openExitReport(ctl)
	if err != nil {
		return failed(err)
	}
	cfg, hcfg := e.warmConfig(key, dir, p.propagation)
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	created, err := e.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config: cfg, HostConfig: hcfg, Name: "rgrid-warm-" + hex.EncodeToString(suffix),
	})
	if err != nil {
		report.Close()
		return failed(fmt.Errorf("create container: %w", err))
	}
	unlock() // the container's label keeps sweeps off the directory
	w := &warm{key: key, id: created.ID, dir: dir, report: report}
	if _, err := e.cli.ContainerStart(ctx, w.id, client.ContainerStartOptions{}); err != nil {
		p.discard(w)
		return nil, fmt.Errorf("start container: %w", err)
	}
	return w, nil
}

// warmConfig is a job container's configuration without a job: no
// limits, no job labels, both run directories mounted, the working
// directory's with slave propagation.
func (e *Executor) warmConfig(key poolKey, dir string, propagation mount.Propagation) (*container.Config, *container.HostConfig) {
	spec := executor.Spec{Image: key.image, Network: key.network, Command: []string{jobinit.BinPath}}
	cfg, hcfg := e.containerConfig(spec, dir, nil)
	delete(cfg.Labels, LabelJob)
	delete(cfg.Labels, LabelAttempt)
	cfg.Labels[labelPool] = "1"
	for i := range hcfg.Mounts {
		if hcfg.Mounts[i].Target == WorkDir {
			hcfg.Mounts[i].BindOptions = &mount.BindOptions{Propagation: propagation}
		}
	}
	return cfg, hcfg
}

// discard removes a warm container and its run directory.
func (p *pool) discard(w *warm) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	w.report.Close()
	p.e.remove(ctx, w.id, w.dir)
}

// close stops the pool and removes the warm containers no job took.
func (p *pool) close() {
	p.closed.Do(p.drain)
}

func (p *pool) drain() {
	p.cancel()
	<-p.done
	p.mu.Lock()
	var all []*warm
	for _, list := range p.ready {
		all = append(all, list...)
	}
	p.ready = map[poolKey][]*warm{}
	p.mu.Unlock()
	p.changed()
	for _, w := range all {
		p.discard(w)
	}
}

// assignment is a warm container's job, in its assignedFile.
type assignment struct {
	Job     string    `json:"job"`
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"`
}

// assign records in dir that its container runs job's attempt from now.
func assign(dir, job string, attempt int, at time.Time) error {
	b, err := json.Marshal(assignment{Job: job, Attempt: attempt, At: at})
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, assignedFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, assignedFile))
}

// identity is whose a container of ours is: from its labels, or for a
// warm container from its run directory's assignment.
type identity struct {
	job     string
	attempt int
	valid   bool      // the attempt is readable
	warm    bool      // a warm container...
	idle    bool      // ...not given a job yet
	since   time.Time // when it was made for its job
}

func (e *Executor) identify(c container.Summary) identity {
	if c.Labels[labelPool] == "" {
		id := identity{job: c.Labels[LabelJob], since: time.Unix(c.Created, 0)}
		n, err := strconv.Atoi(c.Labels[LabelAttempt])
		id.attempt, id.valid = n, err == nil
		return id
	}
	id := identity{warm: true, idle: true, since: time.Unix(c.Created, 0)}
	dir := c.Labels[labelDir]
	if !e.isRunDir(dir) {
		return id
	}
	b, err := os.ReadFile(filepath.Join(dir, assignedFile))
	if err != nil {
		return id
	}
	var a assignment
	if err := json.Unmarshal(b, &a); err != nil || a.Job == "" {
		return identity{warm: true, since: id.since} // a job's, but not readable: an orphan
	}
	return identity{job: a.Job, attempt: a.Attempt, valid: true, warm: true, since: a.At}
}

// startWarm runs spec in the warm container w. An error wrapping
// errWarmUnusable means the job did not begin and w is gone: start it in
// a new container. Any other error is the start's.
func (e *Executor) startWarm(ctx context.Context, spec executor.Spec, w *warm, imgEnv []string, times *executor.StartTimes) (*handle, error) {
	cleanup := func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		w.report.Close()
		e.remove(cctx, w.id, w.dir)
	}
	t0 := time.Now()
	if err := assign(w.dir, spec.JobID, spec.Attempt, t0); err != nil {
		cleanup()
		return nil, fmt.Errorf("%w: %w", errWarmUnusable, err)
	}
	err := e.stageInto(ctx, spec, w.dir)
	times.Stage = time.Since(t0)
	if err != nil {
		cleanup()
		return nil, err
	}
	// The device the job's working directory is on now, which the init
	// checks it sees too (see errRefused).
	dev, err := deviceOf(filepath.Join(w.dir, runWork))
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("%w: %w", errWarmUnusable, err)
	}
	t0 = time.Now()
	if res, ok := limitResources(spec.Limits); ok {
		if _, err := e.cli.ContainerUpdate(ctx, w.id, client.ContainerUpdateOptions{Resources: &res}); err != nil {
			cleanup()
			return nil, fmt.Errorf("%w: apply the job's limits: %w", errWarmUnusable, err)
		}
	}
	h := e.newHandle(w.id, w.dir, spec.Limits.Timeout, spec.Limits.MemoryBytes, collectFor(spec, w.dir))
	h.warm, h.report = true, w.report
	h.stopWatch = h.watchOOM(time.Time{})
	if err := e.deliver(ctx, h, spec, imgEnv, dev); err != nil {
		h.stopWatch()
		sent := e.specSent(w.dir)
		cleanup()
		if errors.Is(err, errRefused) {
			// The job's disk, mounted on the host, did not appear in the
			// container: no warm container can serve on this machine.
			e.pool.disable(fmt.Errorf("a mount made under %s after a container started does not reach the container (mount propagation: a worker run inside a container needs %s bind-mounted with rshared propagation): %w",
				e.opts.WorkDir, e.opts.WorkDir, err))
		}
		if (!sent || errors.Is(err, errRefused)) && ctx.Err() == nil {
			return nil, fmt.Errorf("%w: %w", errWarmUnusable, err)
		}
		return nil, fmt.Errorf("start container for job %s: %w", spec.JobID, err)
	}
	times.Container, times.Running = h.began.Sub(t0), h.began
	return h, nil
}

// limitResources are the engine's settings for a job's limits; ok is
// false when it has none.
func limitResources(l executor.Limits) (res container.Resources, ok bool) {
	if l.MemoryBytes > 0 {
		res.Memory = l.MemoryBytes
		res.MemorySwap = l.MemoryBytes // total of memory and swap: no swap
	}
	if l.CPUs > 0 {
		res.NanoCPUs = int64(l.CPUs * 1e9)
	}
	if l.Pids > 0 {
		pids := l.Pids
		res.PidsLimit = &pids
	}
	return res, cmp.Or(res.Memory, res.NanoCPUs) != 0 || res.PidsLimit != nil
}
