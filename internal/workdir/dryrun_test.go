package workdir

import (
	"strings"
	"testing"
)

func TestWritePlan(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"run.py": "print('hi')", "data/train.csv": strings.Repeat("1,2\n", 400), "out/": "",
		"latest@": "data/train.csv", ".gitignore": "*.log\n", "debug.log": "", ".git/HEAD": "",
		".venv/pyvenv.cfg": "", "odd\nname": "",
	})
	plan, err := Scan(t.Context(), dir, Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	WritePlan(&b, plan)
	got := strings.ReplaceAll(b.String(), dir, "DIR")
	want := "Would send from DIR:\n" +
		"   6 bytes  .gitignore\n" +
		"   1.6 KiB  data/train.csv\n" +
		"      link  latest -> data/train.csv\n" +
		"   0 bytes  \"odd\\nname\"\n" +
		"    folder  out/\n" +
		"  11 bytes  run.py\n" +
		"Not sent:\n" +
		"  .git/      `.git/` is never sent\n" +
		"  .venv/     virtualenv (.venv/): not sent unless .rgridignore has `!.venv/`; list packages in requirements.txt\n" +
		"  debug.log  .gitignore line 1: `*.log`\n" +
		"Total: 4 files (1.6 KiB), 1 symlink, 1 empty folder; 3 paths not sent. Caps: 100 MiB, 100,000 files.\n"
	if got != want {
		t.Errorf("WritePlan:\n%s\nwant:\n%s", got, want)
	}
	if strings.Contains(got, "odd\nname") {
		t.Error("a newline in a name reached the listing raw")
	}

	// Over a cap, the dry run says so with the listing and the hint.
	plan, err = Scan(t.Context(), dir, Options{DryRun: true, MaxBytes: 1024})
	if err != nil {
		t.Fatal(err)
	}
	b.Reset()
	WritePlan(&b, plan)
	for _, want := range []string{"Too large: ", "over the 1.0 KiB upload cap", "\n  Largest folders:\n    1.6 KiB  data/\n", "  Hint: add data/ "} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("over the cap, the listing lacks %q:\n%s", want, b.String())
		}
	}
}
