package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/money"
	"github.com/rgrid/rgrid/internal/node"
)

// Admin commands: the first admin token, users and their limits, worker
// tokens and the audit log.

func newAdminCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Manage a grid: the first admin token, users, worker tokens, the audit log",
		Long: `Commands for a grid's admins. Each talks to the server (--server, or the one
"rgrid login" saved), except bootstrap, which writes to the server's database.`,
	}
	user := &cobra.Command{
		Use:   "user",
		Short: "Make users, list them, set their limits",
	}
	user.AddCommand(newUserCreateCmd(e), newUserListCmd(e), newUserLimitsCmd(e), newUserBudgetCmd(e))
	worker := &cobra.Command{
		Use:   "worker-token",
		Short: "Make tokens for workers",
	}
	worker.AddCommand(newWorkerTokenCreateCmd(e))
	pool := &cobra.Command{
		Use:   "pool",
		Short: "Set and list the pools' monthly budgets",
	}
	pool.AddCommand(newPoolBudgetCmd(e), newPoolBudgetsCmd(e))
	cmd.AddCommand(newBootstrapCmd(e), user, worker, pool, newAuditCmd(e))
	return cmd
}

func newBootstrapCmd(e *env) *cobra.Command {
	var db string
	var migrate bool
	cmd := &cobra.Command{
		Use:   "bootstrap",
		Short: "Make an admin token in the server's database (on the server machine)",
		Long: `Make an admin token directly in the server's database, for the user "admin"
(made if missing), and print it once. This is how the first admin of a grid
gets in; "rgrid server --bootstrap-token-file" is the other way.

Every run makes another admin token: keep the one you use and revoke the
others ("rgrid token list --all", "rgrid token revoke PREFIX"). Once the
database holds a token, a server on it needs tokens from every caller.`,
		Example: `  rgrid admin bootstrap --db postgres://rgrid@db/rgrid
  rgrid login https://control:8443      # then paste the token`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if db == "" {
				return userErr("pass --db postgres://USER@HOST/DB (or the server's SQLite file), or set RGRID_DB", "no database given")
			}
			user, token, err := node.Bootstrap(cmd.Context(), db, migrate)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "Admin token for user %q, shown once (the database keeps only its hash):\n\n  %s\n\n", user, token)
			fmt.Fprintln(e.stdout, `Log in with it from any machine: rgrid login SERVER (the server's URL; paste the token when asked).`)
			return nil
		},
	}
	cmd.Flags().StringVar(&db, "db", "", "the server's database: postgres://… or a SQLite file path (env RGRID_DB)")
	cmd.Flags().BoolVar(&migrate, "migrate", false, "apply pending migrations first")
	return cmd
}

func newUserCreateCmd(e *env) *cobra.Command {
	var admin, asJSON bool
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Make a user and their first token (shown once)",
		Long: `Make a user and their first token. The token is shown once: hand it to them;
they log in with "rgrid login SERVER" and can make more with "rgrid token
create". Names are 1 to 64 lowercase letters, digits, '.', '_' or '-'.`,
		Example: `  rgrid admin user create alice
  rgrid admin user create bob --admin`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.remote(cmd.Context())
			if err != nil {
				return err
			}
			req := client.CreateUserRequest{Name: args[0], Role: client.RoleUser}
			if admin {
				req.Role = client.RoleAdmin
			}
			res, err := c.CreateUser(cmd.Context(), req)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(e.stdout, res)
			}
			fmt.Fprintf(e.stdout, "Made user %s (%s). Their first token, %s, shown once:\n\n  %s\n\n",
				res.User.Name, res.User.Role, res.Token.ID, res.Token.Secret)
			fmt.Fprintf(e.stdout, "They log in with: rgrid login %s (and paste it when asked)\n", c.BaseURL())
			return nil
		},
	}
	cmd.Flags().BoolVar(&admin, "admin", false, "make them an admin (default: a user, who sees only their own jobs)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the user and token as JSON (its secret included)")
	addClientFlags(cmd)
	return cmd
}

