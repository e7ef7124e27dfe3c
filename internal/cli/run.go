package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/bytesize"
	"github.com/rgrid/rgrid/internal/config"
	"github.com/rgrid/rgrid/internal/jobhint"
	"github.com/rgrid/rgrid/internal/node"
	"github.com/rgrid/rgrid/internal/runtimes"
	"github.com/rgrid/rgrid/internal/workdir"
)

type runOptions struct {
	script       string
	args         []string
	runtime      string
	detach       bool
	env          []string
	secretEnv    []string // names, their values read from this process's environment
	limits       limitFlags
	network      bool
	retries      int
	requirements string
	noDeps       bool
	maxSize      int64
	logLimit     int64
	// deps install requirements in embedded mode; depsTyped is the first
	// of them given on the command line, refused for a run that goes to
	// another process's workers.
	deps      depsFlags
	depsTyped string
	liveness  livenessFlags // the embedded server's, hidden
	files     workdirFlags
	outputs   string // --outputs DIR; "" is the working directory
	noOutputs bool
	// cancelOnInterrupt: Ctrl-C cancels the job instead of detaching.
	cancelOnInterrupt bool
	batch             batchFlags
}

func newRunCmd(e *env) *cobra.Command {
	o := &runOptions{}
	names := strings.Join(runtimeNames(), ", ")
	cmd := &cobra.Command{
		Use:   "run SCRIPT [--batch GLOB | --array SPEC] [ARGS...]",
		Short: "Run a script on the grid and stream its output",
		Long: `Run a script on the grid. Its stdout and stderr appear here as it prints them,
and rgrid exits with the script's exit code.

The runtime is chosen from the file extension (.py → python3.11, .js → node20,
.sh → bash) unless --runtime names one of: ` + names + `.

Exit codes:
  0    the script succeeded
  N    the script failed with exit code N: rgrid exits with the script's own
  124  the script hit its time limit (--timeout)
  137  the script ran out of memory (--memory)
  130  the job was canceled, or rgrid interrupted (Ctrl-C detaches: the job
       goes on, "rgrid logs -f JOB" follows it again; --cancel-on-interrupt
       cancels it instead)
  2    usage error: a bad flag or value, a missing or unreadable file, or a
       request the server refused (unknown runtime, invalid requirements,
       limits over a worker's maximum)
  125  platform failure: the server cannot be reached or failed, or the job
       ended error or lost (image pull or dependency install failed, worker
       lost, executor unavailable)
A timeout, running out of memory and rgrid's own failures are explained on
stderr as "Error: …" with a "Hint: …" naming the fix.

Batches: --batch 'data/*.csv' runs the script once per matching file (the
file its first argument, and in RGRID_BATCH_INPUT), --array 0-99 once per
index (in RGRID_ARRAY_INDEX), --parallel N at most N at once. A progress line
shows while they run; each item's outputs go into its own folder under
--outputs (default rgrid-outputs/BATCH/), and the failed items are listed
at the end. Exit codes: 0 when every item succeeded, 1 when an item failed
(its script's exit, a timeout, out of memory), 125 when one ended error or
lost, 130 when the batch was canceled or rgrid interrupted (Ctrl-C detaches;
rgrid batch watch BATCH comes back).`,
		Example: `  rgrid run examples/hello.py
  rgrid run train.py --epochs 3
  rgrid run --timeout 10m --memory 1g train.py
  rgrid run --detach job.py      # print the job id and return
  rgrid run process.py --batch 'data/*.csv' --parallel 8
  rgrid run sweep.py --array 0-99 --retries 2`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.script = args[0]
			rest, err := o.batch.leading(cmd.Flags(), args[1:])
			if err != nil {
				return err
			}
			o.args = rest
			o.depsTyped = o.deps.typed(cmd.Flags())
			return o.run(cmd.Context(), e)
		},
	}
	// Everything after the script belongs to the script.
	cmd.Flags().SetInterspersed(false)
	f := cmd.Flags()
	f.StringVarP(&o.runtime, "runtime", "r", "", "runtime to use ("+names+"); default from the file extension")
	f.BoolVarP(&o.detach, "detach", "d", false, "submit, print the job id and return")
	f.StringArrayVarP(&o.env, "env", "e", nil, "environment variable for the script, KEY=VALUE (repeatable)")
	f.StringArrayVar(&o.secretEnv, "secret-env", nil, "environment variable for the script whose value is read from this shell's environment and stored encrypted, shown to no one (repeatable; NAME only)")
	f.BoolVar(&o.network, "network", false, "give the job network access (off by default)")
	f.IntVar(&o.retries, "retries", 0, "run the script again up to N times if it fails (non-zero exit, timeout, out of memory)")
	f.StringVar(&o.requirements, "requirements", "", "requirements file to install (default: requirements.txt beside the script, if any)")
	f.BoolVar(&o.noDeps, "no-deps", false, "install nothing: ignore requirements.txt and the script's inline metadata")
	sizeVar(f, &o.maxSize, "max-script-size", 10<<20, "refuse scripts larger than this before sending")
	sizeVar(f, &o.logLimit, "log-limit", 0, "store at most this much of the job's output, e.g. 64m (default: the server's, 10m); the job goes on past it")
	f.BoolVar(&o.cancelOnInterrupt, "cancel-on-interrupt", false, "Ctrl-C cancels the job (default: Ctrl-C detaches and the job goes on)")
	o.limits.add(f)
	o.deps.add(f)
	o.liveness.add(f, true)
	o.files.add(f)
	f.StringVar(&o.outputs, "outputs", "", "write the job's outputs into this directory (default: the working directory, as a local run would)")
	f.BoolVar(&o.noOutputs, "no-outputs", false, "leave the job's outputs on the server (rgrid outputs JOB fetches them later)")
	o.batch.add(f)
	addClientFlags(cmd)
	return cmd
}

