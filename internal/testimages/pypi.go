package testimages

// A package index of our own for dependency tests: a pure-Python
// wheel built here, laid out as a PEP 503 simple index and served by the
// helper image from a container on a network the test creates, where the
// build containers reach it as http://pypi:8080/simple.

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

const (
	wheelName = "rgrid_hello-1.0-py3-none-any.whl"
	// HelloOutput is what rgrid_hello.hello() returns, from the package
	// rgrid-hello 1.0 that StartIndex serves.
	HelloOutput = "hello from rgrid_hello"
)

// buildWheel returns the wheel of rgrid-hello 1.0: one module with a
// hello function, and the metadata pip checks, RECORD hashes included.
func buildWheel(t testing.TB) []byte {
	t.Helper()
	files := [][2]string{
		{"rgrid_hello/__init__.py", "def hello():\n    return " + fmt.Sprintf("%q", HelloOutput) + "\n"},
		{"rgrid_hello-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: rgrid-hello\nVersion: 1.0\n"},
		{"rgrid_hello-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: rgrid-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"},
	}
	var record strings.Builder
	for _, f := range files {
		sum := sha256.Sum256([]byte(f[1]))
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", f[0], base64.RawURLEncoding.EncodeToString(sum[:]), len(f[1]))
	}
	record.WriteString("rgrid_hello-1.0.dist-info/RECORD,,\n")
	files = append(files, [2]string{"rgrid_hello-1.0.dist-info/RECORD", record.String()})

	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		w, err := zw.Create(f[0])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(f[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// writeIndex lays out a PEP 503 simple index serving the wheel and
// returns its directory, readable by anyone (the server's user).
func writeIndex(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	wheel := buildWheel(t)
	sum := sha256.Sum256(wheel)
	files := map[string]string{
		"simple/index.html": `<!DOCTYPE html><html><body><a href="rgrid-hello/">rgrid-hello</a></body></html>`,
		"simple/rgrid-hello/index.html": fmt.Sprintf(`<!DOCTYPE html><html><body>`+
			`<a href="../../files/%s#sha256=%s">%s</a></body></html>`, wheelName, hex.EncodeToString(sum[:]), wheelName),
		"files/" + wheelName: string(wheel),
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{dir, filepath.Join(dir, "simple"), filepath.Join(dir, "simple", "rgrid-hello"), filepath.Join(dir, "files")} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// packageIndex is a running index: the network to put build containers
// on, and the server's address on it.
// PackageIndex is a running index: build containers on Network reach it
// as http://pypi:8080/simple (trusted host "pypi").
type PackageIndex struct {
	Network string
	IP      string // the server's address on Network
}

// StartIndex serves a fresh index of rgrid-hello 1.0 from the helper image
// on a new Docker network, both removed when the test ends.
func StartIndex(t testing.TB) PackageIndex {
	t.Helper()
	helper := Helper(t)
	cli, err := client.New(client.FromEnv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	ctx := t.Context()
	name := "rgrid-test-pypi-" + strings.ToLower(rand.Text()[:10])
	if _, err := cli.NetworkCreate(ctx, name, client.NetworkCreateOptions{Driver: "bridge"}); err != nil {
		t.Fatalf("create test network: %v", err)
	}
	t.Cleanup(func() {
		if _, err := cli.NetworkRemove(context.Background(), name, client.NetworkRemoveOptions{}); err != nil {
			t.Errorf("remove test network %s: %v", name, err)
		}
	})
	dir := writeIndex(t)
	c, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: name,
		Config: &container.Config{
			Image: helper, Cmd: []string{"/helper", "serve", "/index", ":8080"}, User: "65534:65534",
		},
		HostConfig: &container.HostConfig{
			Mounts:         []mount.Mount{{Type: mount.TypeBind, Source: dir, Target: "/index", ReadOnly: true}},
			NetworkMode:    container.NetworkMode(name),
			ReadonlyRootfs: true,
			CapDrop:        []string{"ALL"},
		},
		NetworkingConfig: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			name: {Aliases: []string{"pypi"}},
		}},
	})
	if err != nil {
		t.Fatalf("create index server: %v", err)
	}
	t.Cleanup(func() {
		_, _ = cli.ContainerRemove(context.Background(), c.ID, client.ContainerRemoveOptions{Force: true})
	})
	if _, err := cli.ContainerStart(ctx, c.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatalf("start index server: %v", err)
	}
	waitServing(t, cli, c.ID)
	insp, err := cli.ContainerInspect(ctx, c.ID, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ep := insp.Container.NetworkSettings.Networks[name]
	if ep == nil || !ep.IPAddress.IsValid() {
		t.Fatalf("index server has no address on %s", name)
	}
	return PackageIndex{Network: name, IP: ep.IPAddress.String()}
}

// waitServing waits for the server's "serving" line, which it prints once
// it listens.
func waitServing(t testing.TB, cli *client.Client, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	logs, err := cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	var seen strings.Builder
	pr, pw := io.Pipe()
	defer func() { _ = pr.Close() }() // ends the copy below if we return first
	go func() {
		_, err := stdcopy.StdCopy(pw, pw, logs)
		pw.CloseWithError(err)
	}()
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		seen.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), "serving ") {
			return
		}
	}
	t.Fatalf("the index server stopped before serving (an old helper image? run scripts/images.sh): %s %v", seen.String(), sc.Err())
}
