package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/bytesize"
	"github.com/rgrid/rgrid/internal/jobhint"
	"github.com/rgrid/rgrid/internal/money"
)

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newStatusCmd(e *env) *cobra.Command {
	var asJSON, verbose bool
	cmd := &cobra.Command{
		Use:   "status JOB",
		Short: "Show a job's state, result and attempts",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withSession(cmd.Context(), func(s *session) error {
				j, err := s.c.Job(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(e.stdout, j)
				}
				printStatus(e.stdout, j)
				if verbose {
					printStartTimes(e.stdout, j)
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the job as JSON")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "also show where each attempt's start went (lease, image, stage, container, first byte)")
	addClientFlags(cmd)
	return cmd
}

func printStatus(w io.Writer, j client.Job) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	state := string(j.State)
	if j.ExitCode != nil && j.State.Terminal() {
		state += fmt.Sprintf(" (exit code %d)", *j.ExitCode)
	}
	fmt.Fprintf(tw, "Job:\t%s\n", j.ID)
	fmt.Fprintf(tw, "State:\t%s\n", state)
	if j.Reason != "" {
		fmt.Fprintf(tw, "Reason:\t%s\n", j.Reason)
	}
	if j.Message != "" {
		fmt.Fprintf(tw, "Message:\t%s\n", j.Message)
	}
	if j.Failure != nil {
		fmt.Fprintf(tw, "Error:\t%s\n", j.Failure.Summary())
	}
	if j.LogsTruncated {
		fmt.Fprintf(tw, "Output:\ttruncated: only the first %s was kept (the job's log limit; rgrid run --log-limit raises it)\n",
			bytesize.Format(j.LogLimit))
	}
	if h := jobhint.For(j); h != "" {
		fmt.Fprintf(tw, "Hint:\t%s\n", h)
	}
	if j.CancelRequested && !j.State.Terminal() {
		fmt.Fprintf(tw, "Cancel:\trequested\n")
	}
	fmt.Fprintf(tw, "Script:\t%s (%d bytes)\n", j.FileName, j.ScriptSize)
	if len(j.Args) > 0 {
		fmt.Fprintf(tw, "Args:\t%s\n", strings.Join(j.Args, " "))
	}
	fmt.Fprintf(tw, "Runtime:\t%s\n", j.Runtime)
	if len(j.SecretEnv) > 0 {
		fmt.Fprintf(tw, "Secrets:\t%s\n", maskedSecrets(j.SecretEnv))
	}
	fmt.Fprintf(tw, "Limits:\t%s\n", describeLimits(j.Limits))
	fmt.Fprintf(tw, "Created:\t%s\n", j.CreatedAt.Local().Format(time.DateTime))
	if j.StartedAt != nil {
		fmt.Fprintf(tw, "Started:\t%s\n", j.StartedAt.Local().Format(time.DateTime))
	}
	if j.FinishedAt != nil {
		took := ""
		if j.StartedAt != nil {
			took = fmt.Sprintf(" (ran %s)", j.FinishedAt.Sub(*j.StartedAt).Round(time.Millisecond))
		}
		fmt.Fprintf(tw, "Finished:\t%s%s\n", j.FinishedAt.Local().Format(time.DateTime), took)
	}
	if c := j.Cost; c != nil {
		sofar := ""
		if !j.State.Terminal() {
			sofar = " so far"
		}
		fmt.Fprintf(tw, "Cost:\t%s %s%s\n", money.Format(c.Micros), c.Currency, sofar)
	}
	tw.Flush()
	if len(j.Attempts) == 0 {
		return
	}
	fmt.Fprintln(w, "Attempts:")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  #\tWORKER\tSTATE\tLEASED\tRAN\tDETAIL")
	for _, a := range j.Attempts {
		ran := "-"
		if a.StartedAt != nil && a.FinishedAt != nil {
			ran = a.FinishedAt.Sub(*a.StartedAt).Round(time.Millisecond).String()
		}
		detail := a.Message
		if detail == "" && a.ExitCode != nil {
			detail = fmt.Sprintf("exit code %d", *a.ExitCode)
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\n", a.Number, a.WorkerID, a.State,
			a.LeasedAt.Local().Format(time.TimeOnly), ran, detail)
	}
	tw.Flush()
}

// printStartTimes shows, per attempt, how long each phase of its start
// took, in milliseconds ("-": not reached, or not measured).
func printStartTimes(w io.Writer, j client.Job) {
	if len(j.Attempts) == 0 {
		return
	}
	fmt.Fprintln(w, "Start (ms):")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "#\tLEASE\tIMAGE\tSTAGE\tCONTAINER\tFIRST BYTE\tTOTAL\t")
	for _, a := range j.Attempts {
		var st client.StartTimes
		if a.Start != nil {
			st = *a.Start
		}
		phases := []time.Duration{st.Lease, st.Image, st.Stage, st.Container, st.FirstByte}
		var total time.Duration
		fmt.Fprintf(tw, "%d\t", a.Number)
		for _, d := range phases {
			total += d
			fmt.Fprintf(tw, "%s\t", phaseMillis(d))
		}
		fmt.Fprintf(tw, "%s\t\n", phaseMillis(total))
	}
	tw.Flush()
}

func phaseMillis(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond))
}

