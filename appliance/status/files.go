package status

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/internal/redact"
)

// readFiles reads the status files <name>.json in dir. A missing dir is not
// an error: no service has written its status yet. Problems with one file
// are reported in its File.Error.
func readFiles(dir string, now time.Time, staleAfter time.Duration) ([]File, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return []File{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading status files: %w", err)
	}
	files := []File{}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		// Names starting with a dot are temporary files of atomic writes
		// (renameio) or otherwise hidden.
		if !ok || name == "" || strings.HasPrefix(name, ".") || e.IsDir() {
			continue
		}
		files = append(files, readFile(filepath.Join(dir, e.Name()), name, now, staleAfter))
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	return files, nil
}

func readFile(fn, name string, now time.Time, staleAfter time.Duration) File {
	file := File{Name: name}
	b, mtime, err := statusfile.ReadRaw(fn)
	if !mtime.IsZero() {
		file.ModTime = mtime
		age := now.Sub(mtime)
		file.AgeSeconds = max(age, 0).Seconds()
		file.Stale = age > staleAfter
	}
	if err != nil {
		file.Error = err.Error()
		return file
	}
	// A second line of defence: a service that wrote a URL with its
	// password or token into its status does not show it here.
	red := []byte(redact.String(string(b)))
	if !json.Valid(red) {
		file.Error = "status withheld: it could not be redacted"
		return file
	}
	file.Status = json.RawMessage(red)
	return file
}