func newUserListCmd(e *env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the users with their roles and limits",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.remote(cmd.Context())
			if err != nil {
				return err
			}
			us, err := c.ListUsers(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(e.stdout, us)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tROLE\tMAX QUEUED\tMAX RUNNING\tBUDGET/MONTH\tCREATED")
			for _, u := range us {
				budget := "none"
				if u.Budget != nil {
					budget = money.Format(u.Budget.Micros) + " " + u.Budget.Currency
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.Name, u.Role, limitWord(u.MaxQueued), limitWord(u.MaxRunning),
					budget, u.CreatedAt.Local().Format(time.DateTime))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	addClientFlags(cmd)
	return cmd
}

// limitWord shows a user's limit: a number, "none" (0), or "default"
// (nil: the server's --user-max-queued / --user-max-running).
func limitWord(v *int) string {
	switch {
	case v == nil:
		return "default"
	case *v == 0:
		return "none"
	}
	return strconv.Itoa(*v)
}

// parseLimit reads a --max-queued or --max-running value: a whole number
// (0: no limit) or "default" (the server's).
func parseLimit(flag, s string) (*int, error) {
	if strings.EqualFold(strings.TrimSpace(s), "default") {
		return nil, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 {
		return nil, userErr("give a whole number (0 for no limit) or \"default\" for the server's", "--%s %q: not a limit", flag, s)
	}
	return &n, nil
}

func newUserLimitsCmd(e *env) *cobra.Command {
	var maxQueued, maxRunning string
	cmd := &cobra.Command{
		Use:   "limits NAME",
		Short: "Set a user's own limits on queued and running jobs",
		Long: `Set how many jobs a user may have queued (more are refused with 429) and
running (more wait in the queue). A number sets the user's own limit, 0 means
none, and "default" goes back to the server's (rgrid server --user-max-queued,
--user-max-running). A limit not given stays as it is.`,
		Example: `  rgrid admin user limits alice --max-queued 100 --max-running 4
  rgrid admin user limits alice --max-running default`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			qSet, rSet := cmd.Flags().Changed("max-queued"), cmd.Flags().Changed("max-running")
			if !qSet && !rSet {
				return userErr("pass --max-queued, --max-running or both (a number, 0 for none, or default)", "no limit given")
			}
			var req client.UserLimitsRequest
			var err error
			if qSet {
				if req.MaxQueued, err = parseLimit("max-queued", maxQueued); err != nil {
					return err
				}
			}
			if rSet {
				if req.MaxRunning, err = parseLimit("max-running", maxRunning); err != nil {
					return err
				}
			}
			c, err := e.remote(cmd.Context())
			if err != nil {
				return err
			}
			if !qSet || !rSet {
				// The server sets both at once: keep the one not given.
				us, err := c.ListUsers(cmd.Context())
				if err != nil {
					return err
				}
				i := slicesIndex(us, args[0])
				if i < 0 {
					return userErr(`"rgrid admin user list" lists the users`, "no user %q", args[0])
				}
				if !qSet {
					req.MaxQueued = us[i].MaxQueued
				}
				if !rSet {
					req.MaxRunning = us[i].MaxRunning
				}
			}
			u, err := c.SetUserLimits(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s: max queued %s, max running %s\n", u.Name, limitWord(u.MaxQueued), limitWord(u.MaxRunning))
			return nil
		},
	}
	cmd.Flags().StringVar(&maxQueued, "max-queued", "", "most jobs queued at once: a number, 0 for none, or default")
	cmd.Flags().StringVar(&maxRunning, "max-running", "", "most jobs running at once: a number, 0 for none, or default")
	addClientFlags(cmd)
	return cmd
}

func newUserBudgetCmd(e *env) *cobra.Command {
	var (
		currency string
		none     bool
	)
	cmd := &cobra.Command{
		Use:   "budget NAME [AMOUNT]",
		Short: "Set what a user's jobs may cost per calendar month",
		Long: `Set a user's monthly budget in money (UTC calendar months). Each submission
holds its jobs' worst case against it (time limit × the dearest worker's rate,
for every run a job may have; a job without a time limit gets an hour) with
what the month's jobs cost; a submission that does not fit, or any once the
budget is used up, is refused with budget_exceeded until the next month.`,
		Example: `  rgrid admin user budget alice 50 --currency EUR
  rgrid admin user budget alice --none`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := budgetAmount("rgrid admin user budget", args, none)
			if err != nil {
				return err
			}
			req := client.UserBudgetRequest{Micros: m, Currency: currency}
			c, err := e.remote(cmd.Context())
			if err != nil {
				return err
			}
			u, err := c.SetUserBudget(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			if u.Budget == nil {
				fmt.Fprintf(e.stdout, "%s: no budget\n", u.Name)
				return nil
			}
			fmt.Fprintf(e.stdout, "%s: budget %s %s per month\n", u.Name, money.Format(u.Budget.Micros), u.Budget.Currency)
			return nil
		},
	}
	cmd.Flags().StringVar(&currency, "currency", "EUR", "the budget's ISO 4217 currency code (the workers' prices must be in it)")
	cmd.Flags().BoolVar(&none, "none", false, "remove the user's budget")
	addClientFlags(cmd)
	return cmd
}

func slicesIndex(us []client.User, name string) int {
	for i, u := range us {
		if u.Name == name {
			return i
		}
	}
	return -1
}

func newWorkerTokenCreateCmd(e *env) *cobra.Command {
	var pool, name, expires string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Make a token for workers (shown once)",
		Long: `Make a worker token. It works on the worker endpoints only (register,
heartbeat, lease, report): a worker holding it cannot list or submit jobs,
and a user token cannot run a worker. One token may serve many workers;
revoke it with "rgrid token revoke PREFIX".`,
		Example: `  rgrid admin worker-token create --pool gpu --name rack-2 --expires 90d`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := tokenRequest(name, expires)
			if err != nil {
				return err
			}
			req.Pool = pool
			c, err := e.remote(cmd.Context())
			if err != nil {
				return err
			}
			t, err := c.CreateWorkerToken(cmd.Context(), req)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(e.stdout, t)
			}
			fmt.Fprintf(e.stdout, "Worker token %s (pool %q%s), shown once:\n\n  %s\n\n", t.ID, t.Pool, describeExpiry(t.ExpiresAt), t.Secret)
			printWorkerStart(e.stdout, c.BaseURL(), e.caCert, t.Secret)
			return nil
		},
	}
	cmd.Flags().StringVar(&pool, "pool", "", "the pool the token's workers are in")
	cmd.Flags().StringVar(&name, "name", "", "what the token is for, shown in \"rgrid token list --all\"")
	cmd.Flags().StringVar(&expires, "expires", "", "lifetime, e.g. 90d, 12h, 30m (default: never expires)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the token as JSON (its secret included)")
	addClientFlags(cmd)
	return cmd
}

