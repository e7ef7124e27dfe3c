// Package version tells which build of rgrid this is.
package version

import "runtime/debug"

// Version is set at build time with -ldflags "-X github.com/rgrid/rgrid/internal/version.Version=v1.2.3".
var Version = ""

// String returns the version, or the module version / VCS revision the Go
// toolchain recorded, or "dev".
func String() string {
	if Version != "" {
		return Version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return "dev-" + s.Value[:12]
		}
	}
	return "dev"
}
