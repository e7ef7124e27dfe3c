package cli

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/fleet"
	"github.com/rgrid/rgrid/internal/node"
)

func newPoolsCmd(e *env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "pools",
		Short: "Show the autoscaled worker pools: machines now, target, and the last decision with its reason (admins)",
		Long: `Show each autoscaled pool of the server ([[pools]] in its config file): its
min and max, the machines it has up or starting (CURRENT), those draining,
what it should have (TARGET), and the autoscaler's last decision: out, in or
hold, and why.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withSession(cmd.Context(), func(s *session) error {
				res, err := s.c.Pools(cmd.Context())
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(e.stdout, res)
				}
				if !res.Enabled {
					fmt.Fprintln(e.stdout, "Autoscaling is off on this server: it has no [[pools]] in its config file (see the README's Autoscaling part).")
					return nil
				}
				if res.Elsewhere {
					fmt.Fprintln(e.stdout, "This replica does not run the autoscaler now: another replica holds its lease and decides. What follows is this one's last view; ask the other replica (rgrid pools --server URL) for the live one.")
				}
				printPools(e, res.Pools)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	addClientFlags(cmd)
	return cmd
}

func printPools(e *env, pools []client.PoolStatus) {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "POOL\tPROVIDER\tMIN\tMAX\tCURRENT\tDRAINING\tTARGET\tLAST\tWHEN\tREASON")
	for _, p := range pools {
		when := "-"
		if p.DecidedAt != nil {
			when = time.Since(*p.DecidedAt).Round(time.Second).String() + " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", p.Name, p.Provider, p.Min, p.Max, p.Current, p.Draining, p.Target,
			orDash(p.LastDirection), when, p.LastDecision)
	}
	_ = tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// autoscale reads the config file's [[pools]]: none is autoscaling off.
func (e *env) autoscale(interval time.Duration) (node.Autoscale, error) {
	if e.cfg == nil || len(e.cfg.Pools) == 0 {
		return node.Autoscale{}, nil
	}
	if interval < time.Second {
		return node.Autoscale{}, userErr("weigh the pools at most once a second, e.g. --autoscale-interval 10s", "--autoscale-interval %s is under a second", interval)
	}
	if err := fleet.ValidatePools(e.cfg.Pools); err != nil {
		return node.Autoscale{}, userErr("fix [[pools]] in "+e.cfg.Path+" (the README's Autoscaling part has examples)", "%v", err)
	}
	return node.Autoscale{Pools: e.cfg.Pools, Interval: interval}, nil
}
