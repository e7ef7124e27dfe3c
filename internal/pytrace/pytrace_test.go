package pytrace

import (
	"testing"

	"github.com/rgrid/rgrid/client"
)

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, stderr, script string
		want                 client.Failure
		summary              string
	}{
		{"missing module", `Traceback (most recent call last):
  File "/rgrid/input/train.py", line 3, in <module>
    import numpy
ModuleNotFoundError: No module named 'numpy'
`, "train.py", client.Failure{Exception: "ModuleNotFoundError", Message: "No module named 'numpy'", File: "train.py", Line: 3},
			"ModuleNotFoundError: No module named 'numpy' at train.py line 3"},
		{"innermost frame of the script, not the library", `output first
Traceback (most recent call last):
  File "/rgrid/input/analysis.py", line 20, in <module>
    main()
  File "/rgrid/input/analysis.py", line 12, in main
    print(ratio(1, 0))
          ^^^^^^^^^^^
  File "/usr/lib/python3.11/fractions.py", line 153, in __new__
    raise ZeroDivisionError('Fraction(%s, 0)' % numerator)
ZeroDivisionError: Fraction(1, 0)
`, "analysis.py", client.Failure{Exception: "ZeroDivisionError", Message: "Fraction(1, 0)", File: "analysis.py", Line: 12, Function: "main"},
			"ZeroDivisionError: Fraction(1, 0) at analysis.py line 12"},
		{"dotted exception without message, other file", `Traceback (most recent call last):
  File "/tmp/x.py", line 1, in <module>
    raise json.decoder.JSONDecodeError
json.decoder.JSONDecodeError
`, "main.py", client.Failure{Exception: "json.decoder.JSONDecodeError", File: "/tmp/x.py", Line: 1},
			"json.decoder.JSONDecodeError at /tmp/x.py line 1"},
		{"the last of chained tracebacks, notes ignored", `Traceback (most recent call last):
  File "/rgrid/input/a.py", line 2, in <module>
    {}["k"]
KeyError: 'k'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/rgrid/input/a.py", line 4, in <module>
    raise ValueError("bad input")
ValueError: bad input
Note: check the file
`, "a.py", client.Failure{Exception: "ValueError", Message: "bad input", File: "a.py", Line: 4},
			"ValueError: bad input at a.py line 4"},
		{"syntax error", `  File "/rgrid/input/s.py", line 3
    print(
         ^
SyntaxError: '(' was never closed
`, "s.py", client.Failure{}, ""},
		{"syntax error with traceback header", `Traceback (most recent call last):
  File "/rgrid/input/s.py", line 3
    print(
         ^
SyntaxError: '(' was never closed
`, "s.py", client.Failure{Exception: "SyntaxError", Message: "'(' was never closed", File: "s.py", Line: 3},
			"SyntaxError: '(' was never closed at s.py line 3"},
		{"custom exception without Error suffix", "Traceback (most recent call last):\r\n  File \"/rgrid/input/c.py\", line 9, in run\r\n    raise Stop()\r\nStop\r\n",
			"c.py", client.Failure{Exception: "Stop", File: "c.py", Line: 9, Function: "run"}, "Stop at c.py line 9"},
	} {
		got, ok := Parse([]byte(tc.stderr), tc.script)
		if ok != (tc.summary != "") {
			t.Errorf("%s: found = %v", tc.name, ok)
			continue
		}
		if got != tc.want || got.Summary() != tc.summary {
			t.Errorf("%s:\n got %+v %q\nwant %+v %q", tc.name, got, got.Summary(), tc.want, tc.summary)
		}
	}
	if _, ok := Parse([]byte("error: plain failure\n"), "x.py"); ok {
		t.Error("found a traceback in plain output")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("Traceback (most recent call last):\n  File \"a.py\", line 1, in <module>\nE: x\n"), "a.py")
	f.Fuzz(func(t *testing.T, tail []byte, script string) {
		if got, ok := Parse(tail, script); ok && got.Exception == "" {
			t.Fatal("found a failure without an exception")
		}
	})
}
