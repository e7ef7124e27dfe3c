package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/rgrid/rgrid/client"
)

func TestExitStatus(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"a script's own exit", exitCode(3), 3},
		{"a usage error", userErr("h", "bad flag"), exitUsage},
		{"a platform error", platformErr("h", "no Docker"), exitPlatform},
		{"the server refused the request", &client.Error{Status: 400, Code: client.CodeUnknownRuntime}, exitUsage},
		{"an unknown job", fmt.Errorf("status: %w", &client.Error{Status: 404, Code: client.CodeNotFound}), exitUsage},
		{"the server failed", &client.Error{Status: 500, Code: client.CodeInternal}, exitPlatform},
		{"the server's database is down", &client.Error{Status: 503, Code: client.CodeUnavailable}, exitPlatform},
		{"no server", &client.UnreachableError{URL: "http://x", Err: syscall.ECONNREFUSED}, exitPlatform},
		{"anything unforeseen", errors.New("boom"), exitPlatform},
		{"an Error without a code", &Error{Message: "m"}, exitPlatform},
	} {
		if got := exitStatus(tc.err); got != tc.want {
			t.Errorf("%s: exit %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestOutcomeExitCodes(t *testing.T) {
	t.Parallel()
	three := 3
	for _, tc := range []struct {
		job       client.Job
		want      int
		explained bool // an Error: line on stderr
	}{
		{client.Job{State: client.StateSucceeded}, 0, false},
		{client.Job{State: client.StateFailed, ExitCode: &three}, 3, false},
		{client.Job{State: client.StateFailed}, exitPlatform, true},
		{client.Job{State: client.StateTimedOut}, exitTimedOut, true},
		{client.Job{State: client.StateOOMKilled}, exitOOM, true},
		{client.Job{State: client.StateCanceled}, exitCanceled, false},
		{client.Job{State: client.StateError, Reason: "image_pull_failed"}, exitPlatform, true},
		{client.Job{State: client.StateError, Reason: "dependency_install_failed"}, exitPlatform, true},
		{client.Job{State: client.StateLost}, exitPlatform, true},
	} {
		tc.job.ID = "job_1"
		var stderr bytes.Buffer
		got := 0
		if err := outcome(tc.job, &stderr); err != nil {
			got = exitStatus(err)
		}
		if got != tc.want {
			t.Errorf("%s (exit code %v): exit %d, want %d", tc.job.State, tc.job.ExitCode, got, tc.want)
		}
		if explained := strings.HasPrefix(stderr.String(), "Error: "); explained != tc.explained {
			t.Errorf("%s: stderr %q, want an explanation: %v", tc.job.State, stderr.String(), tc.explained)
		}
	}
}

func TestWriteError(t *testing.T) {
	t.Parallel()
	err := userErr("write sizes like 512m", "--memory %q: not a size", "lots")
	for _, tc := range []struct {
		color bool
		want  string
	}{
		{false, "Error: --memory \"lots\": not a size\nHint: write sizes like 512m\n"},
		{true, "\x1b[1;31mError:\x1b[0m \x1b[1m--memory \"lots\": not a size\x1b[0m\n\x1b[36mHint:\x1b[0m write sizes like 512m\n"},
	} {
		var b bytes.Buffer
		writeError(&b, err, tc.color)
		if b.String() != tc.want {
			t.Errorf("colour %v: %q, want %q", tc.color, b.String(), tc.want)
		}
	}
	var b bytes.Buffer
	writeError(&b, &Error{Message: "line 1: bad\nline 2: worse\n"}, false)
	if want := "Error: line 1: bad; line 2: worse\n"; b.String() != want {
		t.Errorf("a message of several lines: %q, want %q", b.String(), want)
	}
}

func TestUnreachableServerIsOneLine(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	err := fmt.Errorf("submit: %w", &client.UnreachableError{URL: "http://127.0.0.1:1",
		Err: fmt.Errorf(`Post "http://127.0.0.1:1/v1/jobs": %w`,
			&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)})})
	writeError(&b, err, false)
	want := "Error: cannot reach the rgrid server at http://127.0.0.1:1: connection refused\nHint: " + unreachableHint + "\n"
	if b.String() != want {
		t.Errorf("%q, want %q", b.String(), want)
	}
}

func TestColorFor(t *testing.T) {
	t.Parallel()
	file, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { file.Close() })
	term := openPTY(t)
	envOf := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	for _, tc := range []struct {
		name string
		w    io.Writer
		env  func(string) string
		want bool
	}{
		{"a terminal", term, envOf("TERM", "xterm-256color"), true},
		{"a terminal, NO_COLOR empty", term, envOf("NO_COLOR", ""), true},
		{"a terminal with NO_COLOR", term, envOf("NO_COLOR", "1"), false},
		{"a terminal with TERM=dumb", term, envOf("TERM", "dumb"), false},
		{"a file", file, envOf(), false},
		{"a buffer", &bytes.Buffer{}, envOf(), false},
	} {
		if got := colorFor(tc.w, tc.env); got != tc.want {
			t.Errorf("%s: colour %v, want %v", tc.name, got, tc.want)
		}
	}
}

// runCLI runs rgrid in this process with an empty config file.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runCLIWithConfig(t, "", args...)
}

