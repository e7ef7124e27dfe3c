// Package jobhint names the fix for a job's outcome: the hint the CLI
// prints under a failed job and the web console shows beside its failure
// summary, so that both say the same.
package jobhint

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/rgrid/rgrid/client"
)

// For names the fix for a job's outcome, or "" when there is nothing
// to suggest.
func For(j client.Job) string {
	if j.Reason == "disk_full" {
		more := "4g"
		if d := j.Limits.DiskBytes; d > 0 {
			more = formatFlagBytes(2 * d)
		}
		return "give it more room with --disk, e.g. --disk " + more + " (its working directory holds its inputs and what it writes)"
	}
	switch j.State {
	case client.StateFailed:
		if j.Failure != nil {
			return failureHint(*j.Failure)
		}
	case client.StateOOMKilled:
		more := "2g"
		if m := j.Limits.MemoryBytes; m > 0 {
			more = formatFlagBytes(2 * m)
		}
		return "give it more memory with --memory, e.g. --memory " + more
	case client.StateTimedOut:
		more := "30m"
		if s := j.Limits.TimeoutSeconds; s > 0 {
			more = fmt.Sprintf("%ds", 2*s)
		}
		return "give it more time with --timeout, e.g. --timeout " + more
	case client.StateLost:
		return "its worker stopped responding; run it again, and check the worker with \"rgrid workers\""
	case client.StateError:
		switch j.Reason {
		case "image_pull_failed":
			return "check the runtime's image name (rgrid runtimes); on a machine without registry access, load or build the image, or point the runtime at a local image in the config file"
		case "dependency_install_failed":
			return "fix the package names and versions in requirements.txt or the script's inline metadata; pip's whole output is in the job's log (rgrid logs " + j.ID + ")"
		case "executor_unavailable":
			return "the worker cannot run jobs: check Docker on the worker machine"
		case "output_upload_failed":
			return "the job ran; its worker could not store its outputs (the server's blob store, or --max-outputs): rgrid logs " + j.ID + " has its output, and the worker's log says why"
		case "input_stage_failed":
			return "the worker could not fetch the job's files from the server; run it again, and check the server's blob store (--blobs)"
		}
		return "this is a platform failure, not the script's; rgrid status " + j.ID + " shows every attempt"
	}
	return ""
}

// formatFlagBytes writes a size the way --memory takes it.
func formatFlagBytes(n int64) string {
	if n%(1<<30) == 0 {
		return fmt.Sprintf("%dg", n>>30)
	}
	return fmt.Sprintf("%dm", n>>20)
}

var missingModule = regexp.MustCompile(`^No module named '([^']+)'`)

// pipNames are import names whose package on PyPI is called otherwise.
var pipNames = map[string]string{
	"cv2": "opencv-python", "sklearn": "scikit-learn", "yaml": "pyyaml", "PIL": "pillow",
	"bs4": "beautifulsoup4", "dateutil": "python-dateutil", "dotenv": "python-dotenv",
	"jwt": "pyjwt", "attr": "attrs", "Crypto": "pycryptodome", "serial": "pyserial",
	"magic": "python-magic", "docx": "python-docx", "pptx": "python-pptx", "OpenSSL": "pyopenssl",
	"google.protobuf": "protobuf", "skimage": "scikit-image", "fitz": "pymupdf",
}

// failureHint names the fix for a script's exception, when there is a
// known one.
func failureHint(f client.Failure) string {
	if f.Exception != "ModuleNotFoundError" && f.Exception != "ImportError" {
		return ""
	}
	m := missingModule.FindStringSubmatch(f.Message)
	if m == nil {
		return ""
	}
	mod := m[1]
	pkg, ok := pipNames[mod]
	if !ok {
		top, _, _ := strings.Cut(mod, ".")
		if pkg, ok = pipNames[top]; !ok {
			pkg = top
		}
	}
	hint := "add " + pkg + " to a requirements.txt beside the script (or to its inline \"# /// script\" dependencies); rgrid installs it before the run"
	if pkg != mod && !strings.HasPrefix(mod, pkg+".") {
		hint += " (the module " + mod + " comes from the package " + pkg + ")"
	}
	return hint
}
