package benchkit

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"
)

// Mem is a process's resident memory as /proc/PID/status reports it.
type Mem struct {
	RSS int64 // VmRSS: resident now, bytes
	HWM int64 // VmHWM: the most it was ever resident, bytes
}

// ReadMem reads VmRSS and VmHWM of pid.
func ReadMem(pid int) (Mem, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Mem{}, err
	}
	var m Mem
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, val, _ := strings.Cut(sc.Text(), ":")
		f := strings.Fields(val)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		switch key {
		case "VmRSS":
			m.RSS = n << 10
		case "VmHWM":
			m.HWM = n << 10
		}
	}
	if m.RSS == 0 || m.HWM == 0 {
		return Mem{}, fmt.Errorf("/proc/%d/status has no VmRSS or VmHWM", pid)
	}
	return m, nil
}

// MiB converts bytes to MiB.
func MiB(b int64) float64 { return float64(b) / (1 << 20) }

// clockTick is USER_HZ, the unit of the CPU times in /proc/PID/stat; it
// is 100 on every Linux architecture Go supports.
const clockTick = time.Second / 100

// procStat returns the parent pid and the CPU times (user+system of the
// process, and of its waited-for children) of pid.
func procStat(pid int) (ppid int, self, children time.Duration, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, 0, err
	}
	// The command name may hold spaces and parentheses: fields start
	// after its last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return 0, 0, 0, fmt.Errorf("/proc/%d/stat: short", pid)
	}
	// f[0] is field 3 (state): ppid is field 4, utime..cstime 14..17.
	num := func(k int) int64 { n, _ := strconv.ParseInt(f[k-3], 10, 64); return n }
	return int(num(4)), time.Duration(num(14)+num(15)) * clockTick, time.Duration(num(16)+num(17)) * clockTick, nil
}

// CPUTime is the user+system CPU time pid has used.
func CPUTime(pid int) (time.Duration, error) {
	_, self, _, err := procStat(pid)
	return self, err
}

// PostgresCPU is the CPU time used so far by the cluster scripts/pg.sh
// started (PG_TMPDIR): the postmaster, its live children (the backends)
// and the children it has reaped. It fails when PG_TMPDIR is not set.
func PostgresCPU() (time.Duration, error) {
	dir := os.Getenv("PG_TMPDIR")
	if dir == "" {
		return 0, fmt.Errorf("PG_TMPDIR is not set")
	}
	b, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pm, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return 0, fmt.Errorf("postmaster.pid: %w", err)
	}
	_, self, reaped, err := procStat(pm)
	if err != nil {
		return 0, err
	}
	total := self + reaped
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, cpu, _, err := procStat(pid); err == nil && ppid == pm {
			total += cpu
		}
	}
	return total, nil
}

// SelfCPU is the CPU time this process has used.
func SelfCPU() (time.Duration, error) { return CPUTime(os.Getpid()) }

// StartCPUProfile writes this process's CPU profile to path until the
// returned stop is called; with path "" it does nothing.
func StartCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
