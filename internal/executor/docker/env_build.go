package docker

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"

	"github.com/rgrid/rgrid/internal/executor"
)

// Bounds of a build container: pip resolving and unpacking large wheels
// needs more than a job's defaults.
const (
	buildMemory = 2 << 30
	buildPids   = 1024
	reqDir      = "/rgrid/req" // read-only: requirements.txt and pip.conf
)

var pythonName = regexp.MustCompile(`^python[0-9.]*$`)

// installEnv runs pip in a build container from spec.Image and commits the
// result as tag. The build container runs as root: it writes the venv
// under /opt, which the job's user may only read (the job's root is
// read-only anyway). It keeps the rest of the hardening (no capabilities,
// no new privileges, limits) and has no mounts but the requirements,
// read-only. Its network is Options.DepsNetwork, never the job's.
func (e *Executor) installEnv(ctx context.Context, spec executor.Spec, key, tag string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, e.opts.BuildTimeout)
	defer cancel()
	if _, _, err := e.imageEnv(ctx, spec.Image, spec.System); err != nil {
		return nil, err
	}
	base, err := e.cli.ImageInspect(ctx, spec.Image)
	if err != nil {
		return nil, fmt.Errorf("inspect image %s: %w", spec.Image, err)
	}
	var baseCfg container.Config
	if c := base.Config; c != nil {
		baseCfg = container.Config{Env: c.Env, Cmd: c.Cmd, Entrypoint: c.Entrypoint, User: c.User}
	}
	dir, err := e.stageRequirements(spec.Requirements)
	if err != nil {
		return nil, err
	}
	defer e.removeRunDir(dir)

	python := "python3"
	if pythonName.MatchString(path.Base(spec.Command[0])) {
		python = spec.Command[0]
	}
	// pip reads the index settings from a file of the staged directory, not
	// from the environment: the container's environment is committed into
	// the image, and a private index's credentials must not reach jobs.
	script := fmt.Sprintf("%s -m venv %s && PIP_CONFIG_FILE=%s/pip.conf %s/bin/pip install "+
		"--no-cache-dir --disable-pip-version-check --no-input -r %s/requirements.txt",
		shellQuote(python), venvDir, reqDir, venvDir, reqDir)
	init, mem, pids := true, int64(buildMemory), int64(buildPids)
	created, err := e.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: "rgrid-env-" + key[:12] + "-" + containerName(spec)[len("rgrid-"):],
		Config: &container.Config{
			Image:      spec.Image,
			Entrypoint: []string{}, // clears the image's: the script runs exactly
			Cmd:        []string{"/bin/sh", "-c", script},
			User:       "0:0",
			Labels:     map[string]string{labelEnvBuild: e.workerID(spec)},
		},
		HostConfig: &container.HostConfig{
			Mounts:      []mount.Mount{{Type: mount.TypeBind, Source: dir, Target: reqDir, ReadOnly: true}},
			CapDrop:     []string{"ALL"},
			SecurityOpt: []string{"no-new-privileges"},
			Init:        &init,
			NetworkMode: container.NetworkMode(e.opts.DepsNetwork),
			LogConfig:   e.logConfig(e.opts.LogMaxSize),
			Resources: container.Resources{
				Memory: mem, MemorySwap: mem, PidsLimit: &pids,
				Ulimits: []*container.Ulimit{{Name: "nofile", Soft: e.opts.NofileLimit, Hard: e.opts.NofileLimit}},
			},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("create build container for %s: %w", tag, err)
	}
	id := created.ID
	e.setActive(id, true)
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		e.remove(cctx, id, "")
		e.setActive(id, false)
	}()

	plog := &pipLog{sys: spec.System}
	code, err := e.runBuild(ctx, id, plog)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return nil, &executor.DependencyError{Output: cmp.Or(plog.output(), "(no output)"), Hint: fmt.Sprintf(
			"installing took longer than %s s, the worker's build timeout: raise it (RGRID_DEPS_BUILD_TIMEOUT) or trim the requirements",
			seconds(e.opts.BuildTimeout))}
	case err != nil:
		return nil, fmt.Errorf("build environment %s: %w", tag, err)
	case code != 0:
		return nil, &executor.DependencyError{Output: plog.output(), Hint: plog.hint(e.indexName())}
	}

	labels := map[string]string{LabelEnvKey: key, LabelEnvBase: spec.Image, labelEnvBuild: ""}
	if e.envs.scope != "" {
		labels[labelEnvScope] = e.envs.scope
	}
	if _, err := e.cli.ContainerCommit(ctx, id, client.ContainerCommitOptions{
		Reference: tag,
		Comment:   "rgrid environment of " + spec.Image,
		Config:    &container.Config{Labels: labels},
		Changes:   commitChanges(baseCfg, python),
	}); err != nil {
		return nil, fmt.Errorf("commit environment %s: %w", tag, err)
	}
	env, ok, err := e.cachedEnv(ctx, tag, key)
	if err == nil && !ok {
		err = errors.New("image missing after its commit")
	}
	if err != nil {
		return nil, fmt.Errorf("build environment %s: %w", tag, err)
	}
	return env, nil
}

