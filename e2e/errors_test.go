package e2e

import (
	"strings"
	"testing"
)

// What rgrid prints for its own errors is one "Error:" line and one
// "Hint:" line, never a panic, a stack or the transport's error chain, and
// the exit code tells a usage error (2) from a platform failure (125).
func TestErrorsAreOneLineWithExitCode(t *testing.T) {
	t.Parallel()
	env := isolatedEnv(t)
	script := writeScript(t, "x.py", "print(1)\n")
	closed := "http://" + freeAddr(t)
	for _, tc := range []struct {
		name     string
		args     []string
		env      []string
		code     int
		contains string
	}{
		{"a missing script", []string{"run", "nonexistent.py"}, nil, 2, "Error: file not found: nonexistent.py"},
		{"a flag value that is not one", []string{"run", "--memory", "lots", script}, nil, 2, `Error: --memory "lots": not a size`},
		{"a flag value cobra refuses", []string{"run", "--cpus", "lots", script}, nil, 2, `Error: --cpus "lots": not a number`},
		{"an unknown flag", []string{"run", "--nope", script}, nil, 2, "Error: unknown flag: --nope"},
		{"an unknown command", []string{"rnu", script}, nil, 2, `Hint: did you mean "rgrid run"?`},
		{"no server at --server", []string{"run", "--server", closed, script}, nil, 125,
			"Error: cannot reach the rgrid server at " + closed},
		{"no server at RGRID_SERVER", []string{"status", "job_x"}, []string{"RGRID_SERVER=" + closed}, 125,
			"Error: cannot reach the rgrid server at " + closed},
		{"no server to follow logs from", []string{"logs", "-f", "job_x"}, []string{"RGRID_SERVER=" + closed}, 125,
			"Error: cannot reach the rgrid server at " + closed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := rgrid(t, append(append([]string{}, env...), tc.env...), tc.args...)
			lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
			if r.code != tc.code || r.stdout != "" || len(lines) != 2 ||
				!strings.HasPrefix(lines[0], "Error: ") || !strings.HasPrefix(lines[1], "Hint: ") ||
				!strings.Contains(r.stderr, tc.contains) {
				t.Errorf("rgrid %s: exit %d (want %d), stdout %q, stderr:\n%s\nwant an Error: line and a Hint: line with %q",
					strings.Join(tc.args, " "), r.code, tc.code, r.stdout, r.stderr, tc.contains)
			}
			for _, bad := range []string{"goroutine", "panic", "dial tcp", "\x1b["} {
				if strings.Contains(r.stderr, bad) {
					t.Errorf("stderr has %q:\n%s", bad, r.stderr)
				}
			}
		})
	}
}
