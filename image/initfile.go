package image

import (
	"os"
	"path"
	"path/filepath"

	"github.com/lapsebox/lapsebox/image/initconf"
)

// initPackage is the image's /gokrazy/init. It reads what it starts from
// initconf.Path, so that it is the same binary in every build.
const initPackage = "github.com/lapsebox/lapsebox/image/init"

// initServices lists the programs of d in the order the init starts them:
// gokrazy's own first, then the appliance's.
func initServices(d *Description) []initconf.Service {
	var s []initconf.Service
	for _, p := range d.GokrazyPackages {
		s = append(s, initconf.Service{Path: "/gokrazy/" + path.Base(p)})
	}
	for _, svc := range d.Services {
		s = append(s, initconf.Service{
			Path:         "/user/" + svc.Binary(),
			Args:         svc.Flags,
			Env:          svc.Env,
			DontStart:    svc.DontStart,
			WaitForClock: svc.WaitForClock,
		})
	}
	return s
}

// writeInitConfig puts the init's configuration into the staged root.
func writeInitConfig(tree, buildTimestamp string, d *Description) error {
	c := initconf.Config{BuildTimestamp: buildTimestamp, Services: initServices(d)}
	data, err := c.Marshal()
	if err != nil {
		return err
	}
	p := filepath.Join(tree, filepath.FromSlash(initconf.Path))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, data, 0o644)
}
