package cli

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/money"
)

// budgetAmount reads a budget command's NAME [AMOUNT] and --none: the
// amount in micro-units, nil for --none.
func budgetAmount(command string, args []string, none bool) (*int64, error) {
	switch {
	case none && len(args) == 2:
		return nil, userErr("give an AMOUNT or --none, not both", "both a budget and --none")
	case !none && len(args) == 1:
		return nil, userErr("give the budget, e.g. "+command+" "+args[0]+" 50 --currency EUR, or --none", "no budget given")
	case none:
		return nil, nil
	}
	m, err := money.Parse(args[1], 1_000_000)
	if err != nil {
		return nil, userErr("give the budget as a decimal amount, e.g. 50 or 12.50", "budget: %v", err)
	}
	return &m, nil
}

func newPoolBudgetCmd(e *env) *cobra.Command {
	var (
		currency string
		none     bool
	)
	cmd := &cobra.Command{
		Use:   "budget NAME [AMOUNT]",
		Short: "Set what a pool's workers may spend per calendar month",
		Long: `Set a pool's monthly budget in money (UTC calendar months). A worker of the
pool (one whose worker token names it) leases a job only when the job's worst
case, its time limit at the worker's rate for it (a job without one gets an
hour), fits what is left; it is held until the job ends, then counts at what
the job cost. A job that does not fit waits for a worker of another pool. When
every pool that could run a job has used up its budget, submissions are
refused with budget_exceeded until the next month. The autoscaler starts no
machine beyond the pool's min while its budget is used up.`,
		Example: `  rgrid admin pool budget gpu 200 --currency EUR
  rgrid admin pool budget gpu --none`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := budgetAmount("rgrid admin pool budget", args, none)
			if err != nil {
				return err
			}
			c, err := e.remote(cmd.Context())
			if err != nil {
				return err
			}
			b, err := c.SetPoolBudget(cmd.Context(), args[0], client.PoolBudgetRequest{Micros: m, Currency: currency})
			if err != nil {
				return err
			}
			if b.Micros == nil {
				fmt.Fprintf(e.stdout, "pool %s: no budget\n", b.Pool)
				return nil
			}
			fmt.Fprintf(e.stdout, "pool %s: budget %s %s per month, %s used or held (starts again on %s)\n",
				b.Pool, money.Format(*b.Micros), b.Currency, money.Format(b.UsedMicros), b.Resets)
			return nil
		},
	}
	cmd.Flags().StringVar(&currency, "currency", "EUR", "the budget's ISO 4217 currency code (the pool's workers' prices must be in it)")
	cmd.Flags().BoolVar(&none, "none", false, "remove the pool's budget")
	addClientFlags(cmd)
	return cmd
}

func newPoolBudgetsCmd(e *env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "budgets",
		Short: "List the pools' budgets and what they used this month",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.remote(cmd.Context())
			if err != nil {
				return err
			}
			res, err := c.PoolBudgets(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(e.stdout, res)
			}
			if len(res.Budgets) == 0 {
				fmt.Fprintln(e.stdout, "no pool has a budget (rgrid admin pool budget NAME AMOUNT sets one)")
				return nil
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "POOL\tBUDGET\tUSED\tLEFT\tRESETS")
			for _, b := range res.Budgets {
				m := *b.Micros
				fmt.Fprintf(tw, "%s\t%s %s\t%s\t%s\t%s\n", b.Pool, money.Format(m), b.Currency, money.Format(b.UsedMicros),
					money.Format(max(m-b.UsedMicros, 0)), b.Resets)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	addClientFlags(cmd)
	return cmd
}
