// Package version tells which build of rgrid this is: what
// scripts/release.sh stamped into it, else what the Go toolchain recorded
// from the module and the git checkout it was built in.
package version

import (
	"runtime"
	"runtime/debug"
)

// Set at build time, as scripts/release.sh does, with
//
//	-ldflags "-X github.com/rgrid/rgrid/internal/version.Version=v1.2.3
//	          -X github.com/rgrid/rgrid/internal/version.Commit=<git sha>
//	          -X github.com/rgrid/rgrid/internal/version.Date=2006-01-02T15:04:05Z"
var (
	Version = ""
	Commit  = ""
	Date    = "" // the build's time, RFC 3339 in UTC
)

// Info describes the running build. Empty fields are unknown.
type Info struct {
	Version  string `json:"version"`
	Commit   string `json:"commit,omitempty"`
	Modified bool   `json:"modified,omitempty"` // built from a checkout with uncommitted changes
	// BuildDate is when it was built; a plain "go build" does not record
	// that, only CommitDate.
	BuildDate  string `json:"build_date,omitempty"`
	CommitDate string `json:"commit_date,omitempty"`
	GoVersion  string `json:"go_version"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
}

// Get returns the running build's Info.
func Get() Info {
	bi, _ := debug.ReadBuildInfo() // nil when the binary has none
	return get(Info{Version: Version, Commit: Commit, BuildDate: Date}, bi)
}

// String returns the version: the stamped one, or the module version, or
// "dev-" and the commit the toolchain recorded, or "dev".
func String() string { return Get().Version }

// get fills what stamped lacks from bi (nil when the binary has no build
// information).
func get(stamped Info, bi *debug.BuildInfo) Info {
	info := stamped
	info.GoVersion, info.OS, info.Arch = runtime.Version(), runtime.GOOS, runtime.GOARCH
	if bi != nil {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if info.Commit == "" {
					info.Commit = s.Value
				}
			case "vcs.time":
				info.CommitDate = s.Value
			case "vcs.modified":
				info.Modified = s.Value == "true"
			}
		}
	}
	switch {
	case info.Version != "":
	case bi != nil && bi.Main.Version != "" && bi.Main.Version != "(devel)":
		info.Version = bi.Main.Version
	case len(info.Commit) >= 12:
		info.Version = "dev-" + info.Commit[:12]
	default:
		info.Version = "dev"
	}
	return info
}
