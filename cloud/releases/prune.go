package releases

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/lapsebox/lapsebox/image/release"
)

// Every publication leaves the previous release's manifest, its blocks
// and the patches that led to it behind: a root's worth of disk a
// release, for ever. After each publication the store keeps, per board
// and channel, the latest and the Keep−1 releases before it (a device
// that missed a few still gets a patch from its root), and every release
// a device reports running; it deletes the other manifests, the patches
// to a release no longer latest or from a part (root or boot file
// system) no kept release has, and the blocks no kept release names once
// they are blockGrace old: a release's blocks are stored before its
// manifest is published, perhaps by another operator while this one
// publishes.

// DefaultKeep is how many releases of a board and channel the store
// keeps when Store.Keep is 0: the latest and those a publication makes
// patches from.
const DefaultKeep = 1 + patchesAtPublish

// blockGrace is how long a block no release names is kept: the time a
// publication may take between its blocks and its manifest.
const blockGrace = 24 * time.Hour

// Pruned is what a Prune removed.
type Pruned struct {
	Manifests, Patches, Blocks int
	Bytes                      int64
}

// Prune deletes the manifests, patches and blocks no kept release needs
// (see above). Without the running builds (Running fails) it keeps every
// release and deletes only patches to releases no longer latest.
func (s *Store) Prune(ctx context.Context) (Pruned, error) {
	var p Pruned
	keepAll := false
	var running map[string]time.Time
	if s.Running != nil {
		var err error
		if running, err = s.Running(ctx); err != nil {
			s.log.Warn("releases: pruning without the builds devices run: keeping every release", "err", err)
			keepAll = true
		}
	}
	// No patch is made while its parts' blocks may go.
	s.patchMu.Lock()
	defer s.patchMu.Unlock()
	s.mu.RLock()
	latestRoots, latestParts := map[string]bool{}, map[string]bool{}
	for _, l := range s.latest {
		latestRoots[l.manifest.Root.SHA256] = true
		latestParts[l.manifest.Root.SHA256] = true
		latestParts[l.manifest.Boot.SHA256] = true
	}
	s.mu.RUnlock()

	keep := s.Keep
	if keep <= 0 {
		keep = DefaultKeep
	}
	byKey := map[string][]storedManifest{}
	for _, sm := range s.storedFiles() {
		k := sm.m.Board + "/" + sm.m.Channel
		byKey[k] = append(byKey[k], sm)
	}
	keptParts, keptBlocks := map[string]bool{}, map[string]bool{}
	var errs []error
	drop := func(name string, count *int) {
		n, err := remove(name)
		if err != nil {
			errs = append(errs, err)
			return
		}
		*count++
		p.Bytes += n
	}
	for _, list := range byKey {
		slices.SortFunc(list, func(a, b storedManifest) int { return b.m.Build.Compare(a.m.Build) })
		for i, sm := range list {
			if i < keep || keepAll || runs(running, sm.m.Build) || latestRoots[sm.m.Root.SHA256] {
				keptParts[sm.m.Root.SHA256] = true
				keptParts[sm.m.Boot.SHA256] = true
				for _, h := range sm.m.Hashes() {
					keptBlocks[h] = true
				}
				continue
			}
			drop(sm.path, &p.Manifests)
		}
	}

	entries, _ := os.ReadDir(filepath.Join(s.dir, "patches"))
	for _, e := range entries {
		from, to, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".none"), "-")
		if !ok || !release.IsHash(from) || !release.IsHash(to) {
			continue // a patch being written
		}
		if latestParts[to] && keptParts[from] {
			continue
		}
		drop(filepath.Join(s.dir, "patches", e.Name()), &p.Patches)
	}

	if !keepAll {
		old := time.Now().Add(-blockGrace)
		entries, _ = os.ReadDir(filepath.Join(s.dir, "blocks"))
		for _, e := range entries {
			if !release.IsHash(e.Name()) || keptBlocks[e.Name()] {
				continue
			}
			if fi, err := e.Info(); err != nil || fi.ModTime().After(old) {
				continue
			}
			drop(s.blockPath(e.Name()), &p.Blocks)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return p, fmt.Errorf("releases: pruning: %w", err)
	}
	return p, nil
}

// runs reports whether a device runs build.
func runs(running map[string]time.Time, build time.Time) bool {
	for _, b := range running {
		if b.Equal(build) {
			return true
		}
	}
	return false
}

// remove removes name and returns its size; a file already gone is no
// error.
func remove(name string) (int64, error) {
	fi, err := os.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, err
	}
	return fi.Size(), nil
}