func runtimeNames() []string {
	t, _ := runtimes.New(nil)
	return t.Names()
}

func (o *runOptions) submitRequest() (client.SubmitRequest, error) {
	fi, err := os.Stat(o.script)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return client.SubmitRequest{}, &Error{Message: "file not found: " + o.script, Code: exitUsage,
				Hint: "check the path; it is relative to the current directory (" + cwd() + ")"}
		}
		return client.SubmitRequest{}, userErr("check the file's permissions", "cannot read %s: %v", o.script, err)
	}
	if fi.IsDir() {
		return client.SubmitRequest{}, userErr("name the script file itself, e.g. "+filepath.Join(o.script, "main.py"),
			"%s is a directory, not a script", o.script)
	}
	if fi.Size() > o.maxSize {
		return client.SubmitRequest{}, userErr("send large data as input files rather than inside the script",
			"%s is %d bytes, over the script size limit of %d bytes", o.script, fi.Size(), o.maxSize)
	}
	script, err := os.ReadFile(o.script)
	if err != nil {
		return client.SubmitRequest{}, userErr("check the file's permissions", "cannot read %s: %v", o.script, err)
	}
	env := map[string]string{}
	for _, kv := range o.env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return client.SubmitRequest{}, userErr("write --env NAME=VALUE", "--env %q is not NAME=VALUE", kv)
		}
		env[k] = v
	}
	secretEnv, err := readSecretEnv(o.secretEnv, env)
	if err != nil {
		return client.SubmitRequest{}, err
	}
	limits, err := o.limits.limits()
	if err != nil {
		return client.SubmitRequest{}, err
	}
	req := client.SubmitRequest{SecretEnv: secretEnv,
		Script: script, FileName: filepath.Base(o.script), Args: o.args, Runtime: o.runtime,
		Env: env, Limits: limits, Network: o.network, Retries: o.retries, NoDeps: o.noDeps,
		LogLimit: o.logLimit,
	}
	if err := o.addRequirements(&req); err != nil {
		return client.SubmitRequest{}, err
	}
	return req, nil
}

// addRequirements sends --requirements FILE, or requirements.txt beside
// the script. The server validates it (and the script's inline metadata).
func (o *runOptions) addRequirements(req *client.SubmitRequest) error {
	if o.noDeps {
		if o.requirements != "" {
			return userErr("pass one of them", "--requirements and --no-deps exclude each other")
		}
		return nil
	}
	path := o.requirements
	if path == "" {
		path = filepath.Join(filepath.Dir(o.script), "requirements.txt")
		if _, err := os.Stat(path); err != nil {
			return nil // none beside the script
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return &Error{Message: "file not found: " + path, Code: exitUsage, Hint: "check the --requirements path"}
		}
		return userErr("check the file's permissions", "cannot read %s: %v", path, err)
	}
	if len(b) > 1<<20 {
		return userErr("list only package names and versions", "%s is over 1 MiB", path)
	}
	req.Requirements, req.RequirementsName = string(b), filepath.Base(path)
	return nil
}

func cwd() string {
	d, err := os.Getwd()
	if err != nil {
		return "unknown"
	}
	return d
}

// prepared is what a run sends: the request, the blobs it refers to
// and how to read each, and the working directory's plan (nil with
// --no-workdir).
type prepared struct {
	req   client.SubmitRequest
	files *sent
	refs  []client.BlobRef
	open  func(hash string) (io.ReadCloser, error)
	exec  execOptions
	done  func() // removes what preparing left behind
}

