package releases

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/lapsebox/lapsebox/image/delta"
	"github.com/lapsebox/lapsebox/image/release"
	"github.com/lapsebox/lapsebox/internal/durable"
)

// Patches turn a part of an earlier release (its root, or its boot file
// system) into the same part of a latest release (image/delta). They
// are made once per pair, when a device first asks or at publication,
// from the stored blocks, and kept:
//
//	patches/<from>-<to>        the patch
//	patches/<from>-<to>.none   no patch smaller than the blocks
//
// Making one holds both parts in memory (about three times a root), so
// only one is made at a time.
var errNoPatch = errors.New("no patch")

func (s *Store) patchPath(from, to string) string {
	return filepath.Join(s.dir, "patches", from+"-"+to)
}

// A partOf picks a part of a release: its root or its boot file system.
type partOf func(*release.Manifest) release.Part

func rootOf(m *release.Manifest) release.Part { return m.Root }
func bootOf(m *release.Manifest) release.Part { return m.Boot }

// patch returns the path of the patch from the part from to the part to,
// making it if need be. to must be the root or the boot file system of
// a release the store serves (a channel's latest), from the same part
// of a stored release of the same board: errNoPatch otherwise, and when
// the patch would not be smaller than the blocks of to that from's
// release lacks.
func (s *Store) patch(from, to string) (string, error) {
	if !release.IsHash(from) || !release.IsHash(to) || from == to {
		return "", errNoPatch
	}
	s.mu.RLock()
	var newM *release.Manifest
	var part partOf
	for _, p := range s.latest {
		switch to {
		case p.manifest.Root.SHA256:
			newM, part = p.manifest, rootOf
		case p.manifest.Boot.SHA256:
			newM, part = p.manifest, bootOf
		}
	}
	s.mu.RUnlock()
	if newM == nil {
		return "", errNoPatch
	}
	name := s.patchPath(from, to)
	if made, err := madePatch(name); made != "" || err != nil {
		return made, err
	}
	s.patchMu.Lock()
	defer s.patchMu.Unlock()
	if made, err := madePatch(name); made != "" || err != nil {
		return made, err // made while this request waited
	}
	oldM := s.findPart(newM.Board, part, from)
	if oldM == nil {
		return "", errNoPatch
	}
	oldPart, err := s.readPart(part(oldM))
	if err != nil {
		return "", err
	}
	newPart, err := s.readPart(part(newM))
	if err != nil {
		return "", err
	}
	p, err := delta.Diff(oldPart, newPart)
	if err != nil {
		return "", err
	}
	if err := durable.MkdirAll(filepath.Dir(name)); err != nil {
		return "", err
	}
	if lack := lackingIn(oldM, s.wireSizes(), part(newM)); int64(len(p)) >= lack {
		s.log.Info("releases: no patch smaller than the blocks", "from", from, "to", to, "patch", len(p), "blocks", lack)
		return "", errors.Join(errNoPatch, durable.WriteFile(name+".none", nil))
	}
	if err := durable.WriteFile(name, p); err != nil {
		return "", err
	}
	s.log.Info("releases: made a patch", "from", from, "to", to, "bytes", len(p), "version", newM.Version)
	return name, nil
}

// madePatch returns name if that patch was made already, errNoPatch if
// it was found not worth making, and "" if it is yet to be made.
func madePatch(name string) (string, error) {
	if _, err := os.Stat(name); err == nil {
		return name, nil
	}
	if _, err := os.Stat(name + ".none"); err == nil {
		return "", errNoPatch
	}
	return "", nil
}

// patchSize returns the size of the patch from a part of old to the
// same part of m, making it if need be, or -1 if there is none.
func (s *Store) patchSize(old, m *release.Manifest, part partOf) int64 {
	name, err := s.patch(part(old).SHA256, part(m).SHA256)
	if err != nil {
		if !errors.Is(err, errNoPatch) {
			s.log.Error("releases: making a patch", "from", old.Version, "to", m.Version, "err", err)
		}
		return -1
	}
	fi, err := os.Stat(name)
	if err != nil {
		return -1
	}
	return fi.Size()
}

// findPart returns a stored manifest of board whose part has the sha256
// sum, or nil.
func (s *Store) findPart(board string, part partOf, sum string) *release.Manifest {
	for _, m := range s.stored() {
		if m.Board == board && part(m).SHA256 == sum {
			return m
		}
	}
	return nil
}

// readPart puts a part together from its stored blocks, each checked
// against its hash.
func (s *Store) readPart(p release.Part) ([]byte, error) {
	if p.Size < 0 || p.Size > maxPatchedPart {
		return nil, fmt.Errorf("a part of %d bytes, more than the %d a patch is made for", p.Size, int64(maxPatchedPart))
	}
	out := make([]byte, 0, p.Size)
	for _, h := range p.Blocks {
		b, err := s.readBlock(h)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("block %s of a stored release is missing", h)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, b...)
	}
	if int64(len(out)) != p.Size || release.Hash(out) != p.SHA256 {
		return nil, fmt.Errorf("the stored blocks of part %s do not make it up", p.SHA256)
	}
	return out, nil
}

// maxPatchedPart bounds the parts patches are made for: a root
// partition is 500 MiB.
const maxPatchedPart = 500 << 20
