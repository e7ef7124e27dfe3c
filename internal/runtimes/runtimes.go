// Package runtimes maps the short runtime names users type (python,
// python3.12, node, bash) to the container image and interpreter command
// that run them, and picks a runtime from a script's extension.
package runtimes

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// Runtime is one entry of the table.
type Runtime struct {
	Name    string   `toml:"name"`
	Image   string   `toml:"image"`
	Command []string `toml:"command"`
	// Extensions this runtime is chosen for when no runtime is named; only
	// one runtime per extension.
	Extensions []string `toml:"extensions"`
	// AliasOf names the runtime this one stands for ("python" → "python3.11").
	AliasOf string `toml:"alias_of"`
}

// Table is a set of runtimes by name.
type Table struct {
	byName map[string]Runtime
}

// DefaultName is the runtime used when neither --runtime nor the extension
// chooses one.
const DefaultName = "python3.11"

// Defaults is the built-in table. The images are the official ones; a config
// file can point any name at another image (a mirror, or a locally built one).
func Defaults() []Runtime {
	return []Runtime{
		{Name: "python3.11", Image: "python:3.11-slim", Command: []string{"python3.11"}, Extensions: []string{".py"}},
		{Name: "python3.12", Image: "python:3.12-slim", Command: []string{"python3.12"}},
		{Name: "python3.13", Image: "python:3.13-slim", Command: []string{"python3.13"}},
		{Name: "python", AliasOf: "python3.11"},
		{Name: "node20", Image: "node:20-slim", Command: []string{"node"}, Extensions: []string{".js", ".mjs"}},
		{Name: "node22", Image: "node:22-slim", Command: []string{"node"}},
		{Name: "node", AliasOf: "node20"},
		{Name: "bash", Image: "bash:5.2", Command: []string{"bash"}, Extensions: []string{".sh"}},
	}
}

// New builds a table from the defaults with overrides applied: an override
// with a known name replaces that entry's non-empty fields; a new name adds
// a runtime.
func New(overrides []Runtime) (*Table, error) {
	t := &Table{byName: map[string]Runtime{}}
	for _, r := range Defaults() {
		t.byName[r.Name] = r
	}
	for _, o := range overrides {
		if o.Name == "" {
			return nil, fmt.Errorf("runtime override without a name: every [[runtimes]] entry needs name = \"...\"")
		}
		r, ok := t.byName[o.Name]
		if !ok {
			r = Runtime{Name: o.Name}
		}
		if o.Image != "" {
			r.Image = o.Image
			r.AliasOf = ""
		}
		if len(o.Command) > 0 {
			r.Command = o.Command
			r.AliasOf = ""
		}
		if len(o.Extensions) > 0 {
			r.Extensions = o.Extensions
		}
		if o.AliasOf != "" {
			r.AliasOf = o.AliasOf
		}
		t.byName[o.Name] = r
	}
	for _, r := range t.byName {
		if r.AliasOf != "" {
			target, ok := t.byName[r.AliasOf]
			if !ok || target.AliasOf != "" {
				return nil, fmt.Errorf("runtime %q is an alias of %q, which is not a runtime with an image", r.Name, r.AliasOf)
			}
			continue
		}
		if r.Image == "" || len(r.Command) == 0 {
			return nil, fmt.Errorf("runtime %q needs both image and command", r.Name)
		}
	}
	return t, nil
}

// UnknownError is returned for a runtime name not in the table.
type UnknownError struct {
	Name      string
	Available []string
}

func (e *UnknownError) Error() string {
	return fmt.Sprintf("unknown runtime %q (available: %s)", e.Name, strings.Join(e.Available, ", "))
}

// Resolve returns the runtime for a name, following an alias. The returned
// runtime keeps the name asked for.
func (t *Table) Resolve(name string) (Runtime, error) {
	r, ok := t.byName[name]
	if !ok {
		return Runtime{}, &UnknownError{Name: name, Available: t.Names()}
	}
	if r.AliasOf != "" {
		target := t.byName[r.AliasOf]
		target.Name = r.Name
		target.AliasOf = r.AliasOf
		return target, nil
	}
	return r, nil
}

// ForFile chooses a runtime name: the explicit one if given, else by the
// file's extension, else the default.
func (t *Table) ForFile(explicit, fileName string) (Runtime, error) {
	if explicit != "" {
		return t.Resolve(explicit)
	}
	ext := strings.ToLower(filepath.Ext(fileName))
	for _, name := range t.Names() {
		r := t.byName[name]
		for _, e := range r.Extensions {
			if strings.EqualFold(e, ext) {
				return t.Resolve(name)
			}
		}
	}
	return t.Resolve(DefaultName)
}

// Names lists every runtime name, sorted.
func (t *Table) Names() []string {
	names := make([]string, 0, len(t.byName))
	for n := range t.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// All returns every runtime with aliases unresolved, sorted by name.
func (t *Table) All() []Runtime {
	out := make([]Runtime, 0, len(t.byName))
	for _, n := range t.Names() {
		out = append(out, t.byName[n])
	}
	return out
}
