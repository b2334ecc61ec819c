package archive

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/lapsebox/lapsebox/internal/durable"
)

// SumsDir is where Sums keeps its records, under the photo tree's root.
const SumsDir = ".sums"

// Sums is ingest's record of each photo's SHA-256: the sum the device
// declared and ingest verified against the bytes it received, one small
// file per photo, <root>/.sums/<key>, written durably before the upload
// is acknowledged. It is the scrubber's reference.
type Sums struct {
	dir string
}

// OpenSums opens (creating) the records under root.
func OpenSums(root string) (*Sums, error) {
	dir := filepath.Join(root, SumsDir)
	if err := durable.MkdirAll(dir); err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	return &Sums{dir: dir}, nil
}

func (s *Sums) path(key string) (string, error) {
	if err := CheckKey(key); err != nil {
		return "", fmt.Errorf("archive: %w", err)
	}
	return filepath.Join(s.dir, filepath.FromSlash(key)), nil
}

// Get returns key's recorded sum, "" if there is none.
func (s *Sums) Get(key string) (string, error) {
	fp, err := s.path(key)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(fp)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("archive: record of %s: %w", key, err)
	}
	sum := strings.TrimSpace(string(b))
	if !isSum(sum) {
		return "", fmt.Errorf("archive: record of %s holds %q, not a SHA-256", key, trim(sum))
	}
	return sum, nil
}

// Put records sum for key, durably.
func (s *Sums) Put(key, sum string) error {
	if !isSum(sum) {
		return fmt.Errorf("archive: recording %q for %s: not a SHA-256", trim(sum), key)
	}
	fp, err := s.path(key)
	if err != nil {
		return err
	}
	if err := durable.MkdirAll(filepath.Dir(fp)); err != nil {
		return fmt.Errorf("archive: recording %s: %w", key, err)
	}
	if err := durable.WriteFile(fp, []byte(sum+"\n")); err != nil {
		return fmt.Errorf("archive: recording %s: %w", key, err)
	}
	return nil
}

// Walk calls fn with every recorded key. A record's key is its path, so
// it passes CheckKey unless someone put a file there by hand; such keys
// are passed as they are for the caller to refuse.
func (s *Sums) Walk(fn func(key string) error) error {
	return filepath.WalkDir(s.dir, func(fp string, de fs.DirEntry, err error) error {
		if err != nil {
			if fp == s.dir && errors.Is(err, fs.ErrNotExist) {
				return nil // no record yet
			}
			return fmt.Errorf("archive: walking the records: %w", err)
		}
		if de.IsDir() || !de.Type().IsRegular() || strings.HasPrefix(de.Name(), ".tmp-") {
			return nil // durable.WriteFile's temporary files start with .tmp-
		}
		rel, _ := filepath.Rel(s.dir, fp)
		return fn(filepath.ToSlash(rel))
	})
}

func isSum(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func trim(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
