package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/rgrid/rgrid/client"
)

func TestParseExpiry(t *testing.T) {
	t.Parallel()
	day := 24 * time.Hour
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"90d", 90 * day},
		{"1d", day},
		{"12h", 12 * time.Hour},
		{"30m", 30 * time.Minute},
		{"1h30m", 90 * time.Minute},
		{"1d12h", 36 * time.Hour},
		{" 7d ", 7 * day},
		{"1s", time.Second},
		{"36500d", 36500 * day},
	} {
		got, err := parseExpiry(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseExpiry(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ in, problem string }{
		{"", "must be at least 1s"},
		{"0d", "must be at least 1s"},
		{"500ms", "must be at least 1s"},
		{"90", "not a duration"},
		{"d", "not a duration"},
		{"1.5d", "not a duration"},
		{"-1d", "not a duration"},
		{"+1d", "not a duration"},
		{"1d-1h", "not a duration"},
		{"1dd", "not a duration"},
		{"1w", "not a duration"},
		{"ninety days", "not a duration"},
		{"36501d", "too long"},
		{"99999999999999d", "not a duration"},
		{"1000000h", "too long"},
	} {
		got, err := parseExpiry(tc.in)
		if err == nil {
			t.Errorf("parseExpiry(%q) = %v, want an error", tc.in, got)
			continue
		}
		msg, hint := describe(err)
		if want := `--expires "` + tc.in + `": ` + tc.problem; msg != want || hint != expiryHint || exitStatus(err) != exitUsage {
			t.Errorf("parseExpiry(%q): %q (hint %q, exit %d), want %q with the expiry hint, exit 2", tc.in, msg, hint, exitStatus(err), want)
		}
	}
}

func FuzzParseExpiry(f *testing.F) {
	for _, s := range []string{"90d", "1d12h", "30m", "1.5h", "-1d", "d", "9999999d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseExpiry(s)
		if err == nil && (d < time.Second || d > 200*365*24*time.Hour) {
			t.Errorf("parseExpiry(%q) = %v: out of range without an error", s, d)
		}
	})
}

func TestParseLimit(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"default": "default", "Default": "default", "0": "none", "12": "12"} {
		got, err := parseLimit("max-queued", in)
		if err != nil || limitWord(got) != want {
			t.Errorf("parseLimit(%q) = %s, %v; want %s", in, limitWord(got), err, want)
		}
	}
	for _, in := range []string{"", "-1", "lots", "1.5"} {
		if _, err := parseLimit("max-queued", in); err == nil || !strings.Contains(err.Error(), `--max-queued "`+in+`": not a limit`) {
			t.Errorf("parseLimit(%q): %v, want not a limit", in, err)
		}
	}
}

// A token's name is the caller's choice: a control character in it is
// shown escaped, never sent to the terminal.
func TestTokenTableEscapesNames(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	printTokens(&b, []client.Token{{ID: "rgu_1", Kind: client.TokenUser, User: "alice", Name: "evil\x1b]0;pwned\x07\tx"}}, time.Now())
	if strings.ContainsAny(b.String(), "\x1b\x07") || !strings.Contains(b.String(), `"evil\x1b]0;pwned\a\tx"`) {
		t.Errorf("the table shows the name raw:\n%q", b.String())
	}
}
