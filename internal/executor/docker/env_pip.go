package docker

import (
	"bytes"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"
)

// pipTailLines is how many of pip's last lines a failed install reports.
const pipTailLines = 30

// maxPipLine cuts a line that never ends (a progress bar gone wrong).
const maxPipLine = 8 << 10

// pipLog passes a build's output to the user's System stream line by line,
// prefixed "pip: ", and keeps what a failure report needs: the last lines
// and what went wrong. The build's stdout and stderr are written to it from
// one goroutine at a time.
type pipLog struct {
	sys      io.Writer
	partial  []byte
	tail     []string
	notFound string // the requirement pip found no distribution for
	network  bool   // pip could not reach an index
}

func (p *pipLog) Write(b []byte) (int, error) {
	p.partial = append(p.partial, b...)
	for {
		i := bytes.IndexByte(p.partial, '\n')
		if i < 0 {
			break
		}
		p.line(string(p.partial[:i]))
		p.partial = p.partial[i+1:]
	}
	if len(p.partial) > maxPipLine {
		p.flush()
	}
	return len(b), nil
}

// flush passes on an unterminated last line.
func (p *pipLog) flush() {
	if len(p.partial) > 0 {
		p.line(string(p.partial))
		p.partial = nil
	}
}

var (
	pipNotFound = regexp.MustCompile(`(?:No matching distribution found for|Could not find a version that satisfies the requirement) (\S+)`)
	// What pip (urllib3) says when it cannot reach an index.
	pipNetwork = []string{
		"Failed to establish a new connection", "Temporary failure in name resolution",
		"Name or service not known", "Network is unreachable", "Connection refused",
		"ConnectTimeoutError", "Read timed out", "SSLError", "ProxyError",
	}
)

func (p *pipLog) line(l string) {
	l = strings.TrimRight(l, "\r")
	say(p.sys, "pip: %s", l)
	if len(p.tail) == pipTailLines {
		p.tail = p.tail[1:]
	}
	p.tail = append(p.tail, l)
	if m := pipNotFound.FindStringSubmatch(l); m != nil && p.notFound == "" {
		p.notFound = m[1]
	}
	for _, s := range pipNetwork {
		if strings.Contains(l, s) {
			p.network = true
		}
	}
}

func (p *pipLog) output() string { return strings.Join(p.tail, "\n") }

// hint names the likely fix. An unreachable index comes first: pip then
// also reports that no distribution was found.
func (p *pipLog) hint(index string) string {
	switch {
	case p.network:
		return "the build container could not reach the package index: " +
			"check the worker's RGRID_PIP_INDEX_URL and RGRID_DEPS_NETWORK"
	case p.notFound != "":
		return fmt.Sprintf("package %q was not found on %s: check its name and version", p.notFound, index)
	default:
		return "see pip's output above (the job's system log)"
	}
}

// indexName names the index for people, without a password.
func (e *Executor) indexName() string {
	if e.opts.PipIndexURL == "" {
		return "the default package index"
	}
	if u, err := url.Parse(e.opts.PipIndexURL); err == nil {
		return "the package index " + u.Redacted()
	}
	return "the configured package index"
}
