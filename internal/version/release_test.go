package version

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestReleaseScript builds this platform's archive with scripts/release.sh
// and checks what a user who downloads it gets: a checksum that matches,
// and a binary that says which version, commit and date it is.
func TestReleaseScript(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("scripts/release.sh is a bash script; its Windows archives are built elsewhere")
	}
	dist, bindir, config := t.TempDir(), t.TempDir(), t.TempDir()
	cmd := exec.CommandContext(t.Context(), "bash", "../../scripts/release.sh", "v0.0.0-test", runtime.GOOS+"/"+runtime.GOARCH)
	cmd.Env = append(os.Environ(), "DIST="+dist)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("release.sh: %v\n%s", err, out)
	}
	name := "rgrid_v0.0.0-test_" + runtime.GOOS + "_" + runtime.GOARCH + ".tar.gz"
	archive, err := os.ReadFile(filepath.Join(dist, name))
	if err != nil {
		t.Fatal(err)
	}
	sums, err := os.ReadFile(filepath.Join(dist, "checksums.txt"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(archive)
	if want := hex.EncodeToString(sum[:]) + "  " + name + "\n"; string(sums) != want {
		t.Errorf("checksums.txt = %q, want %q", sums, want)
	}

	bin := filepath.Join(bindir, "rgrid")
	names := extract(t, archive, "rgrid", bin)
	if !strings.Contains(names, "README.md") {
		t.Errorf("archive holds %s, want README.md too", names)
	}
	run := exec.CommandContext(t.Context(), bin, "version")
	run.Env = append(os.Environ(), "XDG_CONFIG_HOME="+config, "RGRID_CONFIG=")
	var stderr bytes.Buffer
	run.Stderr = &stderr
	out, err := run.Output()
	if err != nil {
		t.Fatalf("rgrid version: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(string(out), "\n")
	if lines[0] != "rgrid v0.0.0-test" {
		t.Errorf("first line %q, want %q", lines[0], "rgrid v0.0.0-test")
	}
	if strings.Contains(string(out), "unknown") {
		t.Errorf("commit or build date not stamped:\n%s", out)
	}
	if head, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil {
		if want := "commit:    " + strings.TrimSpace(string(head)); !strings.HasPrefix(lines[1], want) {
			t.Errorf("second line %q, want it to start %q", lines[1], want)
		}
	}
}

// extract writes the archive's file called name to dst and returns the
// names of everything in the archive.
func extract(t *testing.T, archive []byte, name, dst string) string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Name == name {
			f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, 0o755)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(f, tr); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	return strings.Join(names, " ")
}
