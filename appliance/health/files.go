package health

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/lapsebox/lapsebox/appliance/statusfile"
)

// ReadFiles reads the status files in dir (camerad's and uploadd's
// decoded, the others only dated), but self's: the judge's own is not
// judged.
func ReadFiles(dir, self string) map[string]File {
	files := map[string]File{}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || name == "" || name == self || strings.HasPrefix(name, ".") || e.IsDir() {
			continue
		}
		path := filepath.Join(dir, e.Name())
		var f File
		var v any = new(map[string]any)
		switch name {
		case "camerad":
			f.Camera = &statusfile.Camera{}
			v = f.Camera
		case "uploadd":
			f.Uploads = &statusfile.Uploads{}
			v = f.Uploads
		}
		mod, err := statusfile.Read(path, v)
		f.ModTime = mod
		if err != nil {
			f = File{ModTime: mod, Err: err}
		}
		files[name] = f
	}
	return files
}
