package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/rgrid/rgrid/client"
)

// API tokens: rgrid token create / list / revoke, and rgrid whoami.

const expiryHint = "write a whole number and a unit: 90d (days), 12h, 30m, or a mix such as 1d12h"

// parseExpiry reads a token's lifetime: Go's durations (12h, 30m, 1h30m)
// plus days (90d, 1d12h). It must be at least a second.
func parseExpiry(s string) (time.Duration, error) {
	bad := func(problem string) error {
		return userErr(expiryHint, "--expires %q: %s", s, problem)
	}
	rest := strings.TrimSpace(s)
	var d time.Duration
	if days, after, ok := strings.Cut(rest, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 32)
		if err != nil || days == "" || days[0] == '+' {
			return 0, bad("not a duration")
		}
		if n > 100*365 {
			return 0, bad("too long")
		}
		d, rest = time.Duration(n)*24*time.Hour, after
	}
	if rest != "" {
		if rest[0] == '-' || rest[0] == '+' {
			return 0, bad("not a duration")
		}
		more, err := time.ParseDuration(rest)
		if err != nil {
			return 0, bad("not a duration")
		}
		if more > 100*365*24*time.Hour {
			return 0, bad("too long")
		}
		d += more
	}
	if d < time.Second {
		return 0, bad("must be at least 1s")
	}
	return d, nil
}

// tokenRequest builds a token request from the --name and --expires
// flags.
func tokenRequest(name, expires string) (client.CreateTokenRequest, error) {
	req := client.CreateTokenRequest{Name: name}
	if expires != "" {
		d, err := parseExpiry(expires)
		if err != nil {
			return req, err
		}
		req.ExpiresInSeconds = int64(d / time.Second)
	}
	return req, nil
}

// remote connects to the server given by --server, RGRID_SERVER or the
// config file, and to nothing else: users and tokens belong to a real
// grid. The embedded grid and "rgrid dev" run open, and a token made in
// their database would close them to every later "rgrid run".
func (e *env) remote(ctx context.Context) (*client.Client, error) {
	if e.server == "" {
		return nil, userErr(`log in first with "rgrid login SERVER", or pass --server (or set RGRID_SERVER)`,
			"no server given: users and tokens live on a grid's server (the embedded grid and \"rgrid dev\" have none)")
	}
	s, err := e.connect(ctx, false, execOptions{})
	if err != nil {
		return nil, err
	}
	return s.c, nil
}

func newTokenCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Make, list and revoke your API tokens",
		Long: `API tokens prove who you are to a server. A token is shown once, when it is
made; the server keeps only its hash and a visible prefix (rgu_… for users,
rgw_… for workers) by which it is listed and revoked.`,
		Example: `  rgrid token create --name laptop --expires 90d
  rgrid token list
  rgrid token revoke rgu_1a2b3c4d`,
	}
	cmd.AddCommand(newTokenCreateCmd(e), newTokenListCmd(e), newTokenRevokeCmd(e))
	return cmd
}

func newTokenCreateCmd(e *env) *cobra.Command {
	var name, expires string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Make another token for yourself (shown once)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := tokenRequest(name, expires)
			if err != nil {
				return err
			}
			c, err := e.remote(cmd.Context())
			if err != nil {
				return err
			}
			t, err := c.CreateToken(cmd.Context(), req)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(e.stdout, t)
			}
			fmt.Fprintf(e.stdout, "Token %s for %s%s, shown once (the server keeps only its hash):\n\n  %s\n\n",
				t.ID, t.User, describeExpiry(t.ExpiresAt), t.Secret)
			fmt.Fprintf(e.stdout, "Use it with: rgrid login %s (paste it when asked)\n", c.BaseURL())
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "what the token is for, shown in \"rgrid token list\" (e.g. laptop)")
	cmd.Flags().StringVar(&expires, "expires", "", "lifetime, e.g. 90d, 12h, 30m (default: never expires)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the token as JSON (its secret included)")
	addClientFlags(cmd)
	return cmd
}

func describeExpiry(at *time.Time) string {
	if at == nil {
		return ", never expiring"
	}
	return ", expiring " + at.Local().Format(time.DateTime)
}

