package workdir

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Kind is what an entry of a manifest is.
type Kind string

// The kinds of entry. A directory is recorded only when nothing else in
// the manifest lies under it (an empty "out/" the script writes into, or
// one whose contents are all ignored), since a file's parents are made
// anyway: that keeps manifests short and still gives the job every
// directory it had locally.
const (
	KindFile    Kind = "file"
	KindSymlink Kind = "symlink"
	KindDir     Kind = "dir"
)

// Entry is one path of a working directory.
//
// Of a file's mode only the executable bit is kept: it is the one that
// changes what a job can do with its inputs, and the others (setuid,
// group write, ownership) are not the sender's to choose on a worker.
type Entry struct {
	Path       string `json:"path"`                 // relative, slash-separated, clean
	Kind       Kind   `json:"kind"`                 // file, symlink or dir
	Size       int64  `json:"size,omitempty"`       // bytes, files only
	Executable bool   `json:"executable,omitempty"` // files only: written 0755 rather than 0644
	SHA256     string `json:"sha256,omitempty"`     // lowercase hex of the content, files only
	Target     string `json:"target,omitempty"`     // what a symlink holds, relative and inside the tree
}

// Manifest lists the inputs or the outputs of a job, sorted by path
// (bytewise), so that the same tree always encodes to the same JSON.
type Manifest struct {
	Entries []Entry `json:"entries"`
}

// Bounds on a manifest read from the network. They sit well above the
// caps on what is sent and collected (100,000 input and 10,000 output
// files by default) and below what would let a crafted manifest take a
// server's memory or time.
const (
	MaxEntries    = 1_000_000
	MaxLinks      = 10_000
	MaxPathLen    = 4096 // PATH_MAX on Linux
	MaxNameLen    = 255  // NAME_MAX
	maxLinkSteps  = 10_000_000
	maxLinkHops   = 40 // as the Linux kernel follows
	maxTotalBytes = 1 << 50
)

// Sort puts the entries in manifest order.
func (m *Manifest) Sort() {
	slices.SortFunc(m.Entries, func(a, b Entry) int { return strings.Compare(a.Path, b.Path) })
}

// Lookup returns the entry at p.
func (m Manifest) Lookup(p string) (Entry, bool) {
	i, ok := slices.BinarySearchFunc(m.Entries, p, func(e Entry, p string) int { return strings.Compare(e.Path, p) })
	if !ok {
		return Entry{}, false
	}
	return m.Entries[i], true
}

// Files and Bytes count the regular files of m and their total size.
func (m Manifest) Files() (files int, bytes int64) {
	for _, e := range m.Entries {
		if e.Kind == KindFile {
			files++
			bytes += e.Size
		}
	}
	return files, bytes
}

