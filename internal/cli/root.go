// Package cli holds rgrid's commands: what people type (run, status, logs,
// list, cancel, runtimes, workers) and the long-running roles (server,
// worker, dev), each a cobra command over an options struct, writing to
// injected writers so that tests drive them like a user would.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/config"
	"github.com/rgrid/rgrid/internal/runtimes"
)

// Error is a failure meant for the user: a message, a hint naming the fix,
// and the exit code.
type Error struct {
	Message string
	Hint    string
	Code    int
}

func (e *Error) Error() string { return e.Message }

func userErr(hint, format string, args ...any) *Error {
	return &Error{Message: fmt.Sprintf(format, args...), Hint: hint, Code: 1}
}

// exitCode lets a command end the process with a given code and no message
// (rgrid run exits with the script's own code).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit code %d", int(e)) }

// env is what every command shares.
type env struct {
	stdout, stderr io.Writer
	cfg            *config.File
	server         string
	token          string
}

// Run executes rgrid with args (without the program name) and returns the
// process exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	e := &env{stdout: stdout, stderr: stderr}
	root := newRoot(e)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var code exitCode
	if errors.As(err, &code) {
		return int(code)
	}
	printError(stderr, err)
	var ue *Error
	if errors.As(err, &ue) && ue.Code != 0 {
		return ue.Code
	}
	return 1
}

func printError(w io.Writer, err error) {
	var ue *Error
	var ae *client.Error
	var hint string
	switch {
	case errors.As(err, &ue):
		hint = ue.Hint
	case errors.As(err, &ae):
		hint = ae.Hint
	case strings.HasPrefix(err.Error(), "unknown command"), strings.HasPrefix(err.Error(), "unknown flag"),
		strings.HasPrefix(err.Error(), "unknown shorthand flag"), strings.Contains(err.Error(), "accepts "),
		strings.Contains(err.Error(), "requires at least"), strings.HasPrefix(err.Error(), "invalid argument"):
		hint = "run \"rgrid --help\" or \"rgrid COMMAND --help\" for usage"
	}
	fmt.Fprintf(w, "Error: %s\n", err.Error())
	if hint != "" {
		fmt.Fprintf(w, "Hint: %s\n", hint)
	}
}

func newRoot(e *env) *cobra.Command {
	var configPath string
	root := &cobra.Command{
		Use:   "rgrid",
		Short: "Run scripts on a grid of machines as if they ran locally",
		Long: `rgrid runs a script on a worker machine in a container with limits, streams its
stdout and stderr back live, and exits with the script's exit code.

With no server configured, rgrid runs everything inside its own process on a
local SQLite database: "rgrid run hello.py" just works.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			path, explicit := configPath, configPath != ""
			if path == "" {
				if path = os.Getenv("RGRID_CONFIG"); path != "" {
					explicit = true
				} else {
					path = config.DefaultPath()
				}
			}
			f, err := config.Load(path, explicit)
			if err != nil {
				return userErr("fix the file or point --config / RGRID_CONFIG at another one", "%v", err)
			}
			e.cfg = f
			if err := config.Apply(cmd.Flags(), f, os.Getenv); err != nil {
				return userErr("fix the value named above", "%v", err)
			}
			if fl := cmd.Flags().Lookup("server"); fl != nil {
				e.server = fl.Value.String()
			}
			if fl := cmd.Flags().Lookup("token"); fl != nil {
				e.token = fl.Value.String()
			}
			return nil
		},
	}
	root.PersistentFlags().StringVar(&configPath, "config", "", "config file (default $XDG_CONFIG_HOME/rgrid/config.toml; env RGRID_CONFIG)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return userErr(fmt.Sprintf("run \"rgrid %s --help\" for usage", c.Name()), "%v", err)
	})
	root.AddCommand(
		newRunCmd(e), newStatusCmd(e), newLogsCmd(e), newListCmd(e), newCancelCmd(e),
		newRuntimesCmd(e), newWorkersCmd(e), newVersionCmd(e),
		newServerCmd(e), newWorkerCmd(e), newDevCmd(e), newMigrateCmd(e),
	)
	return root
}

// addClientFlags adds --server and --token to a command that talks to a
// server.
func addClientFlags(cmd *cobra.Command) {
	cmd.Flags().String("server", "", "server URL (env RGRID_SERVER); without one, rgrid uses a local \"rgrid dev\" or runs embedded")
	cmd.Flags().String("token", "", "API token (env RGRID_TOKEN)")
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
