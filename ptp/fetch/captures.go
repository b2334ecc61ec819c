package fetch

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/lapsebox/lapsebox/ptp/camera"
)

// Captures writes the files of pictures captured on the host into Dir
// under the camera's names, never overwriting: where a file of that name
// is there already, the picture gets a suffix ("IMG_0001-1.JPG"), the same
// for both files of a RAW+JPG pair. A file whose download starts again is
// written afresh, and one that did not arrive whole is removed.
//
// Use Sink as camera.Capture's sink, then Finish with what Capture
// returned. A Captures serves one capture at a time.
type Captures struct {
	Dir string

	stems map[string]string   // the camera's stem → the stem used in Dir
	open  map[uint32]*os.File // by object handle, until Finish
}

// Saved is a file of a picture and where it was written.
type Saved struct {
	camera.File
	Path string
}

// Sink returns the file to write f into (camera.Sink).
func (c *Captures) Sink(f camera.File) (io.Writer, error) {
	if c.open == nil {
		c.open = map[uint32]*os.File{}
	}
	if old := c.open[f.Handle]; old != nil {
		// Started again: the earlier copy is a prefix.
		old.Close()
		os.Remove(old.Name())
	}
	out, err := c.create(f.Name)
	if err != nil {
		return nil, err
	}
	c.open[f.Handle] = out
	return out, nil
}

// Finish closes the files of files, the ones camera.Capture returned, and
// removes every other file Sink opened: they did not arrive whole. It
// returns the files kept, also when closing one of them failed.
func (c *Captures) Finish(files []camera.File) ([]Saved, error) {
	var saved []Saved
	var errs []error
	for _, f := range files {
		out := c.open[f.Handle]
		if out == nil {
			continue
		}
		delete(c.open, f.Handle)
		if err := out.Close(); err != nil {
			errs = append(errs, fmt.Errorf("writing %s: %w", out.Name(), err))
			os.Remove(out.Name())
			continue
		}
		saved = append(saved, Saved{File: f, Path: out.Name()})
	}
	for h, out := range c.open {
		out.Close()
		os.Remove(out.Name())
		delete(c.open, h)
	}
	return saved, errors.Join(errs...)
}

// create creates a new file for the camera's file name in Dir and returns
// it open for writing, keeping the files of one picture (IMG_0001.CR2
// and IMG_0001.JPG) under one stem.
func (c *Captures) create(name string) (*os.File, error) {
	if c.stems == nil {
		c.stems = map[string]string{}
	}
	base := filepath.Base(filepath.FromSlash(name))
	if base == "." || base == ".." || base == string(filepath.Separator) {
		return nil, fmt.Errorf("the camera's file name %q is not a file name", name)
	}
	ext := filepath.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	if s, ok := c.stems[stem]; ok {
		// The picture's other file: the same stem if it is free.
		f, err := os.OpenFile(filepath.Join(c.Dir, s+ext), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if !errors.Is(err, os.ErrExist) {
			return f, err
		}
	}
	entries, err := os.ReadDir(c.Dir)
	if err != nil {
		return nil, err
	}
	taken := map[string]bool{}
	for _, e := range entries {
		taken[strings.TrimSuffix(e.Name(), filepath.Ext(e.Name()))] = true
	}
	for i := range maxCollisions {
		s := stem
		if i > 0 {
			s = fmt.Sprintf("%s-%d", stem, i)
		}
		if taken[s] {
			continue
		}
		f, err := os.OpenFile(filepath.Join(c.Dir, s+ext), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		c.stems[stem] = s
		return f, nil
	}
	return nil, fmt.Errorf("no free name for %s in %s", base, c.Dir)
}
