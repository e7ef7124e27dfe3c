// Package cli holds rgrid's commands: what people type (run, status, logs,
// list, cancel, runtimes, workers; login, whoami, token, admin) and the
// long-running roles (server, worker, dev), each a cobra command over an
// options struct, writing to injected writers so that tests drive them
// like a user would.
package cli

import (
	"context"
	"errors"
	"io"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rgrid/rgrid/internal/config"
	"github.com/rgrid/rgrid/internal/runtimes"
)

// env is what every command shares.
type env struct {
	stdin          *os.File // what rgrid run sends to the script's stdin when piped
	stdout, stderr io.Writer
	cfg            *config.File
	server         string
	token          string
	caCert         string // --ca-cert: the PEM file of the CA the server's certificate is checked against
	// ran is set once a command starts (its PersistentPreRunE): an error
	// before that is cobra refusing the command line.
	ran bool
}

// Run executes rgrid with args (without the program name) and returns the
// process exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return run(ctx, &env{stdin: os.Stdin, stdout: stdout, stderr: stderr}, args)
}

func run(ctx context.Context, e *env, args []string) int {
	stderr := e.stderr
	root := newRoot(e)
	root.SetArgs(args)
	root.SetOut(e.stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	if !e.ran {
		err = usageError(cmd, args, err)
	}
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return exitCanceled // interrupted: nothing to explain
	}
	var code exitCode
	if !errors.As(err, &code) {
		printError(stderr, err)
	}
	return exitStatus(err)
}

func newRoot(e *env) *cobra.Command {
	var configPath string
	root := &cobra.Command{
		Use:   "rgrid",
		Short: "Run scripts on a grid of machines as if they ran locally",
		Long: `rgrid runs a script on a worker machine in a container with limits, streams its
stdout and stderr back live, and exits with the script's exit code.

With no server configured, rgrid runs everything inside its own process on a
local SQLite database: "rgrid run hello.py" just works.

Exit codes: 0 on success, 2 for a usage error (a bad flag, file or value, or
a request the server refused), 125 when the platform failed (no server, a
server error, a job that ended error or lost); "rgrid run --help" lists the
codes of a job's outcome.`,
		SilenceErrors:      true,
		SilenceUsage:       true,
		DisableSuggestions: true, // usageError words them, on one line
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			e.ran = true
			path, explicit := configPath, configPath != ""
			if path == "" {
				if path = os.Getenv("RGRID_CONFIG"); path != "" {
					explicit = true
				} else {
					path = config.DefaultPath()
				}
			}
			if cmd.Annotations[createsConfig] != "" {
				explicit = false // rgrid login makes the file it is told to write
			}
			f, err := config.Load(path, explicit, settingNames(cmd.Root()))
			if err != nil {
				return configError(err)
			}
			e.cfg = f
			if err := config.Apply(cmd.Flags(), settingsFor(cmd, f), os.Getenv); err != nil {
				return configError(err)
			}
			if fl := cmd.Flags().Lookup("server"); fl != nil {
				e.server = fl.Value.String()
			}
			if fl := cmd.Flags().Lookup("token"); fl != nil {
				e.token = fl.Value.String()
			}
			if fl := cmd.Flags().Lookup("ca-cert"); fl != nil {
				e.caCert = fl.Value.String()
			}
			return nil
		},
	}
	root.PersistentFlags().StringVar(&configPath, "config", "", "config file (default $XDG_CONFIG_HOME/rgrid/config.toml; env RGRID_CONFIG)")
	root.SetFlagErrorFunc(flagError)
	root.AddCommand(
		newRunCmd(e), newStatusCmd(e), newLogsCmd(e), newOutputsCmd(e), newListCmd(e), newCancelCmd(e),
		newBatchCmd(e), newRuntimesCmd(e), newWorkersCmd(e), newPoolsCmd(e), newVersionCmd(e),
		newServerCmd(e), newWorkerCmd(e), newDevCmd(e), newMigrateCmd(e),
		newLoginCmd(e), newWhoamiCmd(e), newTokenCmd(e), newAdminCmd(e), newCostCmd(e),
	)
	return root
}

// addClientFlags adds --server, --token and --ca-cert to a command that
// talks to a server.
func addClientFlags(cmd *cobra.Command) {
	cmd.Flags().String("server", "", "server URL, or the replicas' URLs comma-separated (tried in turn when one cannot be connected to) (env RGRID_SERVER); without one, rgrid uses a local \"rgrid dev\" or runs embedded")
	cmd.Flags().String("token", "", "API token (env RGRID_TOKEN)")
	addCACertFlag(cmd.Flags(), nil)
}

// addCACertFlag adds --ca-cert, into p when it is not nil.
func addCACertFlag(f *pflag.FlagSet, p *string) {
	const usage = "PEM file of the CA that signed an https:// server's certificate, trusted instead of the system's roots (env RGRID_CA_CERT)"
	if p == nil {
		p = new(string)
	}
	f.StringVar(p, "ca-cert", "", usage)
}

// runtimeTable builds the runtime table from the defaults and the config
// file's [[runtimes]].
func (e *env) runtimeTable() (*runtimes.Table, error) {
	var overrides []runtimes.Runtime
	if e.cfg != nil {
		overrides = e.cfg.Runtimes
	}
	t, err := runtimes.New(overrides)
	if err != nil {
		return nil, userErr("fix [[runtimes]] in "+e.cfg.Path, "%v", err)
	}
	return t, nil
}
