package node

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/rgrid/rgrid/client"
)

// machinePricing is p with the capacity a job's share is taken of filled
// from this machine where p leaves it zero: its CPUs, and its memory
// where the system says (Linux; elsewhere the share of memory falls back
// to one slot's).
func machinePricing(p *client.Pricing) *client.Pricing {
	if p == nil {
		return nil
	}
	out := *p
	if out.CPUs == 0 {
		out.CPUs = float64(runtime.NumCPU())
	}
	if out.MemoryBytes == 0 {
		out.MemoryBytes = machineMemory()
	}
	return &out
}

// machineMemory is MemTotal of /proc/meminfo in bytes, 0 if unknown.
func machineMemory() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return 0
}
