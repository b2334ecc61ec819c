package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/lapsebox/lapsebox/internal/durable"
)

// Retention says when photos may leave the store.
type Retention struct {
	// MaxAge deletes photos older than this that no target still needs
	// (0 keeps them while space allows).
	MaxAge time.Duration
	// HighWater and LowWater are fractions of the file system in use:
	// above HighWater the oldest photos no target needs are deleted until
	// LowWater is reached.
	HighWater, LowWater float64
	// Critical is the fraction above which photos still owed to a target
	// are deleted too, oldest first: the camera keeps shooting rather than
	// stopping on a full disk.
	Critical float64
}

// Validate checks that the marks are ordered and within (0, 1].
func (r Retention) Validate() error {
	if !(0 < r.LowWater && r.LowWater < r.HighWater && r.HighWater < r.Critical && r.Critical <= 1) {
		return fmt.Errorf("retention: want 0 < low water (%v) < high water (%v) < critical (%v) <= 1", r.LowWater, r.HighWater, r.Critical)
	}
	if r.MaxAge < 0 {
		return fmt.Errorf("retention: negative maximum age %v", r.MaxAge)
	}
	return nil
}

// Usage reports the file system a store is on: bytes in use and its
// size, as df counts them (size is used plus available: blocks reserved
// for root count as neither, so a store never plans on them).
type Usage func() (used, total uint64, err error)

// StatfsUsage measures the file system that holds dir.
func StatfsUsage(dir string) Usage {
	return func() (uint64, uint64, error) {
		var st syscall.Statfs_t
		if err := syscall.Statfs(dir, &st); err != nil {
			return 0, 0, fmt.Errorf("statfs %s: %w", dir, err)
		}
		bs := uint64(st.Frsize)
		if bs == 0 {
			bs = uint64(st.Bsize)
		}
		used := (st.Blocks - st.Bfree) * bs
		return used, used + st.Bavail*bs, nil
	}
}

// PruneReport says what Prune deleted and why.
type PruneReport struct {
	DeletedForAge   int
	DeletedForSpace int
	// DroppedQueued counts photos deleted although targets still wanted
	// them (the disk was critically full); DroppedTargets names those
	// targets. Status pages must show this.
	DroppedQueued  int
	DroppedTargets []string `json:",omitempty"`
	FreedBytes     int64
	// Used and Total are the file system's use after pruning, as Usage
	// measured it; UsedFraction is their ratio.
	Used, Total  uint64
	UsedFraction float64
}

type storedPhoto struct {
	rel   string // photos/…/x.jpg
	size  int64  // photo and sidecar
	mtime time.Time
}

// Prune applies r so that need more bytes fit (the next capture; 0 to
// apply r as it stands): captures older than r.MaxAge that no target
// needs go first; then, while the use with need added is above the
// high-water mark, the oldest captures no target needs, down to the
// low-water mark; then, only while it is above the critical mark, the
// oldest captures still queued, just down to the critical mark. A capture
// (a RAW and its JPG) leaves whole. Usage is measured, not estimated,
// after each pass.
func (s *Store) Prune(r Retention, usage Usage, now time.Time, need uint64) (PruneReport, error) {
	var rep PruneReport
	if err := r.Validate(); err != nil {
		return rep, err
	}
	photos, err := s.listPhotos()
	if err != nil {
		return rep, fmt.Errorf("store: %w", err)
	}
	needed, err := s.neededBy()
	if err != nil {
		return rep, fmt.Errorf("store: %w", err)
	}
	caps := groupCaptures(photos)
	isNeeded := func(c storedCapture) bool {
		for _, f := range c.files {
			if len(needed[path.Base(f.rel)]) > 0 {
				return true
			}
		}
		return false
	}
	deleted := make([]bool, len(caps))
	del := func(i int) error {
		if err := s.deleteCapture(caps[i], needed); err != nil {
			return err
		}
		deleted[i] = true
		rep.FreedBytes += caps[i].size
		return nil
	}

	if r.MaxAge > 0 {
		for i, c := range caps {
			if now.Sub(c.mtime) > r.MaxAge && !isNeeded(c) {
				if err := del(i); err != nil {
					return rep, err
				}
				rep.DeletedForAge += len(c.files)
			}
		}
	}

	used, total, err := usage()
	if err != nil {
		return rep, err
	}
	if total == 0 {
		return rep, errors.New("store: file system reports size 0")
	}
	over := func(mark float64) bool { return float64(used+need) > mark*float64(total) }
	// Deleting goes by the files' sizes; the file system's own accounting
	// (blocks, metadata) is measured again after each pass, and a few
	// more passes correct the estimate.
	free := func(mark float64, queued bool) error {
		for pass := 0; pass < 4 && over(mark); pass++ {
			progress := false
			for i, c := range caps {
				if !over(mark) {
					break
				}
				if deleted[i] || (!queued && isNeeded(c)) {
					continue
				}
				for _, f := range c.files {
					targets := needed[path.Base(f.rel)]
					if len(targets) == 0 {
						rep.DeletedForSpace++
						continue
					}
					rep.DroppedQueued++
					for _, t := range targets {
						if !slices.Contains(rep.DroppedTargets, t) {
							rep.DroppedTargets = append(rep.DroppedTargets, t)
						}
					}
				}
				if err := del(i); err != nil {
					return err
				}
				progress = true
				used -= min(used, uint64(c.size))
			}
			var err error
			if used, total, err = usage(); err != nil || !progress {
				return err
			}
		}
		return nil
	}
	if over(r.HighWater) {
		if err := free(r.LowWater, false); err != nil {
			return rep, err
		}
	}
	if over(r.Critical) {
		if err := free(r.Critical, true); err != nil {
			return rep, err
		}
	}
	rep.Used, rep.Total = used, total
	rep.UsedFraction = float64(used) / float64(total)
	sort.Strings(rep.DroppedTargets)
	return rep, nil
}

