package updater

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/image/bootconf"
	"github.com/lapsebox/lapsebox/image/delta"
	"github.com/lapsebox/lapsebox/image/release"
)

// minPatchNeed is the fewest bytes of missing blocks worth asking for a
// patch: below it, the blocks cost about what the patch's request does.
const minPatchNeed = 16 << 10

// maxPatch bounds a patch held in memory to be applied.
const maxPatch = 64 << 20

// patchRoot writes the release's root into the staging file root.img by
// a patch from the running root (image/delta), when the server has one
// smaller than the blocks the device lacks (need). See patchPart.
func (s *Service) patchRoot(ctx context.Context, m *release.Manifest, root io.ReaderAt, rootSize int64,
	need int64, a *statusfile.UpdateAttempt) error {
	return s.patchPart(ctx, "root", m.Root, need, a, func() (string, io.ReaderAt, int64, error) {
		from, err := s.runningRootSHA256(root, rootSize)
		return from, root, rootSize, err
	})
}

// patchBoot writes the release's boot file system into the staging file
// boot.img by a patch from the device's boot partition, read as the
// image wrote it (bootconf.AsBuiltView): gokrazy has rewritten its
// command line since, nothing else. See patchPart.
func (s *Service) patchBoot(ctx context.Context, m *release.Manifest, boot io.ReaderAt, need int64,
	a *statusfile.UpdateAttempt) error {
	return s.patchPart(ctx, "boot", m.Boot, need, a, func() (string, io.ReaderAt, int64, error) {
		view, err := bootconf.AsBuiltView(boot)
		if err != nil {
			return "", nil, 0, fmt.Errorf("reading the boot partition: %w", err)
		}
		from, err := sum(view)
		if err != nil {
			return "", nil, 0, fmt.Errorf("hashing the boot partition: %w", err)
		}
		return from, view, view.Size(), nil
	})
}

// patchPart writes the release's part p into the staging file
// <name>.img by a patch from what the device has of it (have: its
// sha256, bytes and size), when the server has one smaller than the
// blocks the device lacks. The patch is downloaded into the staging
// directory in ranges, resuming after a dropped link or a reboot. What
// it writes is checked later, block by block, by the assembly, which
// fetches any block the patch got wrong; a patch that fails is deleted
// and the blocks travel instead. It returns nil when no patch applies:
// the blocks do the work then.
func (s *Service) patchPart(ctx context.Context, name string, p release.Part, need int64, a *statusfile.UpdateAttempt,
	have func() (string, io.ReaderAt, int64, error)) error {
	if need < minPatchNeed {
		return nil
	}
	done := filepath.Join(s.dir(), name+".patched")
	if b, err := os.ReadFile(done); err == nil && string(b) == p.SHA256 {
		return nil // applied by an earlier attempt; the assembly resumes
	}
	from, old, oldSize, err := have()
	if err != nil {
		return err
	}
	staged := filepath.Join(s.dir(), "patch-"+from[:16]+"-"+p.SHA256[:16])
	data, fetched, err := s.downloadPatch(ctx, staged, from, p.SHA256, min(need, maxPatch))
	if errors.Is(err, release.ErrNoPatch) {
		s.logf("no patch from the device's %s (%.12s): fetching %d KiB of blocks", name, from, need>>10)
		return nil
	}
	if err != nil {
		return err
	}
	a.PatchBytes += fetched
	patch, err := delta.Parse(data)
	if err == nil && (hex.EncodeToString(patch.NewSHA256[:]) != p.SHA256 || patch.NewSize != p.Size ||
		hex.EncodeToString(patch.OldSHA256[:]) != from) {
		err = fmt.Errorf("the patch is for another %s than the release's and the device's", name)
	}
	if err == nil {
		err = s.applyPatch(patch, name+".img", old, oldSize)
	}
	// Applied or not, the patch is spent: a failed one is not tried again.
	os.Remove(staged)
	if err != nil {
		return fmt.Errorf("patching the %s (%d KiB patch): %w", name, len(data)>>10, err)
	}
	return os.WriteFile(done, []byte(p.SHA256), 0o600)
}

// applyPatch writes the patch's output, from old, into the staging file
// name.
func (s *Service) applyPatch(p *delta.Patch, name string, old io.ReaderAt, oldSize int64) error {
	f, err := os.OpenFile(filepath.Join(s.dir(), name), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := p.Apply(old, oldSize, io.NewOffsetWriter(f, 0)); err != nil {
		return err
	}
	return f.Sync()
}

// downloadPatch fetches the patch from → to into the file name, resuming
// what is there, and returns it and how many of its bytes travelled now.
// A patch larger than limit is not worth it: ErrNoPatch.
func (s *Service) downloadPatch(ctx context.Context, name, from, to string, limit int64) ([]byte, int64, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, 0, err
	}
	drop := func(err error) ([]byte, int64, error) {
		os.Remove(name)
		return nil, 0, err
	}
	var fetched int64
	for total := int64(-1); total < 0 || have < total; {
		// A resumed download asks again for the last byte it has: the
		// range is satisfiable whatever the patch's size, and that byte
		// tells a staged file of another patch.
		off := max(have-1, 0)
		b, t, err := s.client.Patch(ctx, from, to, off, release.MaxPatchRange)
		switch {
		case errors.Is(err, release.ErrNoPatch):
			return drop(err)
		case err != nil && have > 0 && total < 0:
			return drop(fmt.Errorf("resuming the staged patch of %d bytes: %w", have, err))
		case err != nil:
			return nil, 0, err
		case t > limit:
			return drop(fmt.Errorf("a %d KiB patch, more than the %d KiB of blocks: %w", t>>10, limit>>10, release.ErrNoPatch))
		case total >= 0 && t != total:
			return drop(fmt.Errorf("the patch changed size from %d to %d bytes while it downloaded", total, t))
		}
		total = t
		if have > 0 {
			last := make([]byte, 1)
			if _, err := f.ReadAt(last, have-1); err != nil {
				return nil, 0, err
			}
			if last[0] != b[0] {
				return drop(errors.New("the staged patch is not the server's"))
			}
			b = b[1:]
		}
		if _, err := f.Write(b); err != nil {
			return nil, 0, err
		}
		if err := f.Sync(); err != nil {
			return nil, 0, err
		}
		have += int64(len(b))
		fetched += int64(len(b))
	}
	data := make([]byte, have)
	if _, err := f.ReadAt(data, 0); err != nil {
		return nil, 0, err
	}
	return data, fetched, nil
}

// runningRootSHA256 hashes the running root once: it never changes while
// it runs.
func (s *Service) runningRootSHA256(root io.ReaderAt, size int64) (string, error) {
	if s.rootSHA256 != "" {
		return s.rootSHA256, nil
	}
	sum, err := sum(io.NewSectionReader(root, 0, size))
	if err != nil {
		return "", fmt.Errorf("hashing the running root: %w", err)
	}
	s.rootSHA256 = sum
	return sum, nil
}

// sum returns the sha256 (hex) of what r reads.
func sum(r io.Reader) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// isPatchFile tells the staging files patchPart leaves.
func isPatchFile(name string) bool {
	return strings.HasPrefix(name, "patch-") || strings.HasSuffix(name, ".patched")
}