// prepare reads and checks everything a run sends; nil (and no error)
// after --dry-run has printed its plan.
func (o *runOptions) prepare(ctx context.Context, e *env) (*prepared, error) {
	req, err := o.submitRequest()
	if err != nil {
		return nil, err
	}
	exec, err := o.execOptions()
	if err != nil {
		return nil, err
	}
	if o.detach && e.server == "" {
		if dataDir, err := config.DataDir(); err == nil && node.DevURL(ctx, dataDir) == "" {
			return nil, userErr("start \"rgrid dev\" in another terminal (it keeps a local server running), or pass --server",
				"--detach needs a server that keeps running after rgrid exits")
		}
	}
	if err := o.checkDepsApply(ctx, e); err != nil {
		return nil, err
	}
	files, err := o.files.scan(ctx, o.script)
	if err != nil {
		return nil, err
	}
	if o.files.dryRun {
		if files == nil {
			fmt.Fprintf(e.stdout, "--no-workdir: only the script %s is sent\n", o.script)
			return nil, nil
		}
		workdir.WritePlan(e.stdout, files.plan)
		return nil, nil
	}
	p := &prepared{req: req, files: files, exec: exec, done: func() {},
		open: func(string) (io.ReadCloser, error) { return nil, errors.New("no such blob") }}
	if files != nil {
		p.req.FileName, p.req.Inputs = files.script, toClientManifest(files.plan.Manifest)
		p.refs, p.open = inputRefs(files.plan)
	}
	stdin, stdinPath, err := stdinBlob(e.stdin, e.stderr)
	if err != nil {
		return nil, err
	}
	if stdin != nil {
		p.done = func() { os.Remove(stdinPath) }
		p.req.Stdin = stdin
		p.refs = append(p.refs, *stdin)
		inputs := p.open
		p.open = func(hash string) (io.ReadCloser, error) {
			if hash == stdin.SHA256 {
				return os.Open(stdinPath)
			}
			return inputs(hash)
		}
	}
	return p, nil
}

func (o *runOptions) run(ctx context.Context, e *env) error {
	if err := o.checkBatchFlags(); err != nil {
		return err
	}
	gcDone := lessGC()
	defer gcDone()
	p, err := o.prepare(ctx, e)
	if p == nil || err != nil {
		return err
	}
	defer p.done()
	if o.isBatch() {
		return o.runBatch(ctx, e, p)
	}
	req, files, refs, open := p.req, p.files, p.refs, p.open
	s, err := e.connect(ctx, !o.detach, p.exec)
	if err != nil {
		return err
	}
	defer s.close()
	up := uploader{c: s.c, stderr: e.stderr}
	// One key per invocation: a submission retried after a cut connection
	// finds the job the first one made.
	req.IdempotencyKey = newIdempotencyKey()
	var inputsHash string
	if files != nil {
		if inputsHash, err = files.plan.Manifest.SHA256(); err != nil {
			return err
		}
	}
	job, known, err := submitKnown(ctx, s.c, up, req, inputsHash, open)
	if err != nil {
		return err
	}
	if !known {
		if job, err = submitWithBlobs(ctx, s.c, up, req, refs, open); err != nil {
			return err
		}
	}
	gcDone()
	if o.detach {
		fmt.Fprintln(e.stdout, job.ID)
		return nil
	}
	var onEnd func(context.Context, client.Job)
	if !o.noOutputs {
		dest, sentManifest := o.outputs, req.Inputs
		if dest == "" {
			dest = "."
			if files != nil {
				dest = files.plan.Root
			}
		}
		onEnd = func(ctx context.Context, j client.Job) {
			d, err := fetchOutputs(ctx, s.c, j.ID, dest, sentManifest, nil)
			if line := d.summary(j.ID); line != "" {
				fmt.Fprintln(e.stderr, line)
			}
			if err != nil {
				printError(e.stderr, &Error{Message: "the job's outputs could not all be written: " + err.Error(),
					Hint: fmt.Sprintf("fetch them again with: rgrid outputs %s -o DIR", j.ID)})
			}
		}
	}
	return followToExit(ctx, s, job.ID, o.cancelOnInterrupt, e.stdout, e.stderr, onEnd)
}

// lessGC lets the heap grow to five times what is live, not twice,
// until the returned func is called (more than once is fine), unless
// GOGC is set: the scan of a project and its submission allocate a few
// megabytes in a burst, which the default collected six times in 40 ms of
// an unchanged 4,353-file project's re-run (≈ 6 ms of its wall time).
func lessGC() func() {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	old := debug.SetGCPercent(400)
	return func() { debug.SetGCPercent(old) }
}

