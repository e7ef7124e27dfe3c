package version

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestGet(t *testing.T) {
	t.Parallel()
	vcs := &debug.BuildInfo{
		Main: debug.Module{Version: "(devel)"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.time", Value: "2025-01-02T03:04:05Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	for _, tc := range []struct {
		name    string
		stamped Info
		bi      *debug.BuildInfo
		want    Info
	}{
		{"stamped by release.sh", Info{Version: "v1.2.3", Commit: "abc", BuildDate: "2025-02-03T04:05:06Z"}, vcs,
			Info{Version: "v1.2.3", Commit: "abc", Modified: true, BuildDate: "2025-02-03T04:05:06Z", CommitDate: "2025-01-02T03:04:05Z"}},
		{"go build in a checkout", Info{}, vcs,
			Info{Version: "dev-0123456789ab", Commit: "0123456789abcdef0123456789abcdef01234567", Modified: true, CommitDate: "2025-01-02T03:04:05Z"}},
		{"go install of a module version", Info{}, &debug.BuildInfo{Main: debug.Module{Version: "v0.4.0"}},
			Info{Version: "v0.4.0"}},
		{"no build information", Info{}, nil, Info{Version: "dev"}},
	} {
		tc.want.GoVersion, tc.want.OS, tc.want.Arch = runtime.Version(), runtime.GOOS, runtime.GOARCH
		if got := get(tc.stamped, tc.bi); got != tc.want {
			t.Errorf("%s: got %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
}
