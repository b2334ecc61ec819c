// Package releases is cloudd's side of over-the-air updates: operators
// publish signed releases (image/release) block by block, and each device
// fetches its channel's latest manifest and the blocks it lacks.
//
// Blocks are stored and served by their SHA-256 only: a request names a
// block by 64 hex digits, never by a path, and only blocks of a published
// release are served, each checked against its hash as it is read. cloudd
// does not hold the release key and does not check signatures (the devices
// do); it refuses a manifest whose blocks it lacks, one for another
// board or channel than its URL, and one not newer than the channel's
// latest.
package releases

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/lapsebox/lapsebox/image/release"
	"github.com/lapsebox/lapsebox/internal/durable"
)

// Store holds the published releases under a directory:
//
//	blocks/<sha256>        one block
//	manifests/<sha256>     a signed manifest, by the hash of its bytes
//	index.json             {"<board>/<channel>": "<manifest sha256>"}
//	patches/               see patch.go
type Store struct {
	// Running, if set, tells which builds the devices run: a
	// publication reports what it costs each of them.
	Running RunningBuilds
	// Keep is how many releases of each board and channel are kept after
	// a publication (DefaultKeep if 0), besides those devices run.
	Keep int

	dir string
	log *slog.Logger

	mu     sync.RWMutex
	latest map[string]published // by "board/channel"
	served map[string]bool      // blocks of every release in latest

	patchMu sync.Mutex // held while a patch is made
}

type published struct {
	signed   []byte
	manifest *release.Manifest
}

// Open opens the store at dir, creating it if need be.
func Open(dir string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.Default()
	}
	for _, sub := range []string{"blocks", "manifests"} {
		if err := durable.MkdirAll(filepath.Join(dir, sub)); err != nil {
			return nil, fmt.Errorf("releases: %w", err)
		}
	}
	s := &Store{dir: dir, log: log, latest: map[string]published{}, served: map[string]bool{}}
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	for key, h := range idx {
		if !release.IsHash(h) {
			return nil, fmt.Errorf("releases: index.json: %s: %q is not a sha256", key, h)
		}
		b, err := os.ReadFile(filepath.Join(dir, "manifests", h))
		if err != nil {
			return nil, fmt.Errorf("releases: %s: %w", key, err)
		}
		if release.Hash(b) != h {
			return nil, fmt.Errorf("releases: manifest %s of %s does not match its hash", h, key)
		}
		m, err := release.Inspect(b)
		if err != nil {
			return nil, fmt.Errorf("releases: %s: %w", key, err)
		}
		s.setLatest(key, published{signed: b, manifest: m})
	}
	return s, nil
}

func (s *Store) readIndex() (map[string]string, error) {
	idx := map[string]string{}
	b, err := os.ReadFile(filepath.Join(s.dir, "index.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return idx, nil
	}
	if err != nil {
		return nil, fmt.Errorf("releases: %w", err)
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("releases: index.json: %w", err)
	}
	return idx, nil
}

// setLatest records p as key's latest; s.mu is held or s not shared.
func (s *Store) setLatest(key string, p published) {
	s.latest[key] = p
	s.served = map[string]bool{}
	for _, p := range s.latest {
		for _, h := range p.manifest.Hashes() {
			s.served[h] = true
		}
	}
}

func (s *Store) blockPath(hash string) string { return filepath.Join(s.dir, "blocks", hash) }

// hasBlock reports whether the block hash is stored.
func (s *Store) hasBlock(hash string) bool {
	fi, err := os.Stat(s.blockPath(hash))
	return err == nil && fi.Mode().IsRegular()
}

// readBlock reads a stored block and checks it against its hash.
func (s *Store) readBlock(hash string) ([]byte, error) {
	f, err := os.Open(s.blockPath(hash))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, release.BlockSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > release.BlockSize || release.Hash(b) != hash {
		return nil, fmt.Errorf("stored block %s does not match its hash (%d bytes)", hash, len(b))
	}
	return b, nil
}

// Latest returns the signed manifest of board/channel's latest release.
func (s *Store) Latest(board, channel string) ([]byte, *release.Manifest, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, ok := s.latest[board+"/"+channel]
	return p.signed, p.manifest, ok
}

// Publish makes signed the latest release of its board and channel.
func (s *Store) Publish(board, channel string, signed []byte) (*release.Manifest, error) {
	m, err := release.Inspect(signed)
	if err != nil {
		return nil, err
	}
	if m.Board != board || m.Channel != channel {
		return nil, fmt.Errorf("%w: the manifest is for %s/%s, published to %s/%s", errConflict, m.Board, m.Channel, board, channel)
	}
	missing := 0
	for _, h := range m.Hashes() {
		if !s.hasBlock(h) {
			missing++
		}
	}
	if missing > 0 {
		return nil, fmt.Errorf("%w: %d blocks of the release are not stored: PUT them first", errConflict, missing)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := board + "/" + channel
	if cur, ok := s.latest[key]; ok && !m.Build.After(cur.manifest.Build) {
		return nil, fmt.Errorf("%w: %s's latest is build %s (%s); %s (%s) is not newer", errConflict, key,
			cur.manifest.Build, cur.manifest.Version, m.Build, m.Version)
	}
	h := release.Hash(signed)
	if err := durable.WriteFile(filepath.Join(s.dir, "manifests", h), signed); err != nil {
		return nil, err
	}
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	idx[key] = h
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := durable.WriteFile(filepath.Join(s.dir, "index.json"), b); err != nil {
		return nil, err
	}
	s.setLatest(key, published{signed: bytes.Clone(signed), manifest: m})
	return m, nil
}

// errConflict marks a publication refused for what it is (409).
var errConflict = errors.New("refused")
