package cli

import (
	"fmt"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rgrid/rgrid/internal/database"
)

func newMigrateCmd(e *env) *cobra.Command {
	var db string
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply, roll back or inspect database migrations",
		Long: `Manage the database schema. Migrations are numbered SQL files, one set per
dialect, embedded in this binary.`,
		Example: `  rgrid migrate status --db postgres://rgrid@localhost/rgrid
  rgrid migrate up --db postgres://rgrid@localhost/rgrid
  rgrid migrate create add_job_labels`,
	}
	cmd.PersistentFlags().StringVar(&db, "db", "", "database: postgres://… or a SQLite file path (env RGRID_DB)")

	open := func(cmd *cobra.Command) (*database.Migrator, error) {
		if db == "" {
			return nil, userErr("pass --db or set RGRID_DB", "no database given")
		}
		m, err := database.NewMigrator(cmd.Context(), db)
		if err != nil {
			return nil, platformErr("check the --db URL and that the database is running", "%v", err)
		}
		return m, nil
	}
	up := &cobra.Command{
		Use:   "up",
		Short: "Apply every pending migration",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := open(cmd)
			if err != nil {
				return err
			}
			defer m.Close()
			applied, err := m.Up(cmd.Context())
			if err != nil {
				return err
			}
			if len(applied) == 0 {
				fmt.Fprintln(e.stdout, "database is up to date")
			}
			for _, a := range applied {
				fmt.Fprintf(e.stdout, "applied %s\n", a.Source)
			}
			return nil
		},
	}
	down := &cobra.Command{
		Use:   "down",
		Short: "Roll back the newest applied migration",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := open(cmd)
			if err != nil {
				return err
			}
			defer m.Close()
			r, err := m.Down(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "rolled back %s\n", r.Source)
			return nil
		},
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "List migrations, whether each is applied, and whether each is marked compatible with the binary before it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := open(cmd)
			if err != nil {
				return err
			}
			defer m.Close()
			list, err := m.Status(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "VERSION\tNAME\tAPPLIED\tCOMPATIBLE")
			for _, s := range list {
				when := "pending"
				if s.Applied {
					when = s.AppliedAt.Local().Format(time.DateTime)
				}
				compat := "no"
				if s.Compatible {
					compat = "yes"
				}
				name := s.Source
				if s.Newer {
					name = "(applied by a newer rgrid; not in this binary)"
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", s.Version, name, when, compat)
			}
			return tw.Flush()
		},
	}
	var (
		dir        string
		compatible bool
	)
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Write the next numbered migration, one file per dialect under one number (for rgrid developers)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			paths, err := database.Create(dir, args[0], compatible)
			if err != nil {
				return userErr("run it from the root of the rgrid source tree, or pass --dir", "%v", err)
			}
			for _, p := range paths {
				fmt.Fprintf(e.stdout, "created %s\n", p)
			}
			return nil
		},
	}
	create.Flags().BoolVar(&compatible, "compatible", false, "mark it backward-compatible (it only adds): replicas of the binary before it run on beside it")
	create.Flags().StringVar(&dir, "dir", filepath.Join("internal", "store"), "directory holding sqlite/migrations and postgres/migrations")
	cmd.AddCommand(up, down, status, create)
	return cmd
}
