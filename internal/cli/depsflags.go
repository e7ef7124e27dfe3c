package cli

import (
	"time"

	"github.com/spf13/pflag"

	"github.com/rgrid/rgrid/internal/config"
	"github.com/rgrid/rgrid/internal/node"
)

// depsFlags are the settings for installing jobs' Python requirements:
// where pip finds packages and how big the cache may grow. They belong to
// whatever worker installs them: rgrid worker's, rgrid dev's and the one
// an embedded rgrid run starts, so all three commands take them.
type depsFlags struct {
	indexURL, extraIndexURL, trustedHost, network string
	cacheSize, layerCacheSize                     int64
	buildTimeout                                  time.Duration
}

// depsFlagNames are the flags depsFlags adds.
var depsFlagNames = []string{"pip-index-url", "pip-extra-index-url", "pip-trusted-host", "deps-network", "deps-cache-size", "deps-build-timeout", "layer-cache-size"}

func (d *depsFlags) add(f *pflag.FlagSet) {
	f.StringVar(&d.indexURL, "pip-index-url", "", "package index for jobs' requirements (a mirror or private index; default pip's)")
	f.StringVar(&d.extraIndexURL, "pip-extra-index-url", "", "an extra package index")
	f.StringVar(&d.trustedHost, "pip-trusted-host", "", "host of an http (not https) index to trust")
	f.StringVar(&d.network, "deps-network", node.DefaultDepsNetwork, "Docker network of the containers that install requirements")
	sizeVar(f, &d.cacheSize, "deps-cache-size", 10<<30, "cached environments beyond this size are evicted, least recently used first")
	f.DurationVar(&d.buildTimeout, "deps-build-timeout", node.DefaultBuildTimeout, "longest an install may take")
	sizeVar(f, &d.layerCacheSize, "layer-cache-size", 10<<30, "jobs' inputs kept once per project for the Docker worker's runs (an overlay each); past this size the least recently used not in use are removed")
}

func (d *depsFlags) options() (node.DockerOptions, error) {
	if d.buildTimeout <= 0 {
		return node.DockerOptions{}, userErr("give installs time, e.g. --deps-build-timeout 10m", "--deps-build-timeout %s: must be positive", d.buildTimeout)
	}
	return node.DockerOptions{
		PipIndexURL: d.indexURL, PipExtraIndexURL: d.extraIndexURL, PipTrustedHost: d.trustedHost,
		DepsNetwork: d.network, EnvCacheBytes: d.cacheSize, BuildTimeout: d.buildTimeout,
		LayerCacheBytes: d.layerCacheSize,
	}, nil
}

// typed returns the first of the dependency flags given on the command
// line, "" if none. Those set by the environment or the config file are
// not counted: they are meant for whatever worker runs on this machine.
func (d *depsFlags) typed(f *pflag.FlagSet) string {
	for _, name := range depsFlagNames {
		if fl := f.Lookup(name); fl != nil && fl.Changed && config.Source(fl) == "" {
			return name
		}
	}
	return ""
}

// notHere refuses dependency flags typed for a run that another process's
// worker installs for: name (the first such flag) would change nothing.
func notHere(name, where, fix string) error {
	return userErr(fix, "--%s has no effect here: this run goes to %s, whose workers install requirements with their own settings", name, where)
}
