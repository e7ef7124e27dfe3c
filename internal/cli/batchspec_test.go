package cli

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/rgrid/rgrid/client"
)

func TestParseArraySpec(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		spec string
		want []int
	}{
		{"0-9", []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"1-9:2", []int{1, 3, 5, 7, 9}},
		{"1-10:4", []int{1, 5, 9}},
		{"3,5,7", []int{3, 5, 7}},
		{"7", []int{7}},
		{"0-2, 10", []int{0, 1, 2, 10}},
		{"4-4", []int{4}},
	} {
		got, err := parseArraySpec(tt.spec)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("parseArraySpec(%q) = %v, %v; want %v", tt.spec, got, err, tt.want)
		}
	}
	for spec, wantErr := range map[string]string{
		"":          "empty",
		"5-1":       "ends before it starts",
		"1,,2":      "empty element",
		"-3":        "not a non-negative index",
		"a-b":       "not a non-negative index",
		"1-10:0":    "not a positive number",
		"4:2":       "needs a range",
		"1,1":       "given twice",
		"0-1000000": "more than",
		"1e3":       "not a non-negative index",
		"+1":        "not a non-negative index",
	} {
		_, err := parseArraySpec(spec)
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("parseArraySpec(%q): %v, want an error saying %q", spec, err, wantErr)
			continue
		}
		if e, ok := err.(*Error); !ok || !strings.Contains(e.Hint, "--array 0-99") || exitStatus(err) != exitUsage {
			t.Errorf("parseArraySpec(%q): %#v, want a usage error with an example", spec, err)
		}
	}
}

func FuzzParseArraySpec(f *testing.F) {
	for _, s := range []string{"0-99", "1-200:2", "3,5,7", "5-1", "1,,2", "0-999999999:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		got, err := parseArraySpec(spec)
		if err != nil {
			if len(got) != 0 {
				t.Fatalf("%q: items %v with error %v", spec, got, err)
			}
			return
		}
		if len(got) == 0 || len(got) > maxArrayItems {
			t.Fatalf("%q: %d items", spec, len(got))
		}
		seen := map[int]bool{}
		for _, i := range got {
			if i < 0 || seen[i] {
				t.Fatalf("%q: index %d negative or repeated in %v", spec, i, got)
			}
			seen[i] = true
		}
	})
}

func TestExpandBatchGlob(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, p := range []string{"data/b.csv", "data/a.csv", "data/x.txt", "data/sub/c.csv", "data/sub/deep/d.csv",
		"data/.hidden.csv", "data/.git/e.csv", "top.csv"} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "data", "dir.csv"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		pattern string
		want    []string
	}{
		{"data/*.csv", []string{"data/a.csv", "data/b.csv"}},
		{"./data/?.csv", []string{"data/a.csv", "data/b.csv"}},
		{"data/**/*.csv", []string{"data/a.csv", "data/b.csv", "data/sub/c.csv", "data/sub/deep/d.csv"}},
		{"**/c.csv", []string{"data/sub/c.csv"}},
		{"data/.*.csv", []string{"data/.hidden.csv"}},
		{"*.csv", []string{"top.csv"}},
		{"data/sub/deep/d.csv", []string{"data/sub/deep/d.csv"}},
	} {
		got, err := expandBatchGlob(dir, tt.pattern)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("expandBatchGlob(%q) = %v, %v; want %v", tt.pattern, got, err, tt.want)
		}
	}
	for pattern, wantErr := range map[string]string{
		"nope/*.csv": "matches no file",
		"*.json":     "matches no file",
		"../*.csv":   "outside the working directory",
		"/etc/*":     "outside the working directory",
		"data/[":     "syntax error",
	} {
		_, err := expandBatchGlob(dir, pattern)
		if err == nil || !strings.Contains(err.Error(), wantErr) || !strings.Contains(err.Error(), pattern) {
			t.Errorf("expandBatchGlob(%q): %v, want an error naming the pattern and saying %q", pattern, err, wantErr)
		}
	}
}