// runCLIWithConfig runs rgrid in this process with a config file holding
// text; the file's path replaces CONFIG in args.
func runCLIWithConfig(t *testing.T, text string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code = Run(context.Background(), append([]string{"--config", cfg}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// Usage errors, cobra's own included, exit 2 with one Error: line and one
// Hint: line, and no parser's error chain.
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	script := filepath.Join(t.TempDir(), "x.py")
	if err := os.WriteFile(script, []byte("print(1)\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args       []string
		msg, hint  string
		notContain string
	}{
		{[]string{"run", "--nope", script}, "unknown flag: --nope", `"rgrid run --help"`, ""},
		{[]string{"run", "--cpus", "lots", script}, `--cpus "lots": not a number`, `"rgrid run --help"`, "strconv"},
		{[]string{"run", "--memory", "lots", script}, `--memory "lots": not a size`, "512m", ""},
		// No size reads as negative, or as 0 (the default), or past int64.
		{[]string{"run", "--memory", "nan", script}, `--memory "nan": not a size`, sizeHint, ""},
		{[]string{"run", "--memory", "inf", script}, `--memory "inf": not a size`, sizeHint, ""},
		{[]string{"run", "--memory", "9999999t", script}, `--memory "9999999t": too large`, sizeHint, ""},
		{[]string{"run", "--memory", "0.0001", script}, `--memory "0.0001": not a whole number of bytes`, sizeHint, ""},
		{[]string{"run", "--memory=-1g", script}, `--memory "-1g": must be more than 0`, sizeHint, ""},
		{[]string{"run", "--log-limit", "0", script}, `--log-limit "0": must be more than 0`, sizeHint, ""},
		{[]string{"run", "--max-script-size", "0", script}, `--max-script-size "0": must be more than 0`, sizeHint, ""},
		{[]string{"worker", "--max-memory", "inf"}, `--max-memory "inf": not a size`, sizeHint, ""},
		{[]string{"worker", "--deps-cache-size", "1.1k"}, `--deps-cache-size "1.1k": not a whole number of bytes`, sizeHint, ""},
		{[]string{"worker", "--max-log-bytes", "-5"}, `--max-log-bytes "-5": must be more than 0`, sizeHint, ""},
		{[]string{"server", "--log-limit", "nan"}, `--log-limit "nan": not a size`, sizeHint, ""},
		{[]string{"server", "--max-log-limit", "1e9"}, `--max-log-limit "1e9": not a size`, sizeHint, ""},
		// Numbers and durations pflag lets through.
		{[]string{"run", "--cpus", "nan", script}, `--cpus NaN: not a positive number of cores`, "--cpus 0.5", ""},
		{[]string{"worker", "--server", "http://127.0.0.1:1", "--max-cpus", "inf"}, `--max-cpus +Inf: not a positive number of cores`, "--max-cpus 0.5", ""},
		{[]string{"run", "--timeout", "nan", script}, `--timeout "nan": not a duration`, "90s", ""},
		{[]string{"run", "--timeout", "1e-12", script}, `--timeout "1e-12": must be positive`, "90s", ""},
		{[]string{"run", "--timeout", "1e300", script}, `--timeout "1e300": not a duration`, "90s", ""},
		{[]string{"run"}, "requires at least 1 arg", "usage: rgrid run SCRIPT", ""},
		{[]string{"status", "a", "b"}, "accepts 1 arg", "usage: rgrid status JOB", ""},
		{[]string{"rnu", "x.py"}, `unknown command "rnu" for "rgrid"`, `did you mean "rgrid run"?`, "Did you mean"},
		{[]string{"nosuch"}, `unknown command "nosuch"`, `"rgrid --help" lists the commands`, ""},
		{[]string{"run", filepath.Join(t.TempDir(), "missing.py")}, "file not found", "check the path", ""},
	} {
		code, stdout, stderr := runCLI(t, tc.args...)
		lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
		if code != exitUsage || stdout != "" || len(lines) != 2 ||
			!strings.HasPrefix(lines[0], "Error: ") || !strings.Contains(lines[0], tc.msg) ||
			!strings.HasPrefix(lines[1], "Hint: ") || !strings.Contains(lines[1], tc.hint) ||
			(tc.notContain != "" && strings.Contains(stderr, tc.notContain)) {
			t.Errorf("rgrid %s: exit %d, stdout %q, stderr:\n%s\nwant exit 2, Error: …%s…, Hint: …%s…",
				strings.Join(tc.args, " "), code, stdout, stderr, tc.msg, tc.hint)
		}
	}
}

func TestUnreachableServerExits125(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	code, _, stderr := runCLI(t, "status", "--server", url, "job_x")
	want := "Error: cannot reach the rgrid server at " + url + ": connection refused\nHint: " + unreachableHint + "\n"
	if code != exitPlatform || stderr != want {
		t.Errorf("exit %d, stderr %q; want 125, %q", code, stderr, want)
	}
}

// TestWarmCount: --warm defaults to the slots, 0 turns the pool off, and
// a negative count is refused with the fix.
func TestWarmCount(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ warm, slots, want int }{{-1, 4, 4}, {-1, 1, 1}, {0, 4, 0}, {2, 8, 2}, {6, 2, 6}} {
		if got, err := warmCount(tc.warm, tc.slots); err != nil || got != tc.want {
			t.Errorf("warmCount(%d, %d) = %d, %v; want %d", tc.warm, tc.slots, got, err, tc.want)
		}
	}
	_, err := warmCount(-2, 4)
	var e *Error
	if !errors.As(err, &e) || !strings.Contains(e.Message, "--warm -2 is negative") || !strings.Contains(e.Hint, "--warm 4") {
		t.Errorf("warmCount(-2, 4) = %v; want a usage error naming --warm -2 and the fix", err)
	}
}
