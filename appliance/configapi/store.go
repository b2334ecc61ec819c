package configapi

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/internal/durable"
)

// save makes data permDir/lapsebox/config.json, keeping the file it
// replaces as config.json.prev. Each file is written crash-safely
// (temporary file, fsync, rename, fsync of the directory) with mode 0600:
// it holds secrets. A power cut leaves the old configuration or the new
// one, and config.json.prev the one before either. Nothing is followed: a
// symlinked lapsebox directory is refused, and a symlink in place of
// config.json is replaced, not written through. Pushing the file in place
// changes nothing, so that config.json.prev stays the one before.
func save(permDir string, data []byte) (changed, prevKept bool, err error) {
	dir := filepath.Join(permDir, filepath.Dir(config.Path))
	fi, err := os.Lstat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := durable.MkdirAll(dir); err != nil {
			return false, false, err
		}
	case err != nil:
		return false, false, err
	case !fi.IsDir():
		return false, false, fmt.Errorf("%s is not a directory (%v): not written through", dir, fi.Mode().Type())
	}
	path := filepath.Join(permDir, config.Path)
	old, err := config.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		// A symlink, a FIFO, a huge file: replaced, not kept.
	case bytes.Equal(old, data):
		return false, false, nil
	default:
		if err := durable.WriteFile(filepath.Join(permDir, config.PrevPath), old); err != nil {
			return false, false, fmt.Errorf("keeping the previous configuration: %w", err)
		}
		prevKept = true
	}
	if err := durable.WriteFile(path, data); err != nil {
		return false, prevKept, err
	}
	return true, prevKept, nil
}
