package benchkit

import (
	"context"
	"fmt"
	"path/filepath"
	"time"
)

// ServerPG creates a database in the PostgreSQL cluster (AdminURL), dropped
// at Close, and starts rgrid server on it with --migrate and extra. With
// profile set, the server runs under bench/internal/profiled and writes a
// CPU profile there when stopped with Proc.Stop. It returns the API's URL,
// the database's URL and the server process.
func (k *Kit) ServerPG(ctx context.Context, prefix, profile string, extra ...string) (api, db string, p *Proc, err error) {
	admin, err := AdminURL()
	if err != nil {
		return "", "", nil, err
	}
	db, drop, err := CreateDB(ctx, admin, prefix)
	if err != nil {
		return "", "", nil, err
	}
	k.Defer(drop)
	args := append([]string{"server", "--listen", "127.0.0.1:0", "--db", db, "--migrate"}, extra...)
	bin := k.Bin
	if profile != "" {
		if bin, err = k.Build("./bench/internal/profiled"); err != nil {
			return "", "", nil, err
		}
		args = append([]string{"-cpuprofile", profile}, args...)
	}
	addr, p, err := k.StartBin(bin, Listening, args...)
	if err != nil {
		return "", "", nil, err
	}
	return "http://" + addr, db, p, nil
}

// InstantWorkers starts n bench workers (bench/internal/instantworker:
// rgrid's worker agent with an executor whose runs last runTime, zero for
// none), each with slots slots, ids instant-1…instant-n. With profileDir
// set, each writes a CPU profile there when stopped with Proc.Stop.
func (k *Kit) InstantWorkers(api string, n, slots int, runTime time.Duration, profileDir string) ([]*Proc, error) {
	bin, err := k.Build("./bench/internal/instantworker")
	if err != nil {
		return nil, err
	}
	var ps []*Proc
	for i := range n {
		id := fmt.Sprintf("instant-%d", i+1)
		args := []string{"-server", api, "-worker-id", id, "-slots", fmt.Sprint(slots), "-run-time", runTime.String()}
		if profileDir != "" {
			args = append(args, "-cpuprofile", filepath.Join(profileDir, id+".pprof"))
		}
		_, p, err := k.StartBin(bin, Registered, args...)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, nil
}