func printWorkerStart(w io.Writer, server, caCert, secret string) {
	line := "rgrid worker --server " + server + " --token " + secret
	if caCert != "" {
		line += " --ca-cert " + caCert
	}
	fmt.Fprintf(w, "Start a worker with it:\n\n  %s\n\n", line)
	fmt.Fprintln(w, "(or put RGRID_TOKEN=… in the .env of scripts/start-worker.sh, which keeps it out of the process list)")
}

func newAuditCmd(e *env) *cobra.Command {
	var limit int
	var before string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Show the audit log, newest first: tokens, users, limits, others' jobs canceled",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 1 || limit > 1000 {
				return userErr("give --limit from 1 to 1000", "--limit %d is out of range", limit)
			}
			c, err := e.remote(cmd.Context())
			if err != nil {
				return err
			}
			page, err := c.Audit(cmd.Context(), before, limit)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(e.stdout, page)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tACTOR\tACTION\tTARGET\tDETAIL")
			for _, a := range page.Entries {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.Time.Local().Format(time.DateTime), cell(a.Actor), cell(a.Action),
					cell(a.Target), cell(a.Detail))
			}
			tw.Flush()
			if page.Next != "" {
				fmt.Fprintf(e.stderr, "more: rgrid admin audit --before %s\n", page.Next)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 50, "how many entries to show (at most 1000)")
	cmd.Flags().StringVar(&before, "before", "", "continue from where the last page ended")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	addClientFlags(cmd)
	return cmd
}
