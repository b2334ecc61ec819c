package fetch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/lapsebox/lapsebox/internal/durable"
)

// Sink stores downloaded objects.
type Sink interface {
	// Begin returns the partial copy of obj to append to (empty for a
	// new object), or nil if the sink has obj complete.
	Begin(obj Object) (Part, error)
}

// Part is an object being stored.
type Part interface {
	// Write appends to the copy.
	Write(p []byte) (int, error)
	// Size returns the bytes stored so far, before any Write.
	Size() int64
	// Truncate empties the copy.
	Truncate() error
	// Sync makes what was written durable, so that a later run resumes
	// from it.
	Sync() error
	// Commit verifies that the copy has size bytes, makes it durable and
	// puts it in place. The Part is closed afterwards.
	Commit(size int64) error
	// Close keeps the partial copy for a later run.
	Close() error
}

// Dir is a Sink that writes object Path of store S to
// <Root>/<S as 8 hex digits>/<Path>. A download in progress is the hidden
// file .<name>.part beside it; a complete one is fsynced, renamed into
// place and its directory fsynced, so that a crash or power loss leaves
// either the whole file or a partial one to resume. If a different file
// (another size) already has the name, as after the card was formatted and
// the camera counted again, the object gets the name with "~2", "~3"…
// before its extension rather than overwriting it.
type Dir struct {
	Root string
}

// StoreDir returns the directory of store id's files under root.
func StoreDir(root string, id uint32) string {
	return filepath.Join(root, fmt.Sprintf("%08x", id))
}

// maxCollisions bounds the names tried for one object.
const maxCollisions = 1000

// Begin finds obj's file, or its partial copy, or a free name for it.
func (d Dir) Begin(obj Object) (Part, error) {
	if !fs.ValidPath(obj.Path) || obj.Path == "." {
		return nil, fmt.Errorf("invalid object path %q", obj.Path)
	}
	base := filepath.Join(StoreDir(d.Root, obj.Storage), filepath.FromSlash(obj.Path))
	ext := path.Ext(base)
	for i := 1; i <= maxCollisions; i++ {
		final := base
		if i > 1 {
			final = fmt.Sprintf("%s~%d%s", strings.TrimSuffix(base, ext), i, ext)
		}
		fi, err := os.Stat(final)
		switch {
		case err == nil && fi.Mode().IsRegular() && fi.Size() == obj.Size:
			return nil, nil // have it
		case err == nil:
			continue // another file by that name
		case !errors.Is(err, fs.ErrNotExist):
			return nil, err
		}
		return openPart(final)
	}
	return nil, fmt.Errorf("%s: %d files by that name already", base, maxCollisions)
}

// filePart is a partial copy in a Dir.
type filePart struct {
	f          *os.File
	final, tmp string
	size       int64
	closed     bool
}

func openPart(final string) (*filePart, error) {
	dir := filepath.Dir(final)
	if err := durable.MkdirAll(dir); err != nil {
		return nil, err
	}
	tmp := filepath.Join(dir, "."+filepath.Base(final)+".part")
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &filePart{f: f, final: final, tmp: tmp, size: fi.Size()}, nil
}

func (p *filePart) Write(b []byte) (int, error) { return p.f.Write(b) }
func (p *filePart) Size() int64                 { return p.size }
func (p *filePart) Sync() error                 { return p.f.Sync() }

func (p *filePart) Truncate() error {
	p.size = 0
	return p.f.Truncate(0)
}

func (p *filePart) Close() error {
	if p.closed {
		return nil
	}
	p.closed = true
	return errors.Join(p.f.Sync(), p.f.Close())
}

func (p *filePart) Commit(size int64) error {
	if err := p.f.Sync(); err != nil {
		p.Close()
		return err
	}
	fi, err := p.f.Stat()
	if err != nil {
		p.Close()
		return err
	}
	if fi.Size() != size {
		p.Close()
		// Keep it: a later run resumes or starts over.
		return fmt.Errorf("%s: %d bytes stored, the camera says %d", p.final, fi.Size(), size)
	}
	if err := p.Close(); err != nil {
		return err
	}
	if err := os.Rename(p.tmp, p.final); err != nil {
		return err
	}
	return durable.SyncDir(filepath.Dir(p.final))
}
