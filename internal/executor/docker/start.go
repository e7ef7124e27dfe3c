package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"

	"github.com/rgrid/rgrid/internal/executor"
	"github.com/rgrid/rgrid/internal/executor/docker/jobinit"
)

// Where a run's directories appear inside its container.
const (
	InputDir = "/rgrid/input" // read-only: the script, when there is no Spec.Stage
	WorkDir  = "/rgrid/work"  // writable: the working directory (Spec.Stage's files) and HOME
)

// defaultPath is used only when the image sets no PATH of its own.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// cleanupTimeout bounds engine calls made on behalf of a run after its
// caller's context may be gone (removal, the time limit's kill).
const cleanupTimeout = 30 * time.Second

// Start implements executor.Executor: it pulls the image if it is missing,
// installs the requirements into a cached image if there are any (see
// env.go), stages the script, creates the container, starts it and follows its
// output. On error nothing is left behind.
func (e *Executor) Start(ctx context.Context, spec executor.Spec) (executor.Handle, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := validate(spec); err != nil {
		return nil, err
	}
	times := spec.Times
	if times == nil {
		times = new(executor.StartTimes)
	}
	// With requirements the job runs from its environment's image.
	t0 := time.Now()
	image, imageID, imgEnv, release, err := e.runImage(ctx, spec)
	times.Image = time.Since(t0)
	if err != nil {
		return nil, err
	}
	defer release()
	spec.Image = image
	if e.pool != nil {
		if w := e.pool.take(poolKey{image: imageID, network: spec.Network}); w != nil {
			h, err := e.startWarm(ctx, spec, w, imgEnv, times)
			if err == nil {
				e.log.Debug("container started", "job", spec.JobID, "attempt", spec.Attempt, "container", h.id, "warm", true)
				return h, nil
			}
			if !errors.Is(err, errWarmUnusable) {
				return nil, err
			}
			e.log.Warn("a warm container could not take its job; starting it in a new one", "job", spec.JobID, "container", w.id, "err", err)
		}
	}
	t0 = time.Now()
	dir, unlock, err := e.stage(ctx, spec)
	times.Stage = time.Since(t0)
	if err != nil {
		return nil, err
	}
	t0 = time.Now()
	if e.initPath != "" {
		if _, err := makeCtl(dir, spec.Stdin != nil, false); err != nil {
			e.cleanRunDir(dir)
			unlock()
			return nil, fmt.Errorf("stage run directory: %w", err)
		}
	}
	cfg, hcfg := e.containerConfig(spec, dir, imgEnv)
	created, err := e.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config: cfg, HostConfig: hcfg, Name: containerName(spec),
	})
	if err != nil {
		e.cleanRunDir(dir)
		unlock()
		return nil, fmt.Errorf("create container for job %s: %w", spec.JobID, err)
	}
	// From here on the container's label keeps sweeps off the directory.
	unlock()
	id := created.ID
	for _, w := range created.Warnings {
		e.log.Warn("docker warning creating container", "job", spec.JobID, "container", id, "warning", w)
	}
	fail := func(what string, err error) (executor.Handle, error) {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		e.remove(cctx, id, dir)
		return nil, fmt.Errorf("%s container for job %s: %w", what, spec.JobID, err)
	}

	h := e.newHandle(id, dir, spec.Limits.Timeout, spec.Limits.MemoryBytes, collectFor(spec, dir))
	if e.initPath != "" {
		if err := e.startInit(ctx, h, spec, imgEnv); err != nil {
			return fail("start", err)
		}
	} else if err := e.startAttached(ctx, h, spec); err != nil {
		return fail("start", err)
	}
	times.Container, times.Running = h.began.Sub(t0), h.began
	e.log.Debug("container started", "job", spec.JobID, "attempt", spec.Attempt, "container", id)
	return h, nil
}

// startAttached starts a container with the engine's init, attached to
// its output (and stdin) before the start so that no byte is missed.
func (e *Executor) startAttached(ctx context.Context, h *handle, spec executor.Spec) error {
	stream, err := h.attach(ctx, spec.Stdin != nil)
	if err != nil {
		return fmt.Errorf("attach: %w", err)
	}
	h.stopWatch = h.watchOOM(time.Time{})
	if _, err := e.cli.ContainerStart(ctx, h.id, client.ContainerStartOptions{}); err != nil {
		h.stopWatch()
		_ = stream.Close()
		return err
	}
	// The time limit counts from here: a start the engine took seconds
	// over (a busy machine) is not the job's time.
	h.began = time.Now()
	if spec.Stdin != nil {
		stream.feed(spec.Stdin)
	}
	h.attached(ctx, stream, spec.Stdout, spec.Stderr)
	return nil
}