// submitKnown submits req naming its inputs by their hash alone
// (workdir.Manifest.SHA256), with the stdin's blob sent first: the re-run
// of an unchanged project sends no manifest and asks about no blob. known
// is false, and nothing is made, when the server has no such manifest of
// the caller's (or is of a version that does not know the field): then
// the inputs go in full, without the hash.
func submitKnown(ctx context.Context, c *client.Client, up uploader, req client.SubmitRequest, inputsHash string,
	open func(hash string) (io.ReadCloser, error)) (client.Job, bool, error) {
	if req.Inputs == nil || inputsHash == "" {
		return client.Job{}, false, nil
	}
	if req.Stdin != nil {
		if _, err := up.send(ctx, []client.BlobRef{*req.Stdin}, open); err != nil {
			return client.Job{}, false, err
		}
	}
	req.Inputs, req.InputsSHA256 = nil, inputsHash
	job, err := c.Submit(ctx, req)
	if client.IsCode(err, client.CodeManifestUnknown) || client.IsCode(err, client.CodeInvalidJSON) {
		return client.Job{}, false, nil
	}
	return job, err == nil, err
}

// submitWithBlobs sends, of refs, the blobs the server lacks, then req.
func submitWithBlobs(ctx context.Context, c *client.Client, up uploader, req client.SubmitRequest,
	refs []client.BlobRef, open func(hash string) (io.ReadCloser, error)) (client.Job, error) {
	if _, err := up.send(ctx, refs, open); err != nil {
		return client.Job{}, err
	}
	job, err := c.Submit(ctx, req)
	if client.IsCode(err, client.CodeBlobMissing) {
		// A blob the server had a moment ago was swept meanwhile (it was
		// old and unused): send it again, once.
		if _, err := up.send(ctx, refs, open); err != nil {
			return client.Job{}, err
		}
		job, err = c.Submit(ctx, req)
	}
	return job, err
}

// execOptions configure the worker of an embedded run.
func (o *runOptions) execOptions() (execOptions, error) {
	opts, err := o.deps.options()
	if err != nil {
		return execOptions{}, err
	}
	live, err := o.liveness.options()
	if err != nil {
		return execOptions{}, err
	}
	return execOptions{defaults: defaultLimits(), docker: opts, server: live}, nil
}

// checkDepsApply refuses a dependency flag typed for a run that goes to
// a server or to "rgrid dev": their workers install with their own
// settings, and the flag would silently change nothing. (Set by the
// environment or the config file, the flags are meant for this machine's
// worker and are left alone.)
func (o *runOptions) checkDepsApply(ctx context.Context, e *env) error {
	if o.depsTyped == "" {
		return nil
	}
	env := config.EnvName(o.depsTyped)
	if e.server != "" {
		return notHere(o.depsTyped, "the server at "+e.server,
			fmt.Sprintf("set it on the workers (rgrid worker --%s, or %s where they run), or drop it", o.depsTyped, env))
	}
	if dataDir, err := config.DataDir(); err == nil {
		if url := node.DevURL(ctx, dataDir); url != "" {
			return notHere(o.depsTyped, `"rgrid dev" at `+url,
				fmt.Sprintf("restart rgrid dev with --%s (or %s), or drop it", o.depsTyped, env))
		}
	}
	return nil
}

