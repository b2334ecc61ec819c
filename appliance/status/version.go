package status

import "runtime/debug"

// modulePath is lapsebox's module.
const modulePath = "github.com/lapsebox/lapsebox"

// BuildVersion returns the version of lapsebox this binary was built from,
// as the Go toolchain recorded it: the module version (a tag or
// pseudo-version, also when gokrazy builds lapsebox as a dependency), else
// the VCS revision ("-dirty" if modified), else "(devel)". Binaries set a
// version of their own with -ldflags "-X main.version=…" and use this only
// as a fallback.
func BuildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	return versionFrom(bi)
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
