package workdir

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestCollectUpperIgnoresWhiteoutsAndJudgesLinksThroughInputs collects
// from a directory laid out as an overlay's upper one (made by hand:
// whiteouts and opaque markers need root).
func TestCollectUpperIgnoresWhiteoutsAndJudgesLinksThroughInputs(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("whiteouts and opaque markers need root; CI runs as root")
		}
		t.Skip("whiteouts and opaque markers need root")
	}
	src := t.TempDir()
	writeTree(t, src, map[string]string{"a.txt": "A", "b.txt": "B", "d/x.txt": "X", "here@": "."})
	plan, err := Scan(t.Context(), src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	upper := t.TempDir()
	// b.txt copied up unchanged, c.txt new, a.txt deleted, d made anew
	// (opaque) with y.txt; up a link that leaves the tree through the
	// input link here (here/.. is ../, not .).
	writeTree(t, upper, map[string]string{"b.txt": "B", "c.txt": "new", "d/y.txt": "Y", "up@": "here/.."})
	if err := unix.Mknod(filepath.Join(upper, "a.txt"), unix.S_IFCHR, 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(filepath.Join(upper, "d"), "trusted.overlay.opaque", []byte("y"), 0); err != nil {
		t.Fatal(err)
	}
	got, err := Collect(t.Context(), upper, plan.Manifest, Limits{Upper: true})
	if err != nil {
		t.Fatal(err)
	}
	if p := paths(got.Outputs); !slices.Equal(p, []string{"c.txt", "d/y.txt"}) {
		t.Errorf("outputs %v, want c.txt and d/y.txt", p)
	}
	if len(got.Skipped) != 1 || got.Skipped[0].Path != "up" || !strings.Contains(got.Skipped[0].Reason, "outside") {
		t.Errorf("skipped %v, want only the link up, outside the tree", got.Skipped)
	}

	// The same directory read as a working directory: the whiteout is a
	// device, left out with its reason.
	got, err = Collect(t.Context(), upper, plan.Manifest, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(got.Skipped, func(s Skip) bool { return s.Path == "a.txt" }) {
		t.Errorf("without Upper a character device was not skipped with a reason: %v", got.Skipped)
	}
}

// TestCollectUpperHidesInputLinksUnderReplacedFolders: an input link with
// something in its place, or under a folder that the job made anew
// (opaque) or replaced by a file, is gone, so a new link is not judged
// through it; under a folder only merged (d) it is still there.
func TestCollectUpperHidesInputLinksUnderReplacedFolders(t *testing.T) {
	c := &collector{found: map[string]bool{"f": true, "w": true, "o": true, "d": true}, hides: map[string]bool{"f": true, "w": true, "o": true}}
	for p, want := range map[string]bool{"keep": true, "d/keep": true, "o/l": false, "f/l": false, "w": false, "o": false, "d": false, "f/x/l": false} {
		if got := c.visible(p); got != want {
			t.Errorf("visible(%s) = %v, want %v", p, got, want)
		}
	}
}