func TestItemFolders(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		inputs, want []string
	}{
		{[]string{"data/a.csv", "data/b.csv"}, []string{"a.csv", "b.csv"}},
		{[]string{"x/a.csv", "y/a.csv", "b.csv"}, []string{"x_a.csv", "y_a.csv", "b.csv"}},
		{[]string{"0", "1", "2"}, []string{"0", "1", "2"}},
		// data_a.csv is a base name, and also what data/a.csv becomes.
		{[]string{"data/a.csv", "z/a.csv", "data_a.csv"}, []string{"data_a.csv", "z_a.csv", "item-2"}},
		{[]string{"..", "a\x1b[2J"}, []string{"item-0", "item-1"}},
		{[]string{"item-1", "x/q", "y/q"}, []string{"item-1", "x_q", "y_q"}},
	} {
		got := itemFolders(tt.inputs)
		if !slices.Equal(got, tt.want) {
			t.Errorf("itemFolders(%q) = %q, want %q", tt.inputs, got, tt.want)
		}
		seen := map[string]bool{}
		for _, g := range got {
			if seen[g] || !safeFolder(g) {
				t.Errorf("itemFolders(%q): %q repeated or unsafe", tt.inputs, g)
			}
			seen[g] = true
		}
	}
}

func TestFormatProgress(t *testing.T) {
	t.Parallel()
	b := client.Batch{ID: "bat_1", Size: 20, Counts: client.BatchCounts{Succeeded: 8, Failed: 2, Running: 3, Queued: 7}}
	for _, tt := range []struct {
		b    client.Batch
		rate float64
		want string
	}{
		{b, 0, "batch bat_1: 10/20 done (8 succeeded, 2 failed), 3 running, 7 queued"},
		{b, 2, "batch bat_1: 10/20 done (8 succeeded, 2 failed), 3 running, 7 queued, 2.0/s, ETA 5s"},
		{b, 0.1, "batch bat_1: 10/20 done (8 succeeded, 2 failed), 3 running, 7 queued, 6.0/min, ETA 1m40s"},
		{client.Batch{ID: "bat_2", Size: 3, Finished: true, Counts: client.BatchCounts{Succeeded: 1, Error: 1, Canceled: 1}}, 5,
			"batch bat_2: 3/3 done (1 succeeded, 1 error, 1 canceled), 0 running, 0 queued"},
		{client.Batch{ID: "bat_3", Size: 5000, Canceled: true, Counts: client.BatchCounts{Succeeded: 1000, Running: 4}}, 0.5,
			"batch bat_3: 1000/5000 done (1000 succeeded), 4 running, 0 queued, 30.0/min, ETA 2h13m, canceling"},
	} {
		if got := formatProgress(tt.b, tt.rate); got != tt.want {
			t.Errorf("formatProgress(%+v, %g)\n got %q\nwant %q", tt.b, tt.rate, got, tt.want)
		}
	}
	r := newRateMeter(4, time.Unix(100, 0))
	if got := r.observe(4, time.Unix(110, 0)); got != 0 {
		t.Errorf("rate with nothing ended since the start: %g, want 0", got)
	}
	if got := r.observe(24, time.Unix(110, 0)); got != 2 {
		t.Errorf("rate of 20 items in 10 s: %g, want 2", got)
	}
}

func TestLeadingBatchFlags(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args     []string
		wantRest []string
		want     batchFlags
	}{
		{[]string{"--batch", "data/*.csv", "--parallel", "8", "x"}, []string{"x"}, batchFlags{glob: "data/*.csv", parallel: 8}},
		{[]string{"--array=0-9", "--follow-all", "--epochs", "3"}, []string{"--epochs", "3"}, batchFlags{array: "0-9", followAll: true}},
		{[]string{"--", "--batch", "x"}, []string{"--batch", "x"}, batchFlags{}},
		{[]string{"a", "--batch", "x"}, []string{"a", "--batch", "x"}, batchFlags{}},
		{[]string{"--timeout", "3"}, []string{"--timeout", "3"}, batchFlags{}},
	} {
		o := &batchFlags{}
		f := pflag.NewFlagSet("run", pflag.ContinueOnError)
		o.add(f)
		f.Duration("timeout", 0, "a single-job flag: not taken from after the script")
		rest, err := o.leading(f, tt.args)
		if err != nil || !slices.Equal(rest, tt.wantRest) || *o != tt.want {
			t.Errorf("leading(%q) = %q %+v, %v; want %q %+v", tt.args, rest, *o, err, tt.wantRest, tt.want)
		}
	}
}