// followToExit streams a job's output until it ends and turns its outcome
// into rgrid's exit code. Interrupting rgrid (Ctrl-C) detaches: the job
// goes on and rgrid says how to follow or cancel it. With cancelOnInterrupt,
// or when the grid lives inside this process and would end with it, the
// interrupt cancels the job instead, as Ctrl-C stops a script run locally.
func followToExit(ctx context.Context, s *session, id string, cancelOnInterrupt bool, stdout, stderr io.Writer, onEnd func(context.Context, client.Job)) error {
	c := s.c
	out, flushOut := terminalOutput(stdout)
	errw, flushErr := terminalOutput(stderr)
	err := follow(ctx, c, id, nil, out, errw)
	flushOut()
	flushErr()
	if ctx.Err() != nil {
		if !cancelOnInterrupt && s.local == nil {
			fmt.Fprintf(stderr, "\nrgrid: detached; job %s keeps running.\n", id)
			fmt.Fprintf(stderr, "  follow it again: rgrid logs -f %s\n  cancel it:       rgrid cancel %s\n", id, id)
			return exitCode(exitCanceled)
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, cerr := c.Cancel(cctx, id); cerr == nil {
			fmt.Fprintf(stderr, "\nrgrid: canceled job %s\n", id)
			// Wait briefly for the canceled state, so the job does not
			// outlive this command in embedded mode.
			_ = follow(cctx, c, id, nil, io.Discard, io.Discard)
		}
		return exitCode(exitCanceled)
	}
	if err != nil {
		return err
	}
	job, err := c.Job(ctx, id)
	if err != nil {
		return err
	}
	if onEnd != nil {
		onEnd(ctx, job)
	}
	if job.State == client.StateFailed && job.Failure != nil {
		printError(stderr, &Error{Message: job.FileName + " failed: " + job.Failure.Summary(), Hint: jobhint.For(job)})
	}
	if job.LogsTruncated {
		fmt.Fprintf(stderr, "rgrid: only the first %s of the output was kept (the job's log limit); raise it with --log-limit\n",
			bytesize.Format(job.LogLimit))
	}
	return outcome(job, stderr)
}

// follow copies the job's log to the writers until the job has ended and
// every chunk has been read: stdout to stdout, stderr and RGrid's own
// lines to stderr. A dropped connection is resumed from the last chunk, so
// a server restart or a network cut loses and repeats nothing.
//
// Stdout that is not a terminal (a file, a pipe) is written in blocks of
// followBuffer bytes rather than once per chunk, which makes a large log
// several times faster to save. The block is written out whenever the
// stream has nothing more at hand, so following a slow job is as live as
// unbuffered, and before anything goes to stderr, so the two streams keep
// their order as far as the job's own writes did.
func follow(ctx context.Context, c *client.Client, id string, streams []client.Stream, stdout, stderr io.Writer) error {
	out := stdout
	var buf *bufio.Writer
	if _, term := stdout.(*termSafe); !term && !isTerminal(stdout) && stdout != io.Discard {
		buf = bufio.NewWriterSize(stdout, followBuffer)
		out = buf
	}
	flush := func() error {
		if buf == nil {
			return nil
		}
		return buf.Flush()
	}
	_, err := c.Follow(ctx, id, client.FollowOptions{Streams: streams, OnIdle: flush}, func(ch client.LogChunk) error {
		if ch.Stream == client.Stdout {
			_, err := out.Write(ch.Data)
			return err
		}
		if err := flush(); err != nil {
			return err
		}
		_, err := stderr.Write(ch.Data)
		return err
	})
	if ferr := flush(); err == nil {
		err = ferr
	}
	return err
}

// followBuffer is the block follow writes to a stdout that is not a
// terminal.
const followBuffer = 64 << 10

// outcome maps a finished job to rgrid's exit code, explaining anything
// that is not the script's own exit.
func outcome(j client.Job, stderr io.Writer) error {
	switch j.State {
	case client.StateSucceeded:
		return nil
	case client.StateFailed:
		if j.Reason == "disk_full" {
			printError(stderr, &Error{Message: fmt.Sprintf("job %s filled its working directory (its disk limit, %s): %s",
				j.ID, bytesize.Format(j.Limits.DiskBytes), j.Message), Hint: jobhint.For(j)})
		}
		if j.ExitCode != nil {
			return exitCode(*j.ExitCode)
		}
		// Failed without an exit code: the script was stopped by something
		// other than its own exit, which only the platform can explain.
		printError(stderr, &Error{Message: fmt.Sprintf("job %s failed without an exit code: %s", j.ID, j.Message), Hint: jobhint.For(j)})
		return exitCode(exitPlatform)
	case client.StateTimedOut:
		printError(stderr, &Error{Message: "job " + j.ID + " timed out: " + j.Message, Hint: jobhint.For(j)})
		return exitCode(exitTimedOut)
	case client.StateOOMKilled:
		printError(stderr, &Error{Message: "job " + j.ID + " ran out of memory: " + j.Message, Hint: jobhint.For(j)})
		return exitCode(exitOOM)
	case client.StateCanceled:
		fmt.Fprintf(stderr, "rgrid: job %s was canceled\n", j.ID)
		return exitCode(exitCanceled)
	}
	// error and lost: the platform failed the job, not the script.
	printError(stderr, &Error{Message: fmt.Sprintf("job %s ended %s: %s", j.ID, j.State, j.Message), Hint: jobhint.For(j)})
	return exitCode(exitPlatform)
}

// defaultLimits are the limits an embedded worker applies to jobs that set
// none; standalone workers take theirs from flags.
func defaultLimits() node.Limits {
	return node.Limits{MemoryBytes: 512 << 20, CPUs: 1, Pids: 256, Timeout: 300 * time.Second, DiskBytes: 2 << 30}
}
