package cli

import (
	"cmp"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/runtimes"
	"github.com/rgrid/rgrid/internal/version"
)

func newRuntimesCmd(e *env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "runtimes",
		Short: "List the runtimes scripts can run on",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var list []client.Runtime
			if e.server != "" {
				s, err := e.connect(cmd.Context(), false, execOptions{})
				if err != nil {
					return err
				}
				defer s.close()
				if list, err = s.c.Runtimes(cmd.Context()); err != nil {
					return err
				}
			} else {
				t, err := e.runtimeTable()
				if err != nil {
					return err
				}
				for _, r := range t.All() {
					res, _ := t.Resolve(r.Name)
					list = append(list, client.Runtime{Name: r.Name, Image: res.Image, Command: res.Command,
						Extensions: r.Extensions, AliasOf: r.AliasOf, Default: r.Name == runtimes.DefaultName})
				}
			}
			if asJSON {
				return printJSON(e.stdout, list)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tIMAGE\tCOMMAND\tNOTE")
			for _, r := range list {
				var note []string
				if r.Default {
					note = append(note, "default")
				}
				if r.AliasOf != "" {
					note = append(note, "= "+r.AliasOf)
				}
				if len(r.Extensions) > 0 {
					note = append(note, "for "+strings.Join(r.Extensions, " "))
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Name, r.Image, strings.Join(r.Command, " "), strings.Join(note, ", "))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	addClientFlags(cmd)
	return cmd
}

func newWorkersCmd(e *env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "workers",
		Short: "List workers: state, slots in use, last heartbeat",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withSession(cmd.Context(), func(s *session) error {
				ws, err := s.c.Workers(cmd.Context())
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(e.stdout, ws)
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tSTATE\tSLOTS\tWARM\tEXECUTOR\tHOST\tLAST HEARTBEAT")
				for _, w := range ws {
					age := time.Since(w.LastHeartbeat).Round(time.Second)
					fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%d\t%s\t%s\t%s ago\n", w.ID, w.State, w.SlotsInUse, w.Slots, w.Warm, w.Executor, w.Hostname, age)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	addClientFlags(cmd)
	return cmd
}

func newVersionCmd(e *env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print rgrid's version, commit, build date, Go version and platform",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v := version.Get()
			if asJSON {
				return printJSON(e.stdout, v)
			}
			// The first line stays "rgrid VERSION", for scripts that read it.
			fmt.Fprintf(e.stdout, "rgrid %s\n", v.Version)
			commit := cmp.Or(v.Commit, "unknown")
			if v.Modified {
				commit += " (modified)"
			}
			fmt.Fprintf(e.stdout, "commit:    %s\n", commit)
			fmt.Fprintf(e.stdout, "built:     %s\n", cmp.Or(v.BuildDate, "unknown"))
			if v.CommitDate != "" {
				fmt.Fprintf(e.stdout, "committed: %s\n", v.CommitDate)
			}
			fmt.Fprintf(e.stdout, "go:        %s %s/%s\n", v.GoVersion, v.OS, v.Arch)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}
