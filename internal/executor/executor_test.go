package executor

import "testing"

func TestCheckFileName(t *testing.T) {
	t.Parallel()
	stage := func(string) error { return nil }
	for _, tc := range []struct {
		name   string
		staged bool
		ok     bool
	}{
		{"main.py", false, true},
		{"-main.py", false, true}, // staged under an absolute path: no option
		{"src/main.py", false, false},
		{"src/main.py", true, true},
		{"a/b/c.py", true, true},
		{"a/-b.py", true, true},
		{"main.py", true, true},
		{"-c", true, false},
		{"", true, false},
		{".", true, false},
		{"..", true, false},
		{"../x.py", true, false},
		{"a/../../x.py", true, false},
		{"a/../x.py", true, false}, // not clean
		{"./x.py", true, false},
		{"a//x.py", true, false},
		{"a/", true, false},
		{"/etc/passwd", true, false},
		{`a\b.py`, true, false},
		{"a\x00.py", true, false},
		{"..", false, false},
		{"", false, false},
	} {
		s := Spec{FileName: tc.name}
		if tc.staged {
			s.Stage = stage
		}
		if err := s.CheckFileName(); (err == nil) != tc.ok {
			t.Errorf("CheckFileName(%q, staged %v) = %v, want ok %v", tc.name, tc.staged, err, tc.ok)
		}
	}
}
