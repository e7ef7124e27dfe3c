package workdir

import (
	"slices"
	"testing"
)

// Names Linux allows but a manifest cannot carry safely: not UTF-8 (JSON
// would change them) and with a backslash (a separator on Windows).
func TestOddNames(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"ok.txt": "", "bad\xffname": "", `a\..\b`: ""})
	plan, err := Scan(t.Context(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := paths(plan.Manifest); !slices.Equal(got, []string{"ok.txt"}) {
		t.Errorf("sent %q", got)
	}
	why := excludedReasons(plan)
	if why["bad\xffname"] != reasonUTF8 || why[`a\..\b`] != reasonBslash {
		t.Errorf("reasons %q", why)
	}
	got, err := Collect(t.Context(), dir, plan.Manifest, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Outputs.Entries) != 0 || len(got.Skipped) != 2 {
		t.Errorf("collect: outputs %v, skipped %v", got.Outputs.Entries, got.Skipped)
	}
}
