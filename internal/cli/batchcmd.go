package cli

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/money"
)

// rgrid batch: status, list, watch, cancel, set and retry of batches
// submitted by rgrid run --batch or --array.

func newBatchCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "batch",
		Short: "Inspect and steer batches (rgrid run --batch / --array)",
		Long: `A batch runs one script over many inputs (rgrid run --batch 'data/*.csv') or
indexes (rgrid run --array 0-99). These commands show, watch, cancel,
re-cap and retry one.`,
	}
	cmd.AddCommand(newBatchStatusCmd(e), newBatchListCmd(e), newBatchWatchCmd(e), newBatchCancelCmd(e),
		newBatchSetCmd(e), newBatchRetryCmd(e))
	return cmd
}

// withSession runs fn against the server, without a worker of its own.
func (e *env) withSession(ctx context.Context, fn func(*session) error) error {
	s, err := e.connect(ctx, false, execOptions{})
	if err != nil {
		return err
	}
	defer s.close()
	return fn(s)
}

func newBatchStatusCmd(e *env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status BATCH",
		Short: "Show a batch's state, parallelism and counts",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withSession(cmd.Context(), func(s *session) error {
				b, err := s.c.Batch(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(e.stdout, b)
				}
				printBatchStatus(e.stdout, b)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the batch as JSON")
	addClientFlags(cmd)
	return cmd
}

// batchState is a batch's state in a word.
func batchState(b client.Batch) string {
	switch {
	case b.Finished && b.Counts.Succeeded == b.Size:
		return "succeeded"
	case b.Finished && b.Counts.Failed+b.Counts.Error > 0:
		return "failed"
	case b.Finished:
		return "canceled"
	case b.Canceled:
		return "canceling"
	case b.Counts.Running > 0 || b.Counts.Done() > 0:
		return "running"
	}
	return "queued"
}

func parallelismText(n int) string {
	if n == 0 {
		return "no cap (the grid's free slots decide)"
	}
	return fmt.Sprintf("at most %d items at once", n)
}

func printBatchStatus(w io.Writer, b client.Batch) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	c := b.Counts
	fmt.Fprintf(tw, "Batch:\t%s\n", b.ID)
	fmt.Fprintf(tw, "Name:\t%s\n", quoteName(b.Name))
	fmt.Fprintf(tw, "Kind:\t%s, %d items\n", b.Kind, b.Size)
	fmt.Fprintf(tw, "State:\t%s\n", batchState(b))
	fmt.Fprintf(tw, "Parallelism:\t%s\n", parallelismText(b.Parallelism))
	fmt.Fprintf(tw, "Items:\t%d succeeded, %d failed, %d error, %d canceled, %d running, %d queued\n",
		c.Succeeded, c.Failed, c.Error, c.Canceled, c.Running, c.Queued)
	if b.Cost != nil {
		fmt.Fprintf(tw, "Cost:\t%s\n", costText(b))
	}
	fmt.Fprintf(tw, "Created:\t%s\n", b.CreatedAt.Local().Format(time.DateTime))
	if b.CanceledAt != nil {
		fmt.Fprintf(tw, "Canceled:\t%s\n", b.CanceledAt.Local().Format(time.DateTime))
	}
	tw.Flush()
}

// costText is a batch's spend so far and, until it has finished, what it
// will cost at its finished items' average.
func costText(b client.Batch) string {
	s := money.Format(b.Cost.Micros) + " " + b.Cost.Currency
	if p := b.Projected; p != nil && !b.Finished {
		s += fmt.Sprintf(" so far, about %s %s in all", money.Format(p.Micros), p.Currency)
	}
	return s
}

func newBatchListCmd(e *env) *cobra.Command {
	var limit int
	var cursor string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List batches, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withSession(cmd.Context(), func(s *session) error {
				l, err := s.c.Batches(cmd.Context(), client.ListOptions{Limit: limit, Cursor: cursor})
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(e.stdout, l)
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tSTATE\tDONE\tFAILED\tPARALLEL\tCREATED")
				for _, b := range l.Batches {
					par := "-"
					if b.Parallelism > 0 {
						par = fmt.Sprint(b.Parallelism)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%d\t%s\t%s\n", b.ID, quoteName(b.Name), batchState(b), b.Counts.Done(), b.Size,
						b.Counts.Failed+b.Counts.Error, par, b.CreatedAt.Local().Format(time.DateTime))
				}
				tw.Flush()
				if l.Next != "" {
					fmt.Fprintf(e.stderr, "more: rgrid batch list --cursor %s\n", l.Next)
				}
				return nil
			})
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "how many batches to show")
	cmd.Flags().StringVar(&cursor, "cursor", "", "continue a listing from where the last page ended")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	addClientFlags(cmd)
	return cmd
}

// watchFlags are what rgrid batch watch and retry share with rgrid run
// --batch.
type watchFlags struct {
	outputs           string
	noOutputs         bool
	followAll         bool
	cancelOnInterrupt bool
}

