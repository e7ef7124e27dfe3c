package docker

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
)

func TestEnvKeyAndTag(t *testing.T) {
	sum := sha256.Sum256([]byte("img:1\na==1\nb>2"))
	want := hex.EncodeToString(sum[:])
	if got := envKey("img:1", []string{"a==1", "b>2"}); got != want {
		t.Errorf("envKey = %s, want %s", got, want)
	}
	if got := envTag(want); got != "rgrid-env:"+want[:24] {
		t.Errorf("envTag = %s", got)
	}
	if envKey("img:1", []string{"a==1"}) == envKey("img:2", []string{"a==1"}) {
		t.Error("the key ignores the image")
	}
}

func TestPipLogHint(t *testing.T) {
	notFound := "Looking in indexes: http://pypi:8080/simple\n" +
		"ERROR: Could not find a version that satisfies the requirement rgrid-helo==1.0 (from versions: none)\n" +
		"ERROR: No matching distribution found for rgrid-helo==1.0\n"
	unreachable := "WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) after connection " +
		"broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPConnection object at 0x7f>: " +
		"Failed to establish a new connection: [Errno -3] Temporary failure in name resolution')': /simple/numpy/\n" + notFound
	for _, tc := range []struct{ name, output, want string }{
		{"NotFound", notFound, `package "rgrid-helo==1.0" was not found on the package index http://pypi:8080/simple: check its name and version`},
		{"Unreachable", unreachable, "the build container could not reach the package index: check the worker's RGRID_PIP_INDEX_URL and RGRID_DEPS_NETWORK"},
		{"Other", "error: subprocess-exited-with-error\n", "see pip's output above (the job's system log)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &pipLog{}
			// Written in odd pieces, as the stream delivers it.
			for s := tc.output; s != ""; s = s[min(7, len(s)):] {
				_, _ = p.Write([]byte(s[:min(7, len(s))]))
			}
			p.flush()
			if got := p.hint("the package index http://pypi:8080/simple"); got != tc.want {
				t.Errorf("hint %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPipLogLinesAndTail(t *testing.T) {
	var sys strings.Builder
	p := &pipLog{sys: &sys}
	for i := range 40 {
		fmt.Fprintf(p, "line %d\r\n", i)
	}
	_, _ = p.Write([]byte("unterminated"))
	p.flush()
	if !strings.HasPrefix(sys.String(), "pip: line 0\npip: line 1\n") || !strings.HasSuffix(sys.String(), "pip: line 39\npip: unterminated\n") {
		t.Errorf("system output %q", sys.String())
	}
	tail := strings.Split(p.output(), "\n")
	if len(tail) != pipTailLines || tail[0] != "line 11" || tail[len(tail)-1] != "unterminated" {
		t.Errorf("tail %q", tail)
	}
}

func TestCommitChanges(t *testing.T) {
	got := commitChanges(container.Config{Env: []string{"LANG=C", "PATH=/usr/bin:/odd$dir"}}, "python3.11")
	want := []string{
		`ENV PATH="/opt/rgrid/venv/bin:/usr/bin:/odd\$dir"`,
		"ENV VIRTUAL_ENV=/opt/rgrid/venv",
		"USER 0",
		`CMD ["python3.11"]`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	got = commitChanges(container.Config{User: "app", Cmd: []string{"python3"}, Entrypoint: []string{"/init", "--"}}, "python3")
	want = []string{
		`ENV PATH="/opt/rgrid/venv/bin:` + defaultPath + `"`,
		"ENV VIRTUAL_ENV=/opt/rgrid/venv",
		"USER app",
		`CMD ["python3"]`,
		`ENTRYPOINT ["/init","--"]`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestIndexNameHidesPassword(t *testing.T) {
	e := &Executor{opts: Options{PipIndexURL: "https://bob:s3cret@pypi.example.com/simple"}}
	if got := e.indexName(); strings.Contains(got, "s3cret") || !strings.Contains(got, "pypi.example.com/simple") {
		t.Errorf("indexName() = %q", got)
	}
	if got := (&Executor{}).indexName(); got != "the default package index" {
		t.Errorf("indexName() = %q", got)
	}
}
