package fleet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/rgrid/rgrid/internal/money"
)

// Provider starts and stops the machines of one pool. Every machine it
// makes carries the labels of Labels, and Machines finds them by those
// labels alone, so that after a restart of the server nothing is leaked
// or made twice. Implementations: hetzner, docker; each passes the
// conformance suite in fleettest.
type Provider interface {
	// Machines lists the pool's machines, those being created included.
	Machines(ctx context.Context) ([]Machine, error)
	// Create makes a machine that runs rgrid worker as spec says and
	// returns once the provider has it running (not once the worker has
	// registered). On failure it leaves no machine behind.
	Create(ctx context.Context, spec MachineSpec) (Machine, error)
	// Delete removes a machine; one already gone is not an error.
	Delete(ctx context.Context, m Machine) error
}

// MachineSpec is what a new machine runs.
type MachineSpec struct {
	Pool *Pool
	// Name is the machine's name and its worker's --worker-id.
	Name string
	// Token is the secret of the worker token minted for this machine
	// (of the pool's pool). It goes to the machine only (user-data, the
	// container's environment), never to a log.
	Token string
}

// Labels every machine of a pool carries.
const (
	LabelPool    = "rgrid-pool"    // the pool's name
	LabelManaged = "rgrid-managed" // "autoscaler"
)

// Labels are the labels of a machine of pool.
func Labels(pool string) map[string]string {
	return map[string]string{LabelPool: pool, LabelManaged: "autoscaler"}
}

// NewMachineName makes a name for a new machine of pool: rgrid-POOL-HEX,
// a valid host name, container name and worker id.
func NewMachineName(pool string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "rgrid-" + pool + "-" + hex.EncodeToString(b[:])
}

// tokenNamePrefix names the worker tokens the autoscaler mints: one per
// machine, revoked when the machine is deleted.
const tokenNamePrefix = "autoscale:"

// WorkerArgs is the rgrid worker command line of a machine (the token
// comes through RGRID_TOKEN, never an argument, which ps shows). A
// machine priced at price (non-zero) has its worker priced at it, billed
// by the hour when the pool is, so that its jobs are charged.
func WorkerArgs(p *Pool, name, serverURL, executor string, price Price) []string {
	args := []string{"worker", "--server", serverURL, "--worker-id", name, "--name", name,
		"--slots", strconv.Itoa(p.Slots),
		"--max-cpus", strconv.FormatFloat(p.CPUs, 'f', -1, 64),
		"--max-memory", strconv.FormatInt(p.memoryBytes, 10)}
	if executor != "" {
		args = append(args, "--executor", executor)
	}
	if price.Micros > 0 {
		args = append(args, "--price-per-hour", money.Format(price.Micros), "--currency", price.Currency)
		if p.BilledHourly != nil && *p.BilledHourly {
			args = append(args, "--billing-period", "1h")
		}
	}
	return args
}

// ShellQuote quotes args for a POSIX shell.
func ShellQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}