func (w *watchFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&w.outputs, "outputs", "", "write each item's outputs into its own folder under this directory (default: rgrid-outputs/BATCH)")
	f.BoolVar(&w.noOutputs, "no-outputs", false, "leave the items' outputs on the server (rgrid outputs BATCH -o DIR fetches them later)")
	f.BoolVar(&w.followAll, "follow-all", false, "print every item's output, each line prefixed with its item")
	f.BoolVar(&w.cancelOnInterrupt, "cancel-on-interrupt", false, "Ctrl-C cancels the batch (default: Ctrl-C detaches and the batch goes on)")
}

// watch follows batch id to its end (see batchWatch); the session's
// worker, in embedded mode, runs the items meanwhile.
func (w watchFlags) watch(ctx context.Context, e *env, s *session, id string) error {
	bw := batchWatch{s: s, id: id, followAll: w.followAll, cancelOnInterrupt: w.cancelOnInterrupt, stdout: e.stdout, stderr: e.stderr}
	if !w.noOutputs {
		bw.outputs = w.outputs
		if bw.outputs == "" {
			bw.outputs = filepath.Join(defaultOutputsDir, id)
		}
	}
	return bw.run(ctx)
}

// workerSession connects with a worker of its own in embedded mode, so
// that a batch watched there makes progress.
func (e *env) workerSession(ctx context.Context) (*session, error) {
	return e.connect(ctx, true, execOptions{defaults: defaultLimits()})
}

func newBatchWatchCmd(e *env) *cobra.Command {
	var w watchFlags
	cmd := &cobra.Command{
		Use:   "watch BATCH",
		Short: "Show a batch's progress until it ends, then its failed items and outputs",
		Long: `Show a batch's progress until every item has ended, then write each item's
outputs into its own folder, list the failed items and exit as rgrid run
--batch would: 0 only if every item succeeded, 1 if an item failed (its
script's exit, a timeout, out of memory), 125 if one ended error or lost,
130 if the batch was canceled or rgrid interrupted (Ctrl-C detaches).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := e.workerSession(cmd.Context())
			if err != nil {
				return err
			}
			defer s.close()
			return w.watch(cmd.Context(), e, s, args[0])
		},
	}
	w.add(cmd)
	addClientFlags(cmd)
	return cmd
}

func newBatchCancelCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cancel BATCH",
		Short: "Cancel a batch: its queued items never start, its running ones are stopped",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withSession(cmd.Context(), func(s *session) error {
				r, err := s.c.CancelBatch(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if r.Stopping > 0 {
					fmt.Fprintf(e.stdout, "%s: canceled; %d running %s stopping\n", r.Batch.ID, r.Stopping, plural(r.Stopping, "item is", "items are"))
				} else {
					fmt.Fprintf(e.stdout, "%s canceled\n", r.Batch.ID)
				}
				return nil
			})
		},
	}
	addClientFlags(cmd)
	return cmd
}

func newBatchSetCmd(e *env) *cobra.Command {
	var parallel int
	cmd := &cobra.Command{
		Use:     "set BATCH --parallel N",
		Short:   "Change a batch's parallelism while it runs",
		Example: "  rgrid batch set bat_06h3… --parallel 20\n  rgrid batch set bat_06h3… --parallel 0   # no cap",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("parallel") {
				return userErr("pass the new cap, e.g. --parallel 20 (0: no cap)", "rgrid batch set needs --parallel")
			}
			if parallel < 0 {
				return userErr("pass --parallel 0 (no cap) or more", "--parallel %d is negative", parallel)
			}
			return e.withSession(cmd.Context(), func(s *session) error {
				b, err := s.c.SetBatchParallelism(cmd.Context(), args[0], parallel)
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "%s: %s (running items are not stopped)\n", b.ID, parallelismText(b.Parallelism))
				return nil
			})
		},
	}
	cmd.Flags().IntVar(&parallel, "parallel", 0, "the new cap on items running at once (0: none)")
	addClientFlags(cmd)
	return cmd
}

func newBatchRetryCmd(e *env) *cobra.Command {
	var failed, detach bool
	var w watchFlags
	cmd := &cobra.Command{
		Use:   "retry BATCH --failed",
		Short: "Run a batch's failed items again, keeping its successes, and watch them",
		Long: `Queue the batch's failed items (failed, timed out, out of memory, error, lost)
again as new attempts of the same items, with fresh retry budgets; items that
succeeded are never run again. Then watch the batch as rgrid batch watch does
(--detach returns at once).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !failed {
				return userErr("pass --failed: the failed items are the ones retried", "rgrid batch retry needs --failed")
			}
			if detach && w.followAll {
				return userErr("pass one of them", "--follow-all and --detach exclude each other")
			}
			var s *session
			var err error
			if detach {
				s, err = e.connect(cmd.Context(), false, execOptions{})
			} else {
				s, err = e.workerSession(cmd.Context())
			}
			if err != nil {
				return err
			}
			defer s.close()
			r, err := s.c.RetryBatch(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "rgrid: batch %s: %d failed %s queued again\n", r.Batch.ID, r.Requeued, plural(r.Requeued, "item", "items"))
			if detach {
				fmt.Fprintln(e.stdout, r.Batch.ID)
				return nil
			}
			return w.watch(cmd.Context(), e, s, r.Batch.ID)
		},
	}
	cmd.Flags().BoolVar(&failed, "failed", false, "retry the failed items (required)")
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "queue them and return")
	w.add(cmd)
	addClientFlags(cmd)
	return cmd
}
