package status

import (
	"runtime/debug"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/image/release"
)

func TestVersionFrom(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	for _, tt := range []struct {
		name string
		bi   debug.BuildInfo
		want string
	}{
		{
			name: "tagged main module",
			bi:   debug.BuildInfo{Main: debug.Module{Path: modulePath, Version: "v0.3.1"}},
			want: "v0.3.1",
		},
		{
			name: "gokrazy build, lapsebox a dependency",
			bi: debug.BuildInfo{
				Main:     debug.Module{Path: "gokrazy/build/statusd", Version: "(devel)"},
				Deps:     []*debug.Module{{Path: "github.com/gokrazy/gokrazy", Version: "v0.0.0-20260418085648-c38c3134b8a7"}, {Path: modulePath, Version: "v0.0.0-20260714100000-0123456789ab"}},
				Settings: vcs("ffffffffffffffffffffffffffffffffffffffff", "false"),
			},
			want: "v0.0.0-20260714100000-0123456789ab",
		},
		{
			name: "dependency replaced by a directory",
			bi: debug.BuildInfo{
				Main: debug.Module{Path: "gokrazy/build/statusd", Version: "(devel)"},
				Deps: []*debug.Module{{Path: modulePath, Version: "v0.3.1", Replace: &debug.Module{Path: "/src/lapsebox"}}},
			},
			want: "(devel)",
		},
		{
			name: "dirty work tree",
			bi:   debug.BuildInfo{Main: debug.Module{Path: modulePath, Version: "(devel)"}, Settings: vcs("0123456789abcdef0123", "true")},
			want: "0123456789ab-dirty",
		},
		{
			name: "clean work tree",
			bi:   debug.BuildInfo{Main: debug.Module{Path: modulePath}, Settings: vcs("0123456789abcdef0123", "false")},
			want: "0123456789ab",
		},
		{
			name: "nothing known",
			bi:   debug.BuildInfo{Main: debug.Module{Path: modulePath, Version: "(devel)"}},
			want: "(devel)",
		},
	} {
		if got := versionFrom(&tt.bi); got != tt.want {
			t.Errorf("%s: versionFrom = %q, want %q", tt.name, got, tt.want)
		}
	}
	if v := BuildVersion(); v == "" {
		t.Errorf("BuildVersion() is empty")
	}
}

// A test binary carries no VCS stamp, as the image's binaries do not:
// the version comes from the image's build file.
func TestBuildVersionFromImage(t *testing.T) {
	root := t.TempDir()
	if got := buildVersion(root); got != "(devel)" && got != "unknown" {
		t.Fatalf("without a build file: %q", got)
	}
	if err := release.StageFiles(root, release.BuildInfo{Board: "pc", Hostname: "x", Build: time.Now(), Version: "0123456789ab-dirty"}, nil); err != nil {
		t.Fatal(err)
	}
	if got := buildVersion(root); got != "0123456789ab-dirty" {
		t.Errorf("with the image's build file: %q", got)
	}
}
