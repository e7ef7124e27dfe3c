// Package deps reads the Python dependencies a job declares, from a
// requirements.txt and from PEP 723 inline script metadata, refuses what a
// shared worker must not honour (other package indexes, URLs, local paths,
// editable installs, includes, environment variables, options), and
// normalizes the rest into a Set whose Key names the cached environment.
//
// Nothing here runs pip or Docker: the lines a Set yields are what the
// worker hands to pip, so pip never sees the user's file as written.
package deps

import (
	"fmt"
	"strings"
)

// CodeInvalidRequirements is the stable API error code for an InvalidError.
const CodeInvalidRequirements = "invalid_requirements"

// Problem is one refused line.
type Problem struct {
	// Source names where the line came from: "requirements.txt", or
	// "inline metadata in train.py".
	Source string
	// Line is 1-based; for a line continued with a backslash it is the
	// first physical line.
	Line int
	// Text is the line as read, comment removed and continuations joined;
	// for inline metadata, the dependency string or the offending line.
	Text string
	// Message says what is wrong and what is allowed instead.
	Message string
}

func (p Problem) String() string {
	return fmt.Sprintf("%s line %d: %q: %s", p.Source, p.Line, p.Text, p.Message)
}

// InvalidError lists every problem found in one go, so the user can fix
// them all before running again.
type InvalidError struct {
	Problems []Problem
}

func (e *InvalidError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Code returns CodeInvalidRequirements.
func (e *InvalidError) Code() string { return CodeInvalidRequirements }

// Hint says what a valid dependency list looks like.
func (e *InvalidError) Hint() string {
	return `list packages by name with optional extras, versions and markers (PEP 508), ` +
		`e.g. "numpy>=1.26,<2"; the package index is a worker setting (RGRID_PIP_INDEX_URL)`
}

// Messages shared by requirements.txt and inline metadata.
const (
	msgIndex       = "package indexes are a worker setting (RGRID_PIP_INDEX_URL); remove this line"
	msgTrustedHost = "trusted hosts are a worker setting, like the package index (RGRID_PIP_INDEX_URL); remove this line"
	msgEditable    = `editable installs are not allowed; list the package by name, e.g. "pkg==1.2"`
	msgInclude     = "including other requirement or constraint files is not allowed; list the requirements themselves here"
	msgEnvVar      = `environment variables ("${VAR}") are not expanded; write the value itself`
	msgOption      = `options are not allowed; list one package per line, e.g. "numpy==1.26.4"`
	msgReqOption   = `options after a requirement (--hash, --config-settings, ...) are not allowed; write the requirement alone, e.g. "numpy==1.26.4"`
	msgURL         = `URLs and direct references are not allowed; publish the package to the worker's package index and list it by name, e.g. "pkg==1.2"`
	msgLocalPath   = `local paths and archive files are not allowed; publish the package to the worker's package index and list it by name, e.g. "pkg==1.2"`
	msgMalformed   = `not a valid requirement (PEP 508): %s; a valid one looks like "numpy>=1.26,<2" or "requests[socks]==2.32.3; python_version >= \"3.9\""`
)
