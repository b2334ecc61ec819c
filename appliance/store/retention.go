package store

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
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

// Usage reports a file system's bytes in use and its size.
type Usage func() (used, total uint64, err error)

// StatfsUsage measures the file system that holds dir.
func StatfsUsage(dir string) Usage {
	return func() (uint64, uint64, error) {
		var st syscall.Statfs_t
		if err := syscall.Statfs(dir, &st); err != nil {
			return 0, 0, fmt.Errorf("statfs %s: %w", dir, err)
		}
		bs := uint64(st.Bsize)
		// Blocks reserved for root count as used: the store must not
		// count on them.
		return (st.Blocks - st.Bavail) * bs, st.Blocks * bs, nil
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
	UsedFraction   float64 // after pruning
}

type storedPhoto struct {
	rel   string // photos/…/x.jpg
	size  int64  // photo and sidecar
	mtime time.Time
}

// Prune applies r: by age first, then by disk use.
func (s *Store) Prune(r Retention, usage Usage, now time.Time) (PruneReport, error) {
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
	deleted := make([]bool, len(photos))
	del := func(i int) error {
		if err := s.deletePhoto(photos[i].rel, needed[photos[i].rel]); err != nil {
			return err
		}
		deleted[i] = true
		rep.FreedBytes += photos[i].size
		return nil
	}

	if r.MaxAge > 0 {
		for i, p := range photos {
			if now.Sub(p.mtime) > r.MaxAge && len(needed[p.rel]) == 0 {
				if err := del(i); err != nil {
					return rep, err
				}
				rep.DeletedForAge++
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
	frac := func() float64 { return float64(used) / float64(total) }
	// Sizes are what the files occupy; the estimate is corrected by
	// measuring again after each pass.
	free := func(includeNeeded bool) error {
		goal := uint64(r.LowWater * float64(total))
		for i, p := range photos {
			if used <= goal {
				break
			}
			if deleted[i] || (!includeNeeded && len(needed[p.rel]) > 0) {
				continue
			}
			if includeNeeded && len(needed[p.rel]) > 0 {
				rep.DroppedQueued++
				for _, t := range needed[p.rel] {
					if !contains(rep.DroppedTargets, t) {
						rep.DroppedTargets = append(rep.DroppedTargets, t)
					}
				}
			} else {
				rep.DeletedForSpace++
			}
			if err := del(i); err != nil {
				return err
			}
			used -= min(used, uint64(p.size))
		}
		var err error
		used, total, err = usage()
		return err
	}
	if frac() > r.HighWater {
		if err := free(false); err != nil {
			return rep, err
		}
	}
	if frac() > r.Critical {
		if err := free(true); err != nil {
			return rep, err
		}
	}
	rep.UsedFraction = frac()
	sort.Strings(rep.DroppedTargets)
	return rep, nil
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
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

// neededBy maps each photo still in an outbox to the targets owed it.
func (s *Store) neededBy() (map[string][]string, error) {
	targets, err := s.Targets()
	if err != nil {
		return nil, err
	}
	needed := map[string][]string{}
	for _, t := range targets {
		es, err := s.readEntries(t)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			needed[e.Photo] = append(needed[e.Photo], t)
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
	dir := filepath.Dir(p)
	// Empty day directories go too; a non-empty one refuses, which is fine.
	for dir != filepath.Join(s.dir, "photos") && os.Remove(dir) == nil {
		dir = filepath.Dir(dir)
	}
	return durable.SyncDir(dir)
}

// Autonomy estimates how many days free bytes last at the rate photos
// arrived during the window before now. It returns +Inf when nothing
// arrived (no rate to extrapolate from).
func (s *Store) Autonomy(window time.Duration, now time.Time, free uint64) (days, bytesPerDay float64, err error) {
	photos, err := s.listPhotos()
	if err != nil {
		return 0, 0, fmt.Errorf("store: %w", err)
	}
	var sum int64
	for _, p := range photos {
		if now.Sub(p.mtime) <= window {
			sum += p.size
		}
	}
	if sum == 0 {
		return math.Inf(1), 0, nil
	}
	bytesPerDay = float64(sum) / (window.Hours() / 24)
	return float64(free) / bytesPerDay, bytesPerDay, nil
}
