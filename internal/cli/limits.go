package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/executor"
)

// limitFlags are --memory, --cpus, --pids and --timeout, shared by run
// (per job) and worker (the worker's defaults).
type limitFlags struct {
	memory  string
	cpus    float64
	pids    int64
	timeout string
}

func (l *limitFlags) add(f *pflag.FlagSet) {
	f.StringVar(&l.memory, "memory", "", `memory limit, e.g. 512m, 1g (default: the worker's, 512m)`)
	f.Float64Var(&l.cpus, "cpus", 0, "CPU limit in cores, e.g. 0.5, 2 (default: the worker's, 1)")
	f.Int64Var(&l.pids, "pids", 0, "process limit (default: the worker's, 256)")
	f.StringVar(&l.timeout, "timeout", "", "time limit, e.g. 90s, 10m, 2h (default: the worker's, 5m)")
}

func (l *limitFlags) limits() (client.Limits, error) {
	var out client.Limits
	if l.memory != "" {
		n, err := parseBytes(l.memory)
		if err != nil {
			return out, userErr("write sizes like 512m or 2g", "--memory %q: %v", l.memory, err)
		}
		out.MemoryBytes = n
	}
	if l.cpus < 0 {
		return out, userErr("use a positive number of cores, e.g. --cpus 0.5", "--cpus must be positive")
	}
	out.CPUs = l.cpus
	if l.pids < 0 {
		return out, userErr("use a positive number, e.g. --pids 100", "--pids must be positive")
	}
	out.Pids = l.pids
	if l.timeout != "" {
		d, err := parseDuration(l.timeout)
		if err != nil {
			return out, userErr("write durations like 90s, 10m or 2h", "--timeout %q: %v", l.timeout, err)
		}
		out.TimeoutSeconds = int64((d + time.Second - 1) / time.Second)
	}
	return out, nil
}

// executorLimits are the flags as a worker's defaults, over base.
func (l *limitFlags) executorLimits(base executor.Limits) (executor.Limits, error) {
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
	return base, nil
}

// parseBytes reads 512m, 1g, 1.5g, 1GiB, 1024k or plain bytes.
func parseBytes(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "ib"), "b")
	mult := int64(1)
	switch {
	case strings.HasSuffix(t, "k"):
		mult, t = 1<<10, strings.TrimSuffix(t, "k")
	case strings.HasSuffix(t, "m"):
		mult, t = 1<<20, strings.TrimSuffix(t, "m")
	case strings.HasSuffix(t, "g"):
		mult, t = 1<<30, strings.TrimSuffix(t, "g")
	case strings.HasSuffix(t, "t"):
		mult, t = 1<<40, strings.TrimSuffix(t, "t")
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f <= 0 {
		return 0, fmt.Errorf("not a size")
	}
	return int64(f * float64(mult)), nil
}

// parseDuration reads Go durations (90s, 10m, 1h30m) or plain seconds.
func parseDuration(s string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		if n <= 0 {
			return 0, fmt.Errorf("must be positive")
		}
		return time.Duration(n * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
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
	f.StringVar(&m.memory, "max-memory", "8g", "the most memory a job may ask for")
	f.Float64Var(&m.cpus, "max-cpus", 4, "the most CPUs a job may ask for")
	f.Int64Var(&m.pids, "max-pids", 4096, "the most processes a job may ask for")
	f.StringVar(&m.timeout, "max-timeout", "24h", "the longest time limit a job may ask for")
}

// checkDefaultsFit refuses a worker whose defaults exceed its maxima.
func checkDefaultsFit(d, m executor.Limits) error {
	switch {
	case m.MemoryBytes > 0 && d.MemoryBytes > m.MemoryBytes:
		return userErr("lower --memory or raise --max-memory", "the default memory %s is over the maximum %s", formatBytes(d.MemoryBytes), formatBytes(m.MemoryBytes))
	case m.CPUs > 0 && d.CPUs > m.CPUs:
		return userErr("lower --cpus or raise --max-cpus", "the default CPUs %g are over the maximum %g", d.CPUs, m.CPUs)
	case m.Pids > 0 && d.Pids > m.Pids:
		return userErr("lower --pids or raise --max-pids", "the default process limit %d is over the maximum %d", d.Pids, m.Pids)
	case m.Timeout > 0 && d.Timeout > m.Timeout:
		return userErr("lower --timeout or raise --max-timeout", "the default time limit %s is over the maximum %s", d.Timeout, m.Timeout)
	}
	return nil
}
