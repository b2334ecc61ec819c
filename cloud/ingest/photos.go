package ingest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/lapsebox/lapsebox/cloud/archive"
	"github.com/lapsebox/lapsebox/internal/durable"
)

// maxSuffix bounds the "-n" suffixes tried for one name.
const maxSuffix = 1000

// photos is the tree of received photos, <root>/<device>/<name>. A file
// appears under its final name only complete and fsynced (it is hard-linked
// there, which also never replaces an existing file); temporary files live
// in <root>/.tmp, which no device name can reach.
type photos struct {
	root string
	tmp  string

	mu   sync.Mutex // serialises commits, so two never pick the same name
	sums sync.Map   // file path → cachedSum
}

type cachedSum struct {
	size  int64
	mtime time.Time
	sum   string
}

func openPhotos(root string) (*photos, error) {
	p := &photos{root: root, tmp: filepath.Join(root, ".tmp")}
	// Leftovers of a commit a crash cut short; never visible as photos.
	if err := durable.Scratch(p.tmp); err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	return p, nil
}

func (p *photos) path(device, name string) string {
	return filepath.Join(p.root, device, filepath.FromSlash(name))
}

// sum returns the hex SHA-256 of the file at fp, cached by size and mtime.
func (p *photos) sum(fp string, st fs.FileInfo) (string, error) {
	if c, ok := p.sums.Load(fp); ok {
		c := c.(cachedSum)
		if c.size == st.Size() && c.mtime.Equal(st.ModTime()) {
			return c.sum, nil
		}
	}
	s, err := fileSHA256(fp)
	if err != nil {
		return "", err
	}
	p.sums.Store(fp, cachedSum{st.Size(), st.ModTime(), s})
	return s, nil
}

func fileSHA256(fp string) (string, error) {
	f, err := os.Open(fp)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("reading %s: %w", fp, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// find returns the name under which device's photo name with sha256 sum
// was already received (name itself or name-n), or "".
func (p *photos) find(device, name, sum string) (string, error) {
	for n := 0; n < maxSuffix; n++ {
		cand := suffixed(name, n)
		fp := p.path(device, cand)
		st, err := os.Lstat(fp)
		if errors.Is(err, os.ErrNotExist) {
			return "", nil // suffixes are taken in order: a gap ends them
		}
		if err != nil {
			return "", err
		}
		if !st.Mode().IsRegular() {
			continue
		}
		s, err := p.sum(fp, st)
		if err != nil {
			return "", err
		}
		if s == sum {
			return cand, nil
		}
	}
	return "", nil
}

// recorded returns the name under which device's photo name was received
// with sha256 sum according to the archive's records (name itself or
// name-n), whatever its local copy hashes to now, or "".
func (p *photos) recorded(device, name, sum string, sums *archive.Sums) (string, error) {
	for n := 0; n < maxSuffix; n++ {
		cand := suffixed(name, n)
		if _, err := os.Lstat(p.path(device, cand)); errors.Is(err, os.ErrNotExist) {
			return "", nil
		}
		rec, err := sums.Get(device + "/" + cand)
		if err != nil {
			return "", err
		}
		if rec == sum {
			return cand, nil
		}
	}
	return "", nil
}

// commit stores src (whose SHA-256 the caller verified to be sum) as
// device's photo name, or name-n if a different photo holds name, and
// returns the name used. A photo already there with the same sum is not
// stored twice. src is left for the caller to remove.
func (p *photos) commit(device, name, sum, src string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if got, err := p.find(device, name, sum); err != nil || got != "" {
		return got, err
	}
	tmp := filepath.Join(p.tmp, fmt.Sprintf("%s-%d", sum[:16], time.Now().UnixNano()))
	if err := os.Link(src, tmp); err != nil {
		if err := copyFile(src, tmp); err != nil {
			return "", err
		}
	}
	defer os.Remove(tmp)
	if err := syncFile(tmp); err != nil {
		return "", err
	}
	dir := filepath.Dir(p.path(device, name))
	if err := durable.MkdirAll(dir); err != nil {
		return "", err
	}
	for n := 0; n < maxSuffix; n++ {
		cand := suffixed(name, n)
		fp := p.path(device, cand)
		err := os.Link(tmp, fp)
		if errors.Is(err, os.ErrExist) {
			continue // find saw every earlier name holds another photo
		}
		if err != nil {
			return "", err
		}
		if err := durable.SyncDir(dir); err != nil {
			return "", err
		}
		if st, err := os.Stat(fp); err == nil {
			p.sums.Store(fp, cachedSum{st.Size(), st.ModTime(), sum})
		}
		return cand, nil
	}
	return "", fmt.Errorf("no free name for %s/%s after %d tries", device, name, maxSuffix)
}

// Photo is one received file in a listing.
type Photo struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// list returns device's photos whose names start with prefix.
func (p *photos) list(device, prefix string) ([]Photo, error) {
	base := filepath.Join(p.root, device)
	start := base
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		start = filepath.Join(base, filepath.FromSlash(prefix[:i]))
	}
	out := []Photo{}
	err := filepath.WalkDir(start, func(fp string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		rel, _ := filepath.Rel(base, fp)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel != "." && !strings.HasPrefix(rel+"/", prefix) && !strings.HasPrefix(prefix, rel+"/") {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || strings.HasPrefix(path.Base(rel), ".") || !strings.HasPrefix(rel, prefix) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, Photo{Name: rel, Size: info.Size()})
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copying %s: %w", src, err)
	}
	return out.Close()
}

func syncFile(fp string) error {
	f, err := os.Open(fp)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", fp, err)
	}
	return nil
}
