package docker

// Environments. A job with requirements runs from an image in which they
// are installed: built once per (runtime image, requirement set) by pip in
// a build container that has network (env_build.go), kept as a tagged
// image, and evicted least recently used beyond Options.EnvCacheBytes
// (env_cache.go). The job's own container is started from that image
// exactly as it would be from the runtime's, with the job's own network
// setting and hardening.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"golang.org/x/sync/singleflight"

	"github.com/rgrid/rgrid/internal/executor"
)

// Labels of environment images. LabelEnvKey's value is the full key, so
// that a tag (which holds only a prefix of it) is never taken for another
// set's image.
const (
	LabelEnvKey  = "rgrid.env.key"
	LabelEnvBase = "rgrid.env.base"
	// labelEnvBuild marks build containers with the worker that runs them,
	// so that RemoveOrphans finds the ones a crash left behind. Committed
	// images carry it empty, and so do job containers started from them.
	labelEnvBuild = "rgrid.env.build"
	// labelEnvScope narrows eviction to the images of one scope; only tests
	// set it, so that evicting does not touch other tests' images.
	labelEnvScope = "rgrid.env.scope"
)

const (
	envRepo = "rgrid-env"
	venvDir = "/opt/rgrid/venv"
)

// envCache is the executor's state for environments.
type envCache struct {
	builds singleflight.Group // by key: one build per set at a time

	mu     sync.Mutex
	busy   map[string]int  // key → Starts between finding its image and creating a container from it
	active map[string]bool // IDs of build containers running now

	usageMu sync.Mutex // guards the usage file (env_cache.go)
	evictMu sync.Mutex // one eviction at a time
	scope   string
}

func envDefaults(o *Options) error {
	if o.DepsNetwork == "" {
		o.DepsNetwork = DefaultDepsNetwork
	}
	if o.EnvCacheBytes <= 0 {
		o.EnvCacheBytes = DefaultEnvCacheBytes
	}
	if o.BuildTimeout <= 0 {
		o.BuildTimeout = DefaultBuildTimeout
	}
	for name, v := range map[string]string{
		"PipIndexURL": o.PipIndexURL, "PipExtraIndexURL": o.PipExtraIndexURL, "PipTrustedHost": o.PipTrustedHost,
	} {
		if strings.ContainsAny(v, "\r\n\x00") {
			return fmt.Errorf("docker executor: %s holds a line break", name)
		}
	}
	return nil
}

// envKey identifies an environment: the runtime image and the requirement
// set, which the caller has normalized and sorted.
func envKey(image string, reqs []string) string {
	sum := sha256.Sum256([]byte(image + "\n" + strings.Join(reqs, "\n")))
	return hex.EncodeToString(sum[:])
}

func envTag(key string) string { return envRepo + ":" + key[:24] }

// runImage returns the image the job's container starts from and that
// image's environment variables: spec.Image, or with requirements their
// environment's image, built first if need be. release must be called once
// the job's container exists or Start has failed: until then eviction
// leaves the image alone.
//
// id names the image for the warm pool: its id, or an environment's tag
// (its name is its content, and the engine does not remove an image a
// container uses).
func (e *Executor) runImage(ctx context.Context, spec executor.Spec) (image, id string, env []string, release func(), err error) {
	if len(spec.Requirements) == 0 {
		env, id, err := e.imageEnv(ctx, spec.Image, spec.System)
		return spec.Image, id, env, func() {}, err
	}
	for _, r := range spec.Requirements {
		if strings.TrimSpace(r) == "" || strings.ContainsAny(r, "\r\n\x00") {
			return "", "", nil, nil, fmt.Errorf("docker executor: invalid requirement line %q", r)
		}
	}
	key := envKey(spec.Image, spec.Requirements)
	release = e.hold(key)
	image, env, err = e.ensureEnv(ctx, spec, key)
	if err != nil {
		release()
		return "", "", nil, nil, err
	}
	return image, image, env, release, nil
}

// hold marks key busy until the returned func is called.
func (e *Executor) hold(key string) func() {
	e.envs.mu.Lock()
	defer e.envs.mu.Unlock()
	if e.envs.busy == nil {
		e.envs.busy = map[string]int{}
	}
	e.envs.busy[key]++
	var once sync.Once
	return func() {
		once.Do(func() {
			e.envs.mu.Lock()
			defer e.envs.mu.Unlock()
			if e.envs.busy[key]--; e.envs.busy[key] <= 0 {
				delete(e.envs.busy, key)
			}
		})
	}
}

func (e *Executor) isBusy(key string) bool {
	e.envs.mu.Lock()
	defer e.envs.mu.Unlock()
	return e.envs.busy[key] > 0
}

type envResult struct {
	env   []string
	built bool
}

// ensureEnv returns the tag and environment variables of key's image,
// building it if it is missing. Starts needing the same key at once share
// one build, whose output goes to the System writer of the Start that
// began it. The build is not cancelled with that Start's ctx: others may
// be waiting for it, and later runs will use it; BuildTimeout bounds it.
func (e *Executor) ensureEnv(ctx context.Context, spec executor.Spec, key string) (string, []string, error) {
	tag, n := envTag(key), packages(len(spec.Requirements))
	env, ok, err := e.cachedEnv(ctx, tag, key)
	if err != nil {
		return "", nil, err
	}
	if ok {
		say(spec.System, "rgrid: dependencies: using cached environment %s (%s)", tag, n)
		e.touch(key)
		return tag, env, nil
	}
	leader := false
	ch := e.envs.builds.DoChan(key, func() (any, error) {
		leader = true
		bctx := context.WithoutCancel(ctx)
		// Another build of the key may have ended since our look.
		if env, ok, err := e.cachedEnv(bctx, tag, key); err != nil || ok {
			return envResult{env: env}, err
		}
		say(spec.System, "rgrid: dependencies: installing %s into a new environment (cached for later runs)", n)
		began := time.Now()
		env, err := e.installEnv(bctx, spec, key, tag)
		if err != nil {
			return nil, err
		}
		say(spec.System, "rgrid: dependencies: installed %s in %.1f s into %s", n, time.Since(began).Seconds(), tag)
		e.touch(key)
		e.evict(bctx, key)
		return envResult{env: env, built: true}, nil
	})
	var res singleflight.Result
	select {
	case res = <-ch:
	case <-ctx.Done():
		return "", nil, ctx.Err()
	}
	if res.Err != nil {
		return "", nil, res.Err
	}
	r := res.Val.(envResult)
	switch {
	case !leader:
		say(spec.System, "rgrid: dependencies: using environment %s (%s), built just now for another job", tag, n)
		e.touch(key)
	case !r.built:
		say(spec.System, "rgrid: dependencies: using cached environment %s (%s)", tag, n)
		e.touch(key)
	}
	return tag, r.env, nil
}

// cachedEnv says whether key's image exists and returns its environment
// variables.
func (e *Executor) cachedEnv(ctx context.Context, tag, key string) ([]string, bool, error) {
	img, err := e.cli.ImageInspect(ctx, tag)
	switch {
	case cerrdefs.IsNotFound(err):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("inspect environment image %s: %w", tag, err)
	case img.Config == nil || img.Config.Labels[LabelEnvKey] != key:
		return nil, false, nil // not ours: the build retags it
	}
	return img.Config.Env, true, nil
}

func packages(n int) string {
	if n == 1 {
		return "1 package"
	}
	return fmt.Sprintf("%d packages", n)
}

// EnvTag is the tag of the environment image for reqs (normalized, sorted)
// on image.
func EnvTag(image string, reqs []string) string { return envTag(envKey(image, reqs)) }
