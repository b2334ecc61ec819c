package archive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/lapsebox/lapsebox/internal/durable"
)

// tmpDir holds a Dir's files being written, under its root; no key can
// reach it (keys have no element starting with a dot).
const tmpDir = ".archive-tmp"

// Dir is a Store in a directory, <root>/<key>: ingest's photo tree, or a
// replica on another disk. A photo appears under its key only complete
// and fsynced (a temporary file renamed into place, then the directory
// fsynced), so a power cut leaves the old file or the new one. Entries
// whose name starts with a dot (the spool, the records, temporary files)
// are not photos. Dir records no sum: Stat's SHA256 is "".
type Dir struct {
	root string
	tmp  string
}

// OpenDir opens (creating) a Dir at root, removing the temporary files a
// crash left.
func OpenDir(root string) (*Dir, error) {
	if root == "" {
		return nil, errors.New("archive: no directory")
	}
	d := &Dir{root: root, tmp: filepath.Join(root, tmpDir)}
	if err := durable.Scratch(d.tmp); err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	return d, nil
}

func (d *Dir) String() string { return "directory " + d.root }

// path returns key's file, after checking key.
func (d *Dir) path(key string) (string, error) {
	if err := CheckKey(key); err != nil {
		return "", fmt.Errorf("archive: %w", err)
	}
	return filepath.Join(d.root, filepath.FromSlash(key)), nil
}

// Put implements Store: the bytes go to a temporary file, hashed on the
// way; only if they hash to sum are they fsynced and renamed over key.
func (d *Dir) Put(ctx context.Context, key string, r io.Reader, size int64, sum string) error {
	fp, err := d.path(key)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(d.tmp, "put-*")
	if err != nil {
		return fmt.Errorf("archive: putting %s: %w", key, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after the rename, there is nothing to remove
	h := sha256.New()
	// One byte more than size tells a longer source, without copying
	// all of one that never ends.
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(ctxReader{ctx, r}, size+1))
	if err == nil {
		if got := hex.EncodeToString(h.Sum(nil)); n != size || got != sum {
			err = fmt.Errorf("%w: got %d bytes hashing to %s, want %d bytes hashing to %s", ErrMismatch, n, got, size, sum)
		}
	}
	if err == nil {
		err = f.Chmod(0o644) // as ingest's photos; CreateTemp makes 0600
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = durable.MkdirAll(filepath.Dir(fp))
	}
	if err == nil {
		err = os.Rename(tmp, fp)
	}
	if err == nil {
		err = durable.SyncDir(filepath.Dir(fp))
	}
	if err != nil {
		return fmt.Errorf("archive: putting %s: %w", key, err)
	}
	return nil
}

// Stat implements Store.
func (d *Dir) Stat(_ context.Context, key string) (Object, error) {
	fp, err := d.path(key)
	if err != nil {
		return Object{}, err
	}
	st, err := os.Lstat(fp)
	if errors.Is(err, fs.ErrNotExist) {
		return Object{}, fmt.Errorf("archive: %s: %w", key, ErrNotExist)
	}
	if err != nil {
		return Object{}, fmt.Errorf("archive: %w", err)
	}
	if !st.Mode().IsRegular() {
		return Object{}, fmt.Errorf("archive: %s: not a regular file", key)
	}
	return Object{Key: key, Size: st.Size()}, nil
}

// Open implements Store.
func (d *Dir) Open(_ context.Context, key string) (io.ReadCloser, error) {
	fp, err := d.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(fp)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("archive: %s: %w", key, ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	return f, nil
}

// Delete implements Store.
func (d *Dir) Delete(_ context.Context, key string) error {
	fp, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(fp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("archive: %w", err)
	}
	return nil
}

// Walk implements Store: every regular file under the root whose path
// has no element starting with a dot.
func (d *Dir) Walk(ctx context.Context, fn func(Object) error) error {
	return filepath.WalkDir(d.root, func(fp string, de fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("archive: walking %s: %w", d, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if fp == d.root {
			return nil
		}
		if strings.HasPrefix(de.Name(), ".") {
			if de.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !de.Type().IsRegular() {
			return nil
		}
		info, err := de.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		rel, _ := filepath.Rel(d.root, fp)
		return fn(Object{Key: filepath.ToSlash(rel), Size: info.Size()})
	})
}

// ctxReader ends a read when its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
