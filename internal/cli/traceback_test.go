package cli

import "testing"

func TestParseTraceback(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, stderr, want, hint string
	}{
		{"missing module", `Traceback (most recent call last):
  File "/rgrid/input/train.py", line 3, in <module>
    import numpy
ModuleNotFoundError: No module named 'numpy'
`, "ModuleNotFoundError: No module named 'numpy' (train.py, line 3)",
			"list numpy in a requirements.txt beside the script (or in its inline \"# /// script\" metadata); rgrid installs it"},
		{"nested frames, last one wins", `some output
Traceback (most recent call last):
  File "/rgrid/input/main.py", line 10, in <module>
    run()
  File "/rgrid/input/main.py", line 7, in run
    1 / 0
ZeroDivisionError: division by zero
`, "ZeroDivisionError: division by zero (main.py, line 7)", ""},
		{"dotted exception without message", `Traceback (most recent call last):
  File "/tmp/x.py", line 1, in <module>
    raise json.decoder.JSONDecodeError
json.decoder.JSONDecodeError
`, "json.decoder.JSONDecodeError (/tmp/x.py, line 1)", ""},
	} {
		f, ok := parseTraceback([]byte(tc.stderr))
		if !ok {
			t.Errorf("%s: no traceback found", tc.name)
			continue
		}
		got, hint := f.summary()
		if got != tc.want || hint != tc.hint {
			t.Errorf("%s:\n got %q / %q\nwant %q / %q", tc.name, got, hint, tc.want, tc.hint)
		}
	}
	if _, ok := parseTraceback([]byte("error: plain failure\n")); ok {
		t.Error("found a traceback in plain output")
	}
}
