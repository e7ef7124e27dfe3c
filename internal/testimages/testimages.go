// Package testimages hands tests the Docker images that scripts/images.sh
// builds locally (no registry is reachable on our machines), after checking
// that the engine answers and the image is there. When either is missing a
// test is skipped, except under CI=true, where it fails: CI must never pass
// by skipping the container tests.
package testimages

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// Image names, as scripts/images.sh tags them.
const (
	HelperImage = "rgrid-test/helper:latest" // FROM scratch, /helper (see helper/)
	PythonImage = "rgrid-test/python:3.11"   // Debian bookworm, python3.11, pip, venv
	WorkerImage = "rgrid-worker:dev"         // PythonImage with rgrid at /usr/local/bin/rgrid
)

const fix = "; run scripts/images.sh (as root) to build the test images"

// Docker checks that a Docker engine answers.
func Docker(t testing.TB) {
	t.Helper()
	if err := engine(); err != nil {
		unavailable(t, "Docker engine not reachable: "+err.Error()+
			"; start the Docker daemon (then run scripts/images.sh to build the test images)")
	}
}

// Helper returns the helper image's name. Its programs are described in
// helper/main.go; run them as Command {"/helper"} with the subcommand as
// the script's text.
func Helper(t testing.TB) string {
	t.Helper()
	return image(t, HelperImage)
}

// Python returns the Python image's name; its interpreter is python3.11.
func Python(t testing.TB) string {
	t.Helper()
	return image(t, PythonImage)
}

// Worker returns the worker image's name: the python image with a
// static rgrid in it, for the autoscaler's docker pools.
func Worker(t testing.TB) string {
	t.Helper()
	return image(t, WorkerImage)
}

func image(t testing.TB, name string) string {
	t.Helper()
	Docker(t)
	present, err := imagePresent(name)
	if err != nil {
		unavailable(t, "inspect image "+name+": "+err.Error()+fix)
	}
	if !present {
		unavailable(t, "test image "+name+" is missing"+fix)
	}
	return name
}

func unavailable(t testing.TB, msg string) {
	t.Helper()
	if ci() {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// The engine and the images do not change during a test run: check once.
var (
	engine = sync.OnceValue(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		cli, err := client.New(client.FromEnv)
		if err != nil {
			return err
		}
		defer cli.Close()
		_, err = cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
		return err
	})
	imagesMu sync.Mutex
	images   = map[string]bool{}
)

func imagePresent(name string) (bool, error) {
	imagesMu.Lock()
	defer imagesMu.Unlock()
	if present, ok := images[name]; ok {
		return present, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return false, err
	}
	defer cli.Close()
	_, err = cli.ImageInspect(ctx, name)
	switch {
	case err == nil:
		images[name] = true
	case cerrdefs.IsNotFound(err):
		images[name] = false
	default:
		return false, err
	}
	return images[name], nil
}

func ci() bool { return os.Getenv("CI") == "true" }