// startInit starts a container with our init, which waits for the spec,
// and hands it the job: from then on the job runs.
func (e *Executor) startInit(ctx context.Context, h *handle, spec executor.Spec, imgEnv []string) error {
	report, err := openExitReport(filepath.Join(h.dir, runCtl))
	if err != nil {
		return err
	}
	h.report = report // closed by run, once deliver has started it
	h.stopWatch = h.watchOOM(time.Time{})
	if _, err := e.cli.ContainerStart(ctx, h.id, client.ContainerStartOptions{}); err != nil {
		h.stopWatch()
		report.Close()
		return err
	}
	if err := e.deliver(ctx, h, spec, imgEnv, 0); err != nil {
		h.stopWatch()
		report.Close()
		return err
	}
	return nil
}

// deliver hands the job to the init of h's started container, and
// follows its output. With workDev (a warm container's: the device of the
// job's disk mounted since the container started), the init first checks
// that the working directory is on it, and refuses the job if not
// (errRefused): the mount did not reach the container.
func (e *Executor) deliver(ctx context.Context, h *handle, spec executor.Spec, imgEnv []string, workDev uint64) error {
	ctl := filepath.Join(h.dir, runCtl)
	js := jobinit.Spec{
		Argv:    append(slices.Clone(spec.Command[:1]), jobArgv(spec)...),
		Env:     jobEnv(imgEnv, buildEnv(spec.Env, imgEnv), h.id[:min(12, len(h.id))]),
		Dir:     WorkDir,
		Stdin:   spec.Stdin != nil,
		Limit:   e.opts.LogMaxSize,
		WorkDev: workDev,
	}
	feeding, err := handshake(ctx, ctl, js, spec.Stdin)
	if err != nil {
		return err
	}
	h.began = time.Now()
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	h.stop = cancel
	go h.run(lctx, newSpoolSource(ctl, e.opts.LogMaxSize, feeding, e.log, h.id), spec.Stdout, spec.Stderr, 0, 0)
	return nil
}

// jobArgv is the interpreter's arguments: its options, the script, the
// job's arguments.
func jobArgv(spec executor.Spec) []string {
	script := spec.FileName // relative to the working directory, where Stage put it
	if spec.Stage == nil {
		script = InputDir + "/" + spec.FileName
	}
	argv := append(slices.Clone(spec.Command[1:]), script)
	return append(argv, spec.Args...)
}

