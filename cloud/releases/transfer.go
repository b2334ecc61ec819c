package releases

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/lapsebox/lapsebox/image/release"
)

// RunningBuilds returns each device's running build, as its last
// heartbeat says (the fleet's view).
type RunningBuilds func(ctx context.Context) (map[string]time.Time, error)

// transfers estimates what m costs a device on each earlier release of
// its board kept in the store, and on each build devices run (by
// running, if set), oldest first.
func (s *Store) transfers(ctx context.Context, m *release.Manifest) []release.Transfer {
	wire := s.wireSizes()
	byBuild := map[time.Time]*release.Transfer{}
	manifests := map[time.Time]*release.Manifest{}
	for _, old := range s.stored() {
		if old.Board != m.Board || !old.Build.Before(m.Build) {
			continue
		}
		byBuild[old.Build.UTC()] = &release.Transfer{Version: old.Version, Build: old.Build.UTC(), Bytes: lacking(m, old, wire)}
		manifests[old.Build.UTC()] = old
	}
	if s.Running != nil {
		builds, err := s.Running(ctx)
		if err != nil {
			s.log.Warn("releases: reading the devices' builds", "err", err)
		}
		for dev, b := range builds {
			b = b.UTC()
			if b.IsZero() || !b.Before(m.Build) {
				continue
			}
			t := byBuild[b]
			if t == nil {
				t = &release.Transfer{Build: b, Bytes: lackingIn(&release.Manifest{}, wire, m.Root)}
				byBuild[b] = t
			}
			t.Devices = append(t.Devices, dev)
		}
	}
	out := make([]release.Transfer, 0, len(byBuild))
	for _, t := range byBuild {
		slices.Sort(t.Devices)
		out = append(out, *t)
	}
	slices.SortFunc(out, func(a, b release.Transfer) int { return a.Build.Compare(b.Build) })
	// Patches for the releases devices run and the newest few others,
	// made now so that the first device to ask does not wait.
	for i := range out {
		t := &out[i]
		old := manifests[t.Build]
		if old == nil || (len(t.Devices) == 0 && i < len(out)-patchesAtPublish) {
			continue
		}
		// Each part that has a patch costs the patch instead of its
		// blocks.
		parts := []partOf{rootOf}
		if m.Boot.SHA256 != old.Boot.SHA256 {
			parts = append(parts, bootOf)
		}
		for _, part := range parts {
			if n := s.patchSize(old, m, part); n >= 0 {
				t.Patch += n
				t.Bytes += n - lackingIn(old, wire, part(m))
			}
		}
	}
	return out
}

// patchesAtPublish is how many of the newest earlier releases get their
// patch made at publication, besides those devices run.
const patchesAtPublish = 4

// stored returns every manifest the store keeps, the latest and the
// earlier ones, skipping any it cannot read.
func (s *Store) stored() []*release.Manifest {
	var out []*release.Manifest
	for _, sm := range s.storedFiles() {
		out = append(out, sm.m)
	}
	return out
}

// storedManifest is a manifest of the store and its file.
type storedManifest struct {
	m    *release.Manifest
	path string
}

// storedFiles returns the manifests under manifests/ that parse.
func (s *Store) storedFiles() []storedManifest {
	var out []storedManifest
	entries, _ := os.ReadDir(filepath.Join(s.dir, "manifests"))
	for _, e := range entries {
		if !release.IsHash(e.Name()) {
			continue
		}
		name := filepath.Join(s.dir, "manifests", e.Name())
		b, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		if m, err := release.Inspect(b); err == nil {
			out = append(out, storedManifest{m: m, path: name})
		}
	}
	return out
}

// wireSizes returns how many bytes a stored block takes on the way to a
// device (serveBlock gzips it), given its hash and size; each block is
// compressed once per publication. A block it cannot read counts whole.
func (s *Store) wireSizes() func(hash string, size int) int64 {
	sizes := map[string]int64{}
	return func(hash string, size int) int64 {
		if n, ok := sizes[hash]; ok {
			return n
		}
		n := int64(size)
		if b, err := s.readBlock(hash); err == nil {
			if z := release.GzipBlock(b); z != nil {
				n = int64(len(z))
			}
		}
		sizes[hash] = n
		return n
	}
}

// lacking returns the bytes on the way (wire) of m's root blocks (and
// boot blocks, when its boot file system changed) that old's parts do
// not have.
func lacking(m, old *release.Manifest, wire func(string, int) int64) int64 {
	parts := []release.Part{m.Root}
	if m.Boot.SHA256 != old.Boot.SHA256 {
		parts = append(parts, m.Boot)
	}
	return lackingIn(old, wire, parts...)
}

// lackingIn returns the bytes on the way (wire) of the parts' blocks
// that old's root and boot file system lack, each block counted once.
func lackingIn(old *release.Manifest, wire func(string, int) int64, parts ...release.Part) int64 {
	have := map[string]bool{}
	for _, h := range old.Root.Blocks {
		have[h] = true
	}
	for _, h := range old.Boot.Blocks {
		have[h] = true
	}
	var n int64
	for _, p := range parts {
		for i, h := range p.Blocks {
			if !have[h] {
				n += wire(h, p.Sizes[i])
				have[h] = true // fetched once
			}
		}
	}
	return n
}