// MarshalJSON encodes m with an empty list rather than null, so that the
// encoding of an empty tree is as stable as any other.
//
// The bytes are exactly those of encoding/json on the struct (the field
// order, omitempty, and its escaping of strings: HTML characters, control
// characters and invalid UTF-8), which is what the server hashed and
// stored before this encoder existed, written without reflection: a
// client names every run of an unchanged project by the hash of this
// encoding, and a 4,000-file manifest took encoding/json ≈ 3 ms.
func (m Manifest) MarshalJSON() ([]byte, error) {
	n := len(`{"entries":[]}`)
	for _, e := range m.Entries {
		n += len(`{"path":"","kind":"","size":,"executable":true,"sha256":"","target":""},`) + 20 +
			len(e.Path) + len(e.Kind) + len(e.SHA256) + len(e.Target)
	}
	b := make([]byte, 0, n)
	b = append(b, `{"entries":[`...)
	for i, e := range m.Entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"path":`...)
		b = appendJSONString(b, e.Path)
		b = append(b, `,"kind":`...)
		b = appendJSONString(b, string(e.Kind))
		if e.Size != 0 {
			b = append(b, `,"size":`...)
			b = strconv.AppendInt(b, e.Size, 10)
		}
		if e.Executable {
			b = append(b, `,"executable":true`...)
		}
		if e.SHA256 != "" {
			b = append(b, `,"sha256":`...)
			b = appendJSONString(b, e.SHA256)
		}
		if e.Target != "" {
			b = append(b, `,"target":`...)
			b = appendJSONString(b, e.Target)
		}
		b = append(b, '}')
	}
	return append(b, "]}"...), nil
}

// appendJSONString appends s as encoding/json writes a string: as it is
// when every byte is printable ASCII that needs no escape, else through
// encoding/json itself (rare in file names, and then exactly the same).
func appendJSONString(b []byte, s string) []byte {
	plain := byte(1)
	for i := 0; i < len(s); i++ {
		plain &= jsonPlain[s[i]]
	}
	if plain == 0 {
		q, _ := json.Marshal(s) // a string always encodes
		return append(b, q...)
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// SHA256 names m by the SHA-256 of its canonical encoding (MarshalJSON,
// what the server stores), in lowercase hex: a client names an unchanged
// tree by it instead of sending it again.
func (m Manifest) SHA256() (string, error) {
	b, err := m.MarshalJSON() // json.Marshal(m) would only compact the same bytes again
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// ParseManifest decodes and validates a manifest from the network.
// Unknown fields are refused: a field this version does not know (a mode
// it would drop, say) must not be silently lost between client and worker.
func ParseManifest(data []byte) (Manifest, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("manifest: %w", err)
	}
	if dec.More() {
		return Manifest{}, errors.New("manifest: data after the JSON object")
	}
	if err := m.Validate(); err != nil {
		return Manifest{}, err
	}
	return m, nil
}

// InvalidError says what is wrong with a manifest, and where.
type InvalidError struct {
	Path    string // the entry at fault, "" for the manifest as a whole
	Problem string
}

func (e *InvalidError) Error() string {
	if e.Path == "" {
		return "invalid manifest: " + e.Problem
	}
	return fmt.Sprintf("invalid manifest: %q: %s", e.Path, e.Problem)
}

func invalid(p, format string, args ...any) error {
	return &InvalidError{Path: p, Problem: fmt.Sprintf(format, args...)}
}

// Validate checks a manifest that came from elsewhere before anything is
// written or trusted by it: entries sorted and unique, every path
// relative, clean and portable, nothing under a file or a symlink, files
// with a hash, symlinks whose targets stay inside the tree even through
// other symlinks, and counts and lengths bounded. The server calls it on
// what a client sends and the worker on what it is told to stage.
func (m Manifest) Validate() error {
	if len(m.Entries) > MaxEntries {
		return invalid("", "%d entries, more than the %d allowed", len(m.Entries), MaxEntries)
	}
	leaves := make(map[string]Kind, len(m.Entries)) // files and symlinks: nothing may lie under them
	links := make(map[string]string)
	var total int64
	for i, e := range m.Entries {
		if err := validPath(e.Path); err != nil {
			return err
		}
		if i > 0 && m.Entries[i-1].Path >= e.Path {
			if m.Entries[i-1].Path == e.Path {
				return invalid(e.Path, "listed twice")
			}
			return invalid(e.Path, "out of order: entries are sorted by path")
		}
		if err := e.validFields(); err != nil {
			return err
		}
		if total += e.Size; total > maxTotalBytes {
			return invalid("", "sizes add up to more than %d bytes", int64(maxTotalBytes))
		}
		if e.Kind != KindDir {
			leaves[e.Path] = e.Kind
		}
		if e.Kind == KindSymlink {
			if len(links) == MaxLinks {
				return invalid("", "more than %d symlinks", MaxLinks)
			}
			links[e.Path] = e.Target
		}
	}
	for _, e := range m.Entries {
		for dir := path.Dir(e.Path); dir != "."; dir = path.Dir(dir) {
			if k, ok := leaves[dir]; ok {
				return invalid(e.Path, "lies under %q, which is a %s", dir, k)
			}
		}
	}
	r := resolver{links: links, budget: maxLinkSteps}
	for _, e := range m.Entries {
		if e.Kind != KindSymlink {
			continue
		}
		if err := r.inside(e.Path); err != nil {
			return err
		}
	}
	return nil
}

func (e Entry) validFields() error {
	switch e.Kind {
	case KindFile:
		if e.Size < 0 {
			return invalid(e.Path, "negative size %d", e.Size)
		}
		if !validSHA256(e.SHA256) {
			return invalid(e.Path, "sha256 %q is not 64 lowercase hex digits", e.SHA256)
		}
		if e.Target != "" {
			return invalid(e.Path, "a file has no target")
		}
	case KindSymlink:
		if e.Size != 0 || e.SHA256 != "" || e.Executable {
			return invalid(e.Path, "a symlink has only a target")
		}
		if err := validTarget(e.Path, e.Target); err != nil {
			return err
		}
	case KindDir:
		if e.Size != 0 || e.SHA256 != "" || e.Executable || e.Target != "" {
			return invalid(e.Path, "a directory has only a path")
		}
	default:
		return invalid(e.Path, "kind %q is none of file, symlink, dir", e.Kind)
	}
	return nil
}

// validPath refuses anything that is not a relative, clean slash path. A
// backslash is refused although Linux allows it in a name, because it is a
// separator on Windows, where outputs may be downloaded: "a\..\..\x"
// would climb out. Colons stay allowed (timestamps use them); whoever
// writes on Windows must handle those names itself.
func validPath(p string) error {
	switch {
	case p == "":
		return invalid(p, "empty path")
	case len(p) > MaxPathLen:
		return invalid(p[:64]+"…", "path longer than %d bytes", MaxPathLen)
	case !utf8.ValidString(p):
		return invalid(p, "path is not valid UTF-8")
	case strings.ContainsAny(p, "\x00\\"):
		return invalid(p, "path holds a NUL or a backslash")
	case path.IsAbs(p):
		return invalid(p, "absolute path")
	case path.Clean(p) != p || p == ".":
		return invalid(p, "path is not clean (it should read %q)", path.Clean(p))
	}
	for _, name := range strings.Split(p, "/") {
		if name == ".." {
			return invalid(p, "path leaves the tree with ..")
		}
		if len(name) > MaxNameLen {
			return invalid(p, "a name longer than %d bytes", MaxNameLen)
		}
	}
	return nil
}

func validTarget(p, target string) error {
	switch {
	case target == "":
		return invalid(p, "symlink with an empty target")
	case len(target) > MaxPathLen:
		return invalid(p, "symlink target longer than %d bytes", MaxPathLen)
	case !utf8.ValidString(target):
		return invalid(p, "symlink target is not valid UTF-8")
	case strings.ContainsAny(target, "\x00\\"):
		return invalid(p, "symlink target holds a NUL or a backslash")
	case path.IsAbs(target):
		return invalid(p, "symlink to an absolute path %q", target)
	}
	return nil
}

func validSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	bad := byte(0)
	for i := 0; i < len(s); i++ {
		bad |= notLowerHex[s[i]]
	}
	return bad == 0
}

// notLowerHex is 1 for each byte that is not a lowercase hex digit: a
// table, as every file of every manifest has 64 of them to check.
var notLowerHex = func() (t [256]byte) {
	for i := range t {
		if (i < '0' || i > '9') && (i < 'a' || i > 'f') {
			t[i] = 1
		}
	}
	return t
}()

// jsonPlain is 1 for each byte encoding/json writes as it is in a string:
// printable ASCII but for ", \ and the HTML characters it escapes.
var jsonPlain = func() (t [256]byte) {
	for i := 0x20; i <= 0x7e; i++ {
		if i != '"' && i != '\\' && i != '<' && i != '>' && i != '&' {
			t[i] = 1
		}
	}
	return t
}()

// Unchanged reports whether cur is the same as in: same kind, content,
// mode and target.
func Unchanged(in, cur Entry) bool {
	return in.Kind == cur.Kind && in.Size == cur.Size && in.SHA256 == cur.SHA256 &&
		in.Executable == cur.Executable && in.Target == cur.Target
}

// Changed returns the entries of cur that are new or differ from inputs:
// what a job made. Directories are left out (outputs are files and
// links), and so are deletions: an input the job removed is not an output.
func Changed(inputs, cur Manifest) []Entry {
	var out []Entry
	for _, e := range cur.Entries {
		if e.Kind == KindDir {
			continue
		}
		if in, ok := inputs.Lookup(e.Path); ok && Unchanged(in, e) {
			continue
		}
		out = append(out, e)
	}
	return out
}
