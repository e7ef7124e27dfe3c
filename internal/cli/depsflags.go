package cli

import (
	"time"

	"github.com/spf13/pflag"

	"github.com/rgrid/rgrid/internal/executor/docker"
)

// depsFlags are a worker's settings for installing jobs' Python
// requirements: where pip finds packages and how big the cache may grow.
type depsFlags struct {
	indexURL, extraIndexURL, trustedHost, network, cacheSize string
	buildTimeout                                             time.Duration
}

func (d *depsFlags) add(f *pflag.FlagSet) {
	f.StringVar(&d.indexURL, "pip-index-url", "", "package index for jobs' requirements (a mirror or private index; default pip's)")
	f.StringVar(&d.extraIndexURL, "pip-extra-index-url", "", "an extra package index")
	f.StringVar(&d.trustedHost, "pip-trusted-host", "", "host of an http (not https) index to trust")
	f.StringVar(&d.network, "deps-network", docker.DefaultDepsNetwork, "Docker network of the containers that install requirements")
	f.StringVar(&d.cacheSize, "deps-cache-size", "10g", "cached environments beyond this size are evicted, least recently used first")
	f.DurationVar(&d.buildTimeout, "deps-build-timeout", docker.DefaultBuildTimeout, "longest an install may take")
}

func (d *depsFlags) options() (docker.Options, error) {
	size, err := parseBytes(d.cacheSize)
	if err != nil {
		return docker.Options{}, userErr("write sizes like 10g or 500m", "--deps-cache-size %q: %v", d.cacheSize, err)
	}
	return docker.Options{
		PipIndexURL: d.indexURL, PipExtraIndexURL: d.extraIndexURL, PipTrustedHost: d.trustedHost,
		DepsNetwork: d.network, EnvCacheBytes: size, BuildTimeout: d.buildTimeout,
	}, nil
}
