package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/money"
)

func newCostCmd(e *env) *cobra.Command {
	var (
		o      client.CostOptions
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "cost",
		Short: "Show what jobs cost over a period, by user, batch, pool, worker or day",
		Long: `Show what jobs cost: each attempt's run time at its worker's price per hour
(rgrid worker --price-per-hour) times the job's share of the worker (its CPUs
over the worker's, or its memory if larger). A user sees their own jobs; an
admin sees everyone's and the idle capacity: paid worker time no job used.
An attempt that never started costs its user nothing.`,
		Example: `  rgrid cost
  rgrid cost --since 7d --by batch
  rgrid cost --since 2026-11-01 --until 2026-12-01 --by day --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withSession(cmd.Context(), func(s *session) error {
				rep, err := s.c.Cost(cmd.Context(), o)
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(e.stdout, rep)
				}
				printCost(e, rep)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Since, "since", "30d", "start of the period: 7d, 36h, a date (2026-11-01) or an RFC 3339 time")
	f.StringVar(&o.Until, "until", "", "end of the period, as --since (default now)")
	f.StringVar(&o.By, "by", "user", "sum by user, batch, pool, worker or day")
	f.BoolVar(&asJSON, "json", false, "print as JSON")
	addClientFlags(cmd)
	return cmd
}

func printCost(e *env, rep client.CostReport) {
	fmt.Fprintf(e.stdout, "cost from %s to %s, by %s\n", rep.Since.Local().Format(time.DateTime),
		rep.Until.Local().Format(time.DateTime), rep.By)
	if len(rep.Rows) == 0 && len(rep.Idle) == 0 {
		fmt.Fprintln(e.stdout, "no priced jobs ran in this period (workers are priced with rgrid worker --price-per-hour)")
		return
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%s\tJOBS\tATTEMPTS\tRUN TIME\tCOST\t\n", strings.ToUpper(rep.By))
	for _, r := range rep.Rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s %s\t\n", cell(r.Key), r.Jobs, r.Attempts, runTime(r.RunSeconds),
			money.Format(r.Cost.Micros), r.Cost.Currency)
	}
	for _, r := range rep.Idle {
		fmt.Fprintf(tw, "idle (%s)\t\t\t%s paid\t%s %s\t\n", cell(r.Key), runTime(r.RunSeconds),
			money.Format(r.Cost.Micros), r.Cost.Currency)
	}
	for _, t := range rep.Total {
		fmt.Fprintf(tw, "total\t\t\t\t%s %s\t\n", money.Format(t.Micros), t.Currency)
	}
	tw.Flush()
}

// runTime is seconds as 1h02m03s, to the second.
func runTime(sec float64) string {
	return (time.Duration(sec*float64(time.Second)) + time.Second/2).Truncate(time.Second).String()
}