// listPhotos returns every stored photo, oldest name first (names are
// capture times).
func (s *Store) listPhotos() ([]storedPhoto, error) {
	var photos []storedPhoto
	root := filepath.Join(s.dir, "photos")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		name := d.Name()
		if strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".tmp-") {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		size := info.Size()
		if sc, err := os.Stat(p + ".json"); err == nil {
			size += sc.Size()
		}
		rel, _ := filepath.Rel(s.dir, p)
		photos = append(photos, storedPhoto{rel: filepath.ToSlash(rel), size: size, mtime: info.ModTime()})
		return nil
	})
	sort.Slice(photos, func(i, j int) bool { return photos[i].rel < photos[j].rel })
	return photos, err
}

// storedCapture is the files of one capture (a RAW and its JPG): they
// share a name but for the extension, and leave the store together.
type storedCapture struct {
	files []storedPhoto
	size  int64
	mtime time.Time // the newest file's
}

// groupCaptures groups photos (sorted by name) into captures, in order.
func groupCaptures(photos []storedPhoto) []storedCapture {
	var caps []storedCapture
	index := map[string]int{}
	for _, p := range photos {
		key := strings.TrimSuffix(p.rel, path.Ext(p.rel))
		i, ok := index[key]
		if !ok {
			i = len(caps)
			index[key] = i
			caps = append(caps, storedCapture{})
		}
		c := &caps[i]
		c.files = append(c.files, p)
		c.size += p.size
		if p.mtime.After(c.mtime) {
			c.mtime = p.mtime
		}
	}
	return caps
}

// deleteCapture deletes every file of c. A capture of several files is
// deleted under an intent in delete/, which Open carries out if a power
// cut interrupts the deletion: the store never keeps half a capture.
func (s *Store) deleteCapture(c storedCapture, needed map[string][]string) error {
	var rels []string
	for _, f := range c.files {
		rels = append(rels, f.rel)
	}
	intent := ""
	if len(rels) > 1 {
		var err error
		if intent, err = s.beginDelete(rels); err != nil {
			return err
		}
	}
	for _, rel := range rels {
		if err := s.deletePhoto(rel, needed[path.Base(rel)]); err != nil {
			return err
		}
	}
	if intent == "" {
		return nil
	}
	if err := os.Remove(intent); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return durable.SyncDir(filepath.Dir(intent))
}

// beginDelete records durably that the photos rels are being deleted,
// and returns the record's path.
func (s *Store) beginDelete(rels []string) (string, error) {
	b, _ := json.Marshal(rels)
	name := path.Base(strings.TrimSuffix(rels[0], path.Ext(rels[0]))) + ".json"
	p := filepath.Join(s.dir, "delete", name)
	if err := durable.WriteFile(p, b); err != nil {
		return "", fmt.Errorf("store: deleting %s: %w", rels[0], err)
	}
	return p, nil
}

// finishDeletes carries out the deletions a crash interrupted.
func (s *Store) finishDeletes() error {
	dir := filepath.Join(s.dir, "delete")
	des, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	targets, err := s.Targets()
	if err != nil {
		return err
	}
	for _, d := range des {
		p := filepath.Join(dir, d.Name())
		if !strings.HasPrefix(d.Name(), ".tmp-") {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			var rels []string
			if err := json.Unmarshal(b, &rels); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			for _, rel := range rels {
				if !strings.HasPrefix(rel, "photos/") || path.Clean(rel) != rel {
					return fmt.Errorf("%s: %q is not a photo path", p, rel)
				}
				if err := s.deletePhoto(rel, targets); err != nil {
					return err
				}
			}
		}
		if err := os.Remove(p); err != nil {
			return err
		}
	}
	return durable.SyncDir(dir)
}

// neededBy maps the base name of each photo still in an outbox to the
// targets owed it. Entries are named after their photo's base name
// (unique: it is the capture time), so only directories are read.
func (s *Store) neededBy() (map[string][]string, error) {
	targets, err := s.Targets()
	if err != nil {
		return nil, err
	}
	needed := map[string][]string{}
	for _, t := range targets {
		des, err := os.ReadDir(filepath.Join(s.dir, "outbox", t))
		if err != nil {
			return nil, err
		}
		for _, d := range des {
			name, ok := strings.CutSuffix(d.Name(), ".json")
			if ok && !strings.HasPrefix(name, ".tmp-") {
				needed[name] = append(needed[name], t)
			}
		}
	}
	return needed, nil
}

// deletePhoto removes a photo's outbox entries, then the photo, then its
// sidecar: a crash in between leaves only orphans that Open removes.
func (s *Store) deletePhoto(rel string, targets []string) error {
	for _, t := range targets {
		if err := s.Done(Entry{Target: t, Photo: rel}); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	p := filepath.Join(s.dir, filepath.FromSlash(rel))
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("store: %w", err)
	}
	if err := os.Remove(p + ".json"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("store: %w", err)
	}
	// Empty day directories go too; a non-empty one refuses, which is
	// fine. One already gone (a deletion finished after a crash) is
	// passed over.
	dir := filepath.Dir(p)
	for dir != filepath.Join(s.dir, "photos") {
		if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
			break
		}
		dir = filepath.Dir(dir)
	}
	return durable.SyncDir(dir)
}
