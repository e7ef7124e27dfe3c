package cli

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/spf13/pflag"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/bytesize"
	"github.com/rgrid/rgrid/internal/node"
)

// limitFlags are --memory, --cpus, --pids, --timeout and --disk, shared
// by run (per job) and worker (the worker's defaults). 0 and "" are "not
// set".
type limitFlags struct {
	memory  int64
	cpus    float64
	pids    int64
	timeout string
	disk    int64
	prefix  string // of the flags' names: "max-" for maxFlags
}

// minDisk is the smallest --disk an executor makes.
const minDisk = 16 << 20

func (l *limitFlags) add(f *pflag.FlagSet) {
	sizeVar(f, &l.memory, "memory", 0, `memory limit, e.g. 512m, 1g (default: the worker's, 512m)`)
	f.Float64Var(&l.cpus, "cpus", 0, "CPU limit in cores, e.g. 0.5, 2 (default: the worker's, 1)")
	f.Int64Var(&l.pids, "pids", 0, "process limit (default: the worker's, 256)")
	f.StringVar(&l.timeout, "timeout", "", "time limit, e.g. 90s, 10m, 2h (default: the worker's, 5m)")
	sizeVar(f, &l.disk, "disk", 0, "size of the job's working directory: what it writes, and its inputs unless the worker keeps them in its layer cache (default: the worker's, 2g)")
}

// limits checks what pflag lets through: a float flag takes NaN and Inf,
// an int flag a negative number.
func (l *limitFlags) limits() (client.Limits, error) {
	var out client.Limits
	out.MemoryBytes = l.memory
	if math.IsNaN(l.cpus) || math.IsInf(l.cpus, 0) || l.cpus < 0 {
		return out, userErr(fmt.Sprintf("use a positive number of cores, e.g. --%scpus 0.5", l.prefix),
			"--%scpus %g: not a positive number of cores", l.prefix, l.cpus)
	}
	out.CPUs = l.cpus
	if l.pids < 0 {
		return out, userErr(fmt.Sprintf("use a positive number, e.g. --%spids 100", l.prefix), "--%spids %d: not a positive number", l.prefix, l.pids)
	}
	out.Pids = l.pids
	if l.timeout != "" {
		d, err := parseDuration(l.timeout)
		if err != nil {
			return out, userErr("write durations like 90s, 10m or 2h", "--%stimeout %q: %v", l.prefix, l.timeout, err)
		}
		out.TimeoutSeconds = int64((d + time.Second - 1) / time.Second)
	}
	if l.disk > 0 && l.disk < minDisk {
		return out, userErr(fmt.Sprintf("use at least 16m, e.g. --%sdisk 1g", l.prefix), "--%sdisk %s: under the smallest working directory, 16 MiB", l.prefix, formatBytes(l.disk))
	}
	out.DiskBytes = l.disk
	return out, nil
}

// executorLimits are the flags as a worker's defaults, over base.
func (l *limitFlags) executorLimits(base node.Limits) (node.Limits, error) {
	cl, err := l.limits()
	if err != nil {
		return base, err
	}
	if cl.MemoryBytes > 0 {
		base.MemoryBytes = cl.MemoryBytes
	}
	if cl.CPUs > 0 {
		base.CPUs = cl.CPUs
	}
	if cl.Pids > 0 {
		base.Pids = cl.Pids
	}
	if cl.TimeoutSeconds > 0 {
		base.Timeout = time.Duration(cl.TimeoutSeconds) * time.Second
	}
	if cl.DiskBytes > 0 {
		base.DiskBytes = cl.DiskBytes
	}
	return base, nil
}

// sizeHint says how to write a size, for every size flag.
const sizeHint = "write a whole number of bytes with an optional unit, such as 512m or 2g"

// sizeValue is a flag holding a size in bytes, read by bytesize.Parse:
// every size flag, environment variable and config key is read the one
// way, and none can be set to 0 or less, which is left for "not set".
type sizeValue int64

func sizeVar(f *pflag.FlagSet, p *int64, name string, value int64, usage string) {
	*p = value
	f.Var((*sizeValue)(p), name, usage)
}

func (s *sizeValue) Set(v string) error {
	n, err := bytesize.Parse(v)
	if err != nil {
		return err
	}
	*s = sizeValue(n)
	return nil
}

func (s *sizeValue) String() string {
	if *s == 0 {
		return ""
	}
	return bytesize.Compact(int64(*s))
}

func (s *sizeValue) Type() string { return "size" }

// parseDuration reads Go durations (90s, 10m, 1h30m) or plain seconds.
// Plain seconds are a float, so NaN, Inf and what overflows a Duration are
// refused here, and so is what rounds to nothing (1e-12).
func parseDuration(s string) (time.Duration, error) {
	var d time.Duration
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(n) || math.IsInf(n, 0) || n*float64(time.Second) >= math.MaxInt64 {
			return 0, fmt.Errorf("not a duration")
		}
		d = time.Duration(n * float64(time.Second))
	} else if d, err = time.ParseDuration(s); err != nil {
		return 0, fmt.Errorf("not a duration")
	}
	if d <= 0 {
		return 0, fmt.Errorf("must be positive")
	}
	return d, nil
}

// maxFlags are a worker's maxima: --max-memory, --max-cpus, --max-pids and
// --max-timeout. A job asking for more is refused at submission.
type maxFlags struct{ limitFlags }

func (m *maxFlags) add(f *pflag.FlagSet) {
	m.prefix = "max-"
	sizeVar(f, &m.memory, "max-memory", 8<<30, "the most memory a job may ask for")
	f.Float64Var(&m.cpus, "max-cpus", 4, "the most CPUs a job may ask for")
	f.Int64Var(&m.pids, "max-pids", 4096, "the most processes a job may ask for")
	f.StringVar(&m.timeout, "max-timeout", "24h", "the longest time limit a job may ask for")
	sizeVar(f, &m.disk, "max-disk", 100<<30, "the largest working directory a job may ask for")
}

// checkDefaultsFit refuses a worker whose defaults exceed its maxima.
func checkDefaultsFit(d, m node.Limits) error {
	switch {
	case m.MemoryBytes > 0 && d.MemoryBytes > m.MemoryBytes:
		return userErr("lower --memory or raise --max-memory", "the default memory %s is over the maximum %s", formatBytes(d.MemoryBytes), formatBytes(m.MemoryBytes))
	case m.CPUs > 0 && d.CPUs > m.CPUs:
		return userErr("lower --cpus or raise --max-cpus", "the default CPUs %g are over the maximum %g", d.CPUs, m.CPUs)
	case m.Pids > 0 && d.Pids > m.Pids:
		return userErr("lower --pids or raise --max-pids", "the default process limit %d is over the maximum %d", d.Pids, m.Pids)
	case m.Timeout > 0 && d.Timeout > m.Timeout:
		return userErr("lower --timeout or raise --max-timeout", "the default time limit %s is over the maximum %s", d.Timeout, m.Timeout)
	case m.DiskBytes > 0 && d.DiskBytes > m.DiskBytes:
		return userErr("lower --disk or raise --max-disk", "the default disk %s is over the maximum %s", formatBytes(d.DiskBytes), formatBytes(m.DiskBytes))
	}
	return nil
}