func newTokenListCmd(e *env) *cobra.Command {
	var all, asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List your tokens by prefix (admins: --all lists everyone's and the workers')",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.remote(cmd.Context())
			if err != nil {
				return err
			}
			ts, err := c.ListTokens(cmd.Context(), all)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(e.stdout, ts)
			}
			printTokens(e.stdout, ts, time.Now())
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "every user's tokens and every worker token (admins)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	addClientFlags(cmd)
	return cmd
}

func printTokens(w io.Writer, ts []client.Token, now time.Time) {
	when := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.Local().Format(time.DateTime)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PREFIX\tKIND\tUSER\tNAME\tCREATED\tEXPIRES\tLAST USED\tREVOKED")
	for _, t := range ts {
		user := t.User
		if t.Kind == client.TokenWorker {
			user = "pool " + strconv.Quote(t.Pool)
		}
		expires := "never"
		if t.ExpiresAt != nil {
			expires = when(t.ExpiresAt)
			if !now.Before(*t.ExpiresAt) {
				expires += " (expired)"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Kind, cell(user), cell(t.Name),
			when(&t.CreatedAt), expires, when(t.LastUsedAt), when(t.RevokedAt))
	}
	tw.Flush()
}

// cell is a table cell: "-" for nothing, and quoted with escapes when
// it holds a control character (a token's name is the caller's choice,
// and a tab or an escape sequence would break the table or the
// terminal).
func cell(s string) string {
	if s == "" {
		return "-"
	}
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) || r == utf8.RuneError }) >= 0 {
		return strconv.Quote(s)
	}
	return s
}

func newTokenRevokeCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "revoke PREFIX",
		Short: "Revoke a token by its prefix (yours; admins: anyone's)",
		Long: `Revoke a token by the prefix "rgrid token list" shows (rgu_… or rgw_…). It stops
working at once on the server that revoked it, and within 10 seconds on the
server's other replicas. Revocation cannot be undone.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.remote(cmd.Context())
			if err != nil {
				return err
			}
			t, err := c.RevokeToken(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "revoked %s\n", describeToken(t))
			if e.token != "" && strings.HasPrefix(e.token, t.ID) {
				fmt.Fprintf(e.stderr, "That was the token this rgrid uses: log in with another (rgrid login %s).\n", c.BaseURL())
			}
			return nil
		},
	}
	addClientFlags(cmd)
	return cmd
}

// describeToken names a token for a message: its prefix, whose it is,
// and its name.
func describeToken(t client.Token) string {
	var parts []string
	switch {
	case t.Kind == client.TokenWorker:
		parts = append(parts, fmt.Sprintf("worker token, pool %q", t.Pool))
	case t.User != "":
		parts = append(parts, "user "+t.User)
	}
	if t.Name != "" {
		parts = append(parts, fmt.Sprintf("named %q", t.Name))
	}
	if len(parts) == 0 {
		return t.ID
	}
	return t.ID + " (" + strings.Join(parts, ", ") + ")"
}

func newWhoamiCmd(e *env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "whoami",
		Short: "Show who the server takes you for: user and role, or a worker token",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withSession(cmd.Context(), func(s *session) error {
				w, err := s.c.Whoami(cmd.Context())
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(e.stdout, w)
				}
				fmt.Fprintln(e.stdout, describeWhoami(w, s.c.BaseURL()))
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	addClientFlags(cmd)
	return cmd
}

// describeWhoami says who the server at url takes a caller for.
func describeWhoami(w client.Whoami, url string) string {
	switch w.Kind {
	case "user":
		return fmt.Sprintf("%s (%s) on %s, token %s", w.User, w.Role, url, w.Token)
	case "worker":
		return fmt.Sprintf("a worker token %s (pool %q) on %s: it works for rgrid worker only", w.Token, w.Pool, url)
	case "open":
		return fmt.Sprintf("anyone, as an admin: %s is open (it has no users or tokens)", url)
	case "legacy":
		return fmt.Sprintf("an admin, by the shared --token of %s (deprecated: ask for a user token)", url)
	}
	return fmt.Sprintf("a caller of kind %q on %s", w.Kind, url)
}
