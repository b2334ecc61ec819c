package status

import (
	"runtime/debug"

	"github.com/lapsebox/lapsebox/image/release"
)

// modulePath is lapsebox's module.
const modulePath = "github.com/lapsebox/lapsebox"

// BuildVersion returns the version of lapsebox this binary was built from,
// as the Go toolchain recorded it: the module version (a tag or
// pseudo-version, also when gokrazy builds lapsebox as a dependency), else
// the VCS revision ("-dirty" if modified), else the version the image
// recorded for all its binaries (release.BuildPath: the image build
// leaves VCS stamps out, so that an unchanged binary stays unchanged from
// one release to the next), else "(devel)". Binaries set a version of
// their own with -ldflags "-X main.version=…" and use this only as a
// fallback.
func BuildVersion() string {
	return buildVersion("/")
}

func buildVersion(root string) string {
	v := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		v = versionFrom(bi)
	}
	if v != "(devel)" && v != "unknown" {
		return v
	}
	if b, err := release.ReadBuildInfo(root); err == nil && b.Version != "" {
		return b.Version
	}
	return v
}

func versionFrom(bi *debug.BuildInfo) string {
	var m *debug.Module
	if bi.Main.Path == modulePath {
		m = &bi.Main
	} else {
		for _, d := range bi.Deps {
			if d.Path == modulePath {
				m = d
				break
			}
		}
	}
	if m != nil && m.Replace != nil {
		m = m.Replace // a local directory has no version
	}
	if m != nil && m.Version != "" && m.Version != "(devel)" {
		return m.Version
	}
	if bi.Main.Path != modulePath {
		// The VCS settings describe the main module, not lapsebox.
		return "(devel)"
	}
	var rev string
	var dirty bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "(devel)"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}
