package workdir

import (
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Reasons for what is left out whatever the ignore files say, or unless
// a .rgridignore line sends it after all.
const (
	reasonGit     = "`.git/` is never sent"
	reasonFIFO    = "a FIFO: only regular files, directories and symlinks are sent"
	reasonSocket  = "a socket: only regular files, directories and symlinks are sent"
	reasonDevice  = "a device: only regular files, directories and symlinks are sent"
	reasonOdd     = "not a regular file, directory or symlink: not sent"
	reasonUTF8    = "its name is not valid UTF-8: rename it to send it"
	reasonBslash  = "its name holds a backslash, a separator on Windows: rename it to send it"
	reasonTooLong = "path longer than 4096 bytes"
)

// builtinDirs are directories nobody means to send: caches that the job
// remakes and package trees that belong to one machine. A .rgridignore
// line ("!node_modules/") sends one after all.
var builtinDirs = map[string]string{
	"__pycache__":   "`__pycache__/` (Python's bytecode cache) is not sent unless .rgridignore has `!__pycache__/`",
	"node_modules":  "`node_modules/` is not sent unless .rgridignore has `!node_modules/`",
	".venv":         "virtualenv (.venv/): not sent unless .rgridignore has `!.venv/`; list packages in requirements.txt",
	"venv":          "virtualenv (venv/): not sent unless .rgridignore has `!venv/`; list packages in requirements.txt",
	".pytest_cache": "`.pytest_cache/` is not sent unless .rgridignore has `!.pytest_cache/`",
	".mypy_cache":   "`.mypy_cache/` is not sent unless .rgridignore has `!.mypy_cache/`",
	".ruff_cache":   "`.ruff_cache/` is not sent unless .rgridignore has `!.ruff_cache/`",
}

// OutputsDir is where rgrid run writes a batch's outputs by default, in
// the working directory: left out at its top (a batch's outputs are no
// input of the next run) unless .rgridignore has `!rgrid-outputs/`.
const OutputsDir = "rgrid-outputs"

const reasonOutputs = "`rgrid-outputs/` (where batches' outputs are written) is not sent unless .rgridignore has `!rgrid-outputs/`"

// builtinFiles are files nobody means to send.
var builtinFiles = map[string]string{
	".DS_Store": "macOS Finder metadata (.DS_Store) is not sent",
}

// envMarkers tell a Python environment by what it holds, whatever its
// name: virtualenv and venv write pyvenv.cfg (older virtualenvs only
// bin/activate), conda writes conda-meta/.
var envMarkers = []struct{ name, reason string }{
	{"pyvenv.cfg", "virtualenv (pyvenv.cfg): not sent; list packages in requirements.txt"},
	{"bin/activate", "virtualenv (bin/activate): not sent; list packages in requirements.txt"},
	{"conda-meta", "conda environment (conda-meta/): not sent; list packages in requirements.txt"},
}

// builtin returns why the entry at rel is left out by default by its name,
// or "". A directory may also be a Python environment (envMarker).
func builtin(rel string, isDir bool) string {
	name := path.Base(rel)
	if !isDir {
		return builtinFiles[name]
	}
	if r, ok := builtinDirs[name]; ok {
		return r
	}
	if rel == OutputsDir {
		return reasonOutputs
	}
	return ""
}

// envMarker returns why the directory rel is left out as a Python
// environment, or "". names, when not nil, are those of the markers'
// first names (pyvenv.cfg, bin, conda-meta) the directory holds (its
// listing): only what they make possible is looked up.
func envMarker(root *os.Root, rel string, names map[string]bool) string {
	for _, m := range envMarkers {
		if names != nil && !names[strings.Split(m.name, "/")[0]] {
			continue
		}
		if names != nil && !strings.Contains(m.name, "/") {
			return m.reason // listed: it is there
		}
		if _, err := root.Lstat(filepath.FromSlash(rel + "/" + m.name)); err == nil {
			return m.reason
		}
	}
	return ""
}

// special returns why a file of this type is not sent, or "" for the
// three kinds that are.
func special(mode fs.FileMode) string {
	switch t := mode.Type(); {
	case t == 0 || t == fs.ModeDir || t == fs.ModeSymlink:
		return ""
	case t&fs.ModeNamedPipe != 0:
		return reasonFIFO
	case t&fs.ModeSocket != 0:
		return reasonSocket
	case t&fs.ModeDevice != 0:
		return reasonDevice
	}
	return reasonOdd
}
