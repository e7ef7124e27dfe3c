package docker

import (
	"strings"
	"testing"
	"time"
)

func TestProgressIsOccasional(t *testing.T) {
	var out strings.Builder
	start := time.Unix(0, 0)
	p := progress{image: "img", sys: &out, layers: map[string][2]int64{}, last: start}
	// Two layers of 1000 bytes, downloaded 10 bytes at a time, 10 ms apart.
	now := start
	for i := 1; i <= 100; i++ {
		now = now.Add(10 * time.Millisecond)
		p.layers["a"] = [2]int64{int64(i * 10), 1000}
		p.layers["b"] = [2]int64{int64(i * 5), 1000}
		p.report(now)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) < 5 || len(lines) > 10 {
		t.Errorf("want a line every 10 points, got %d lines:\n%s", len(lines), out.String())
	}
	if last := lines[len(lines)-1]; last != "rgrid: pulling img: 70%" {
		t.Errorf("last line %q", last)
	}
}

func TestMebibytes(t *testing.T) {
	for n, want := range map[int64]string{
		512 << 20: "512 MiB", 1 << 30: "1 GiB", 3 << 29: "1.5 GiB", 300 << 20: "300 MiB", 100<<20 + 1<<19: "100.5 MiB",
	} {
		if got := mebibytes(n); got != want {
			t.Errorf("mebibytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestBuildEnvKeepsImagePath(t *testing.T) {
	env := strings.Join(buildEnv(map[string]string{"A": "1"}, []string{"PATH=/opt/x/bin"}), " ")
	if strings.Contains(env, "PATH=") || !strings.Contains(env, "A=1") || !strings.Contains(env, "HOME=/rgrid/work") {
		t.Errorf("got %s", env)
	}
	env = strings.Join(buildEnv(nil, nil), " ")
	if !strings.Contains(env, "PATH="+defaultPath) {
		t.Errorf("no default PATH: %s", env)
	}
}

func TestNumericUser(t *testing.T) {
	for user, want := range map[string][3]int{"65534:65534": {65534, 65534, 1}, "1000": {1000, 1000, 1}, "nobody": {0, 0, 0}, "1:x": {0, 0, 0}} {
		uid, gid, ok := numericUser(user)
		if ok != (want[2] == 1) || (ok && (uid != want[0] || gid != want[1])) {
			t.Errorf("numericUser(%q) = %d, %d, %v", user, uid, gid, ok)
		}
	}
}

func TestStreamWriter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		from   int64
		passes [][]string // each pass reads the stream from its start
		want   string
	}{
		{"NoOffset", 0, [][]string{{"abc", "def"}}, "abcdef"},
		{"OffsetOnBoundary", 3, [][]string{{"abc", "def"}}, "def"},
		{"OffsetInsideWrite", 4, [][]string{{"abc", "def"}}, "ef"},
		{"OffsetPastEnd", 10, [][]string{{"abc", "def"}}, ""},
		{"SecondPassOnlyNew", 1, [][]string{{"ab"}, {"abc", "de"}}, "bcde"},
		{"SecondPassShorterOffset", 4, [][]string{{"ab"}, {"abcdef"}}, "ef"},
		{"SecondPassNothingNew", 0, [][]string{{"abc"}, {"a", "bc"}}, "abc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got strings.Builder
			w := &streamWriter{w: &got, from: tc.from}
			for i, pass := range tc.passes {
				if i > 0 {
					w.rewind()
				}
				for _, p := range pass {
					if n, err := w.Write([]byte(p)); n != len(p) || err != nil {
						t.Fatalf("Write(%q) = %d, %v", p, n, err)
					}
				}
			}
			if got.String() != tc.want {
				t.Errorf("got %q, want %q", got.String(), tc.want)
			}
		})
	}
}
