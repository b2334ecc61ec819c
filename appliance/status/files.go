package status

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// maxFileSize bounds a status file. They are meant to be small; a bigger
// one is reported, not read.
const maxFileSize = 1 << 20

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
	f, err := os.Open(fn)
	if err != nil {
		file.Error = err.Error()
		return file
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		file.Error = err.Error()
		return file
	}
	if !fi.Mode().IsRegular() {
		file.Error = fmt.Sprintf("%s: not a regular file (%v)", fn, fi.Mode().Type())
		return file
	}
	file.ModTime = fi.ModTime()
	age := now.Sub(file.ModTime)
	file.AgeSeconds = age.Seconds()
	file.Stale = age > staleAfter
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		file.Error = fmt.Sprintf("reading %s: %v", fn, err)
		return file
	}
	switch {
	case len(b) > maxFileSize:
		file.Error = fmt.Sprintf("%s: larger than %d bytes", fn, maxFileSize)
	case !json.Valid(b):
		file.Error = fmt.Sprintf("%s: not valid JSON (%d bytes)", fn, len(b))
	default:
		file.Status = json.RawMessage(b)
	}
	return file
}
