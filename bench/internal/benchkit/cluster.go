package benchkit

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rgrid/rgrid/client"
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

// Grid is an rgrid server on a fresh PostgreSQL database with instant
// workers, a client for its API and a pool on its database.
type Grid struct {
	Client  *client.Client
	Pool    *pgxpool.Pool
	Server  *Proc
	Workers []*Proc
}

// GridOptions describe a Grid.
type GridOptions struct {
	DBPrefix       string        // of the database's name
	Workers, Slots int           // instant workers, and slots of each
	RunTime        time.Duration // of each run on them; zero: none
	// ProfileDir, when set, gets CPU profiles of the server (server.pprof)
	// and workers, written when they are stopped with Proc.Stop.
	ProfileDir string
}

// StartGrid starts a Grid; Close stops it and drops its database.
func (k *Kit) StartGrid(ctx context.Context, o GridOptions) (*Grid, error) {
	var serverProfile string
	if o.ProfileDir != "" {
		serverProfile = filepath.Join(o.ProfileDir, "server.pprof")
	}
	api, db, server, err := k.ServerPG(ctx, o.DBPrefix, serverProfile)
	if err != nil {
		return nil, err
	}
	workers, err := k.InstantWorkers(api, o.Workers, o.Slots, o.RunTime, o.ProfileDir)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.New(ctx, db)
	if err != nil {
		return nil, err
	}
	k.Defer(pool.Close) // before the database is dropped
	c, err := client.New(api, "")
	if err != nil {
		return nil, err
	}
	return &Grid{Client: c, Pool: pool, Server: server, Workers: workers}, nil
}