// runBuild starts the build container, passes its output to plog as it
// comes and returns its exit code.
func (e *Executor) runBuild(ctx context.Context, id string, plog *pipLog) (int, error) {
	if _, err := e.cli.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		return 0, fmt.Errorf("start build container: %w", err)
	}
	out, errw := &streamWriter{w: plog}, &streamWriter{w: plog}
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	logs, err := e.cli.ContainerLogs(lctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Follow: true})
	if err != nil {
		return 0, fmt.Errorf("follow build output: %w", err)
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = stdcopy.StdCopy(out, errw, logs)
	}()
	w := e.cli.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	var code int
	select {
	case r := <-w.Result:
		code = int(r.StatusCode)
	case err = <-w.Error:
	}
	if err == nil {
		grace := time.NewTimer(outputGrace)
		select {
		case <-copied:
		case <-grace.C:
		}
		grace.Stop()
	}
	logs.Close()
	<-copied
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		plog.flush()
		return 0, err
	}
	// As for jobs (catchUp): the follow stream may miss the last lines.
	out.rewind()
	errw.rewind()
	if rest, err := e.cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true}); err == nil {
		_, _ = stdcopy.StdCopy(out, errw, rest)
		rest.Close()
	}
	plog.flush()
	return code, nil
}

// stageRequirements writes requirements.txt and pip.conf into a new
// directory, readable by the build container's root without capabilities.
func (e *Executor) stageRequirements(reqs []string) (dir string, err error) {
	dir, err = os.MkdirTemp(e.opts.WorkDir, "env-*")
	if err != nil {
		return "", fmt.Errorf("stage requirements: %w", err)
	}
	conf := "[global]\n"
	for _, kv := range [][2]string{
		{"index-url", e.opts.PipIndexURL},
		{"extra-index-url", e.opts.PipExtraIndexURL},
		{"trusted-host", e.opts.PipTrustedHost},
	} {
		if kv[1] != "" {
			conf += kv[0] + " = " + kv[1] + "\n"
		}
	}
	files := map[string]string{"requirements.txt": strings.Join(reqs, "\n") + "\n", "pip.conf": conf}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err = os.WriteFile(p, []byte(content), 0o644); err == nil {
			err = os.Chmod(p, 0o644)
		}
		if err != nil {
			break
		}
	}
	if err == nil {
		err = os.Chmod(dir, 0o755)
	}
	if err != nil {
		e.removeRunDir(dir)
		return "", fmt.Errorf("stage requirements: %w", err)
	}
	return dir, nil
}

// commitChanges makes the committed image run like its base, with the
// venv first on PATH. The build container's command, user and empty
// entrypoint would otherwise carry over into the image.
func commitChanges(base container.Config, python string) []string {
	basePath := defaultPath
	for _, kv := range base.Env {
		if p, ok := strings.CutPrefix(kv, "PATH="); ok {
			basePath = p
		}
	}
	cmd := base.Cmd
	if len(cmd) == 0 {
		cmd = []string{python}
	}
	changes := []string{
		"ENV PATH=" + dockerfileQuote(venvDir+"/bin:"+basePath),
		"ENV VIRTUAL_ENV=" + venvDir,
		"USER " + cmp.Or(base.User, "0"),
		"CMD " + jsonArray(cmd),
	}
	if len(base.Entrypoint) > 0 {
		changes = append(changes, "ENTRYPOINT "+jsonArray(base.Entrypoint))
	}
	return changes
}

func jsonArray(s []string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// dockerfileQuote quotes s for a Dockerfile ENV line, where $ would expand.
func dockerfileQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `\$`).Replace(s) + `"`
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func (e *Executor) workerID(spec executor.Spec) string {
	return cmp.Or(e.opts.WorkerID, spec.WorkerID)
}

func (e *Executor) setActive(id string, on bool) {
	e.envs.mu.Lock()
	defer e.envs.mu.Unlock()
	if e.envs.active == nil {
		e.envs.active = map[string]bool{}
	}
	if on {
		e.envs.active[id] = true
	} else {
		delete(e.envs.active, id)
	}
}

// removeStaleBuilds removes this worker's build containers that no build
// of this process runs: left behind by a crash.
func (e *Executor) removeStaleBuilds(ctx context.Context) error {
	f := make(client.Filters).Add("label", labelEnvBuild+"="+e.opts.WorkerID)
	list, err := e.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return fmt.Errorf("list build containers: %w", err)
	}
	var errs []error
	for _, c := range list.Items {
		e.envs.mu.Lock()
		active := e.envs.active[c.ID]
		e.envs.mu.Unlock()
		if active {
			continue
		}
		_, err := e.cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove build container %.12s: %w", c.ID, err))
		}
	}
	return errors.Join(errs...)
}