func (e *Executor) containerConfig(spec executor.Spec, dir string, imgEnv []string) (*container.Config, *container.HostConfig) {
	mounts := []mount.Mount{{Type: mount.TypeBind, Source: filepath.Join(dir, runWork), Target: WorkDir}}
	if spec.Stage == nil {
		mounts = append(mounts, mount.Mount{Type: mount.TypeBind, Source: filepath.Join(dir, runInput), Target: InputDir, ReadOnly: true})
	}
	worker := e.opts.WorkerID
	if worker == "" {
		worker = spec.WorkerID
	}
	network := container.NetworkMode("none")
	if spec.Network {
		network = "bridge"
	}
	init := true
	res, _ := limitResources(spec.Limits)
	res.Ulimits = []*container.Ulimit{
		{Name: "nofile", Soft: e.opts.NofileLimit, Hard: e.opts.NofileLimit},
		{Name: "core", Soft: 0, Hard: 0},
	}
	cfg := &container.Config{
		Image: spec.Image,
		// Our own entrypoint: the runtime's command runs exactly, whatever
		// ENTRYPOINT the image has.
		Entrypoint: spec.Command[:1],
		Cmd:        jobArgv(spec),
		WorkingDir: WorkDir,
		Env:        buildEnv(spec.Env, imgEnv),
		User:       e.opts.User,
		// A stdin only when there is one to feed: attached before the
		// start, closed (EOF) once fed.
		OpenStdin:   spec.Stdin != nil,
		StdinOnce:   spec.Stdin != nil,
		AttachStdin: spec.Stdin != nil,
		Labels: map[string]string{
			LabelManaged: "true",
			LabelJob:     spec.JobID,
			LabelAttempt: strconv.Itoa(spec.Attempt),
			LabelWorker:  worker,
			labelDir:     dir,
		},
	}
	hcfg := &container.HostConfig{
		Mounts: mounts,
		// exec stays allowed: pip and native extensions unpack and run code
		// from /tmp. suid and device files do not.
		Tmpfs:          map[string]string{"/tmp": fmt.Sprintf("rw,exec,nosuid,nodev,size=%d,mode=1777", e.opts.TmpfsSize)},
		ReadonlyRootfs: true,
		CapDrop:        []string{"ALL"},
		SecurityOpt:    []string{"no-new-privileges"},
		Init:           &init, // reaps orphans; its exit takes every process with it
		NetworkMode:    network,
		IpcMode:        "private",
		LogConfig:      e.logConfig(e.opts.LogMaxSize),
		Resources:      res,
	}
	if e.initPath != "" {
		// Our init instead: it gets the command, the environment and the
		// stdin from the control directory (startInit), and the output
		// goes there too.
		cfg.Entrypoint, cfg.Cmd, cfg.Env = []string{jobinit.BinPath}, nil, nil
		cfg.OpenStdin, cfg.StdinOnce, cfg.AttachStdin = false, false, false
		cfg.Labels[labelInit] = "1"
		hcfg.Init = nil
		hcfg.LogConfig = e.logConfig(initLogMaxSize)
		hcfg.Mounts = append(hcfg.Mounts,
			mount.Mount{Type: mount.TypeBind, Source: e.initPath, Target: jobinit.BinPath, ReadOnly: true},
			mount.Mount{Type: mount.TypeBind, Source: filepath.Join(dir, runCtl), Target: jobinit.CtlDir})
	}
	return cfg, hcfg
}

// logConfig makes the engine keep the output on its disk, which is where
// the worker reads it from (see follow), also after a restart of the
// worker; with our init, only the init's own complaints. The "local"
// driver stores lines as raw bytes; json-file would turn bytes that are
// not UTF-8 into U+FFFD. One file, of at most size bytes: see
// DefaultLogMaxSize.
func (e *Executor) logConfig(size int64) container.LogConfig {
	return container.LogConfig{Type: "local", Config: map[string]string{
		"max-size": strconv.FormatInt(size, 10),
		"max-file": "1",
		"compress": "false", // the engine refuses compression with one file
	}}
}

// buildEnv gives the job its own variables and ours, nothing of the
// worker's environment. The image's PATH is kept if it has one (images put
// their tools in odd places); the job's variables come last and win.
func buildEnv(jobEnv map[string]string, imgEnv []string) []string {
	env := map[string]string{
		"HOME":             WorkDir,
		"TMPDIR":           "/tmp",
		"PYTHONUNBUFFERED": "1", // output reaches the user as it is printed
		"LANG":             "C.UTF-8",
	}
	if !slices.ContainsFunc(imgEnv, func(kv string) bool { return strings.HasPrefix(kv, "PATH=") }) {
		env["PATH"] = defaultPath
	}
	maps.Copy(env, jobEnv)
	out := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}
	return out
}

func validate(spec executor.Spec) error {
	if err := spec.CheckFileName(); err != nil {
		return err
	}
	if len(spec.Command) == 0 || spec.Command[0] == "" {
		return errors.New("docker executor: empty interpreter command")
	}
	if spec.Image == "" {
		return errors.New("docker executor: no image")
	}
	for k, v := range spec.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.Contains(v, "\x00") {
			return fmt.Errorf("invalid environment variable %q", k)
		}
	}
	return nil
}

func numericUser(user string) (uid, gid int, ok bool) {
	u, g, found := strings.Cut(user, ":")
	uid, err1 := strconv.Atoi(u)
	gid, err2 := strconv.Atoi(g)
	if !found {
		gid, err2 = uid, err1
	}
	return uid, gid, err1 == nil && err2 == nil
}

var nameUnsafe = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

// containerName is for people reading `docker ps`; a random suffix keeps
// it unique when an attempt is started again after a failed start.
func containerName(spec executor.Spec) string {
	job := nameUnsafe.ReplaceAllString(spec.JobID, "-")
	if len(job) > 64 {
		job = job[:64]
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	return fmt.Sprintf("rgrid-%s-%d-%s", strings.Trim(job, "-._"), spec.Attempt, hex.EncodeToString(suffix))
}