func describeLimits(l client.Limits) string {
	var parts []string
	if l.MemoryBytes > 0 {
		parts = append(parts, "memory "+formatBytes(l.MemoryBytes))
	}
	if l.CPUs > 0 {
		parts = append(parts, fmt.Sprintf("%g CPU", l.CPUs))
	}
	if l.Pids > 0 {
		parts = append(parts, fmt.Sprintf("%d processes", l.Pids))
	}
	if l.TimeoutSeconds > 0 {
		parts = append(parts, fmt.Sprintf("timeout %d s", l.TimeoutSeconds))
	}
	if len(parts) == 0 {
		return "the worker's defaults"
	}
	return strings.Join(parts, ", ") + " (others: the worker's defaults)"
}

func formatBytes(n int64) string {
	switch {
	case n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

func newLogsCmd(e *env) *cobra.Command {
	var stdoutOnly, stderrOnly, followFlag bool
	cmd := &cobra.Command{
		Use:   "logs JOB",
		Short: "Print a job's output (stdout to stdout, stderr to stderr)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if stdoutOnly && stderrOnly {
				return userErr("pass at most one of them", "--stdout-only and --stderr-only exclude each other")
			}
			var streams []client.Stream
			switch {
			case stdoutOnly:
				streams = []client.Stream{client.Stdout}
			case stderrOnly:
				streams = []client.Stream{client.Stderr}
			}
			return e.withSession(cmd.Context(), func(s *session) error {
				out, flushOut := terminalOutput(e.stdout)
				errw, flushErr := terminalOutput(e.stderr)
				defer flushErr()
				defer flushOut()
				if followFlag {
					return follow(cmd.Context(), s.c, args[0], streams, out, errw)
				}
				return printLogs(cmd.Context(), s.c, args[0], streams, out, errw)
			})
		},
	}
	cmd.Flags().BoolVar(&stdoutOnly, "stdout-only", false, "print only the job's stdout")
	cmd.Flags().BoolVar(&stderrOnly, "stderr-only", false, "print only the job's stderr")
	cmd.Flags().BoolVarP(&followFlag, "follow", "f", false, "keep printing until the job ends")
	addClientFlags(cmd)
	return cmd
}

// printLogs prints what is stored now, page by page, without waiting.
func printLogs(ctx context.Context, c *client.Client, id string, streams []client.Stream, stdout, stderr io.Writer) error {
	var after int64
	for {
		page, err := c.Logs(ctx, id, client.LogOptions{After: after, Streams: streams})
		if err != nil {
			return err
		}
		for _, ch := range page.Chunks {
			w := stdout
			if ch.Stream != client.Stdout {
				w = stderr
			}
			if _, err := w.Write(ch.Data); err != nil {
				return err
			}
		}
		if len(page.Chunks) == 0 {
			return nil
		}
		after = page.Next
	}
}

func newListCmd(e *env) *cobra.Command {
	var states []string
	var limit int
	var cursor string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List jobs, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var st []client.JobState
			for _, s := range states {
				st = append(st, client.JobState(s))
			}
			return e.withSession(cmd.Context(), func(s *session) error {
				l, err := s.c.Jobs(cmd.Context(), client.ListOptions{States: st, Limit: limit, Cursor: cursor})
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(e.stdout, l)
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tSTATE\tEXIT\tSCRIPT\tRUNTIME\tCREATED")
				for _, j := range l.Jobs {
					exit := "-"
					if j.ExitCode != nil {
						exit = fmt.Sprint(*j.ExitCode)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", j.ID, j.State, exit, j.FileName, j.Runtime,
						j.CreatedAt.Local().Format(time.DateTime))
				}
				tw.Flush()
				if l.Next != "" {
					fmt.Fprintf(e.stderr, "more: rgrid list --cursor %s\n", l.Next)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringSliceVar(&states, "state", nil, "only jobs in these states (e.g. --state running,queued)")
	cmd.Flags().IntVar(&limit, "limit", 20, "how many jobs to show")
	cmd.Flags().StringVar(&cursor, "cursor", "", "continue a listing from where the last page ended")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	addClientFlags(cmd)
	return cmd
}

func newCancelCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cancel JOB",
		Short: "Cancel a job: a queued one never starts, a running one is stopped",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withSession(cmd.Context(), func(s *session) error {
				j, err := s.c.Cancel(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if j.State.Terminal() {
					fmt.Fprintf(e.stdout, "%s canceled\n", j.ID)
				} else {
					fmt.Fprintf(e.stdout, "%s: cancel requested; its worker is stopping it\n", j.ID)
				}
				return nil
			})
		},
	}
	addClientFlags(cmd)
	return cmd
}
