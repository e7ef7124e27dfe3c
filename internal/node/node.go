// Package node runs rgrid's roles for the commands that start them: the
// control plane over a database (RunServer), a worker agent with the
// executor its machine has (RunWorker), and both inside one process on the
// data directory's SQLite file (StartEmbedded: what rgrid run does when no
// server is configured; RunDev: what rgrid dev keeps running). The CLI
// reads settings and prints; this package is where the store, the server,
// the worker and the executors are put together, and the only one.
package node

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/rgrid/rgrid/internal/database"
	"github.com/rgrid/rgrid/internal/executor"
	"github.com/rgrid/rgrid/internal/executor/diskquota"
	"github.com/rgrid/rgrid/internal/executor/docker"
	"github.com/rgrid/rgrid/internal/server"
)

// Settings the CLI fills in, named here so that it needs no other package
// of the grid's.
type (
	// Limits are a worker's defaults and maxima for a job's resources.
	Limits = executor.Limits
	// DockerOptions are the Docker executor's settings (dependency installs).
	DockerOptions = docker.Options
	// ServerOptions are the control plane's settings.
	ServerOptions = server.Options
)

// DiskQuotaMode says whether jobs' working directories get a
// kernel-enforced size (see diskquota).
type DiskQuotaMode = diskquota.Mode

// The modes of --disk-quota.
const (
	DiskQuotaAuto     = diskquota.Auto
	DiskQuotaRequired = diskquota.Required
	DiskQuotaOff      = diskquota.Off
)

// The Docker executor's defaults for dependency installs, for the flags.
const (
	DefaultDepsNetwork  = docker.DefaultDepsNetwork
	DefaultBuildTimeout = docker.DefaultBuildTimeout
)

// Error is a failure to start or run a role that the user must act on: a
// message, and a hint naming the fix. Usage says the settings are wrong
// (the same command fails again); otherwise what rgrid runs on failed (a
// database, Docker, a port).
type Error struct {
	Message string
	Hint    string
	Usage   bool
}

func (e *Error) Error() string { return e.Message }

func usageErr(hint, format string, args ...any) *Error {
	return &Error{Message: fmt.Sprintf(format, args...), Hint: hint, Usage: true}
}

func platformErr(hint, format string, args ...any) *Error {
	return &Error{Message: fmt.Sprintf(format, args...), Hint: hint}
}

// dbError turns a schema or connection failure into advice; either is a
// failure of the platform, not of the command line.
func dbError(err error) error {
	var behind *database.SchemaBehindError
	var ahead *database.SchemaAheadError
	switch {
	case errors.As(err, &behind):
		return platformErr(behind.Hint(), "%v", err)
	case errors.As(err, &ahead):
		return platformErr(ahead.Hint(), "%v", err)
	}
	return platformErr("check the --db URL and that the database is running", "open the database: %v", err)
}

func randomSuffix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
