package store

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Verify checks the store's invariants and returns every violation: each
// photo has a sidecar that matches its size (and its sha256 when hash is
// set, which reads every photo), the other files of its capture are there,
// every outbox entry names a stored photo, no temporary file shows among
// the photos, and no transaction is left half-applied. Run it on a store
// that Open has recovered.
func (s *Store) Verify(hash bool) []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	photos := map[string]bool{}
	root := filepath.Join(s.dir, "photos")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(s.dir, p)
		rel = filepath.ToSlash(rel)
		name := d.Name()
		switch {
		case strings.HasPrefix(name, ".tmp-"):
			bad("temporary file %s among the photos", rel)
			return nil
		case strings.HasSuffix(name, ".json"):
			if _, err := os.Lstat(strings.TrimSuffix(p, ".json")); err != nil {
				bad("sidecar %s without its photo", rel)
			}
			return nil
		}
		photos[rel] = true
		sc, err := s.ReadSidecar(rel)
		if err != nil {
			bad("photo %s: %v", rel, err)
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if sc.Size != info.Size() {
			bad("photo %s is %d bytes, its sidecar says %d", rel, info.Size(), sc.Size)
		} else if hash {
			if sum, err := hashFile(p); err != nil {
				bad("photo %s: %v", rel, err)
			} else if sum != sc.SHA256 {
				bad("photo %s has sha256 %s, its sidecar says %s", rel, sum, sc.SHA256)
			}
		}
		for _, o := range sc.Others {
			if _, err := os.Lstat(filepath.Join(filepath.Dir(p), o)); err != nil {
				bad("photo %s stored without %s of the same capture", rel, o)
			}
		}
		return nil
	})
	if err != nil {
		bad("walking the photos: %v", err)
	}
	targets, err := s.Targets()
	if err != nil {
		bad("%v", err)
	}
	for _, t := range targets {
		entries, err := s.readEntries(t)
		if err != nil {
			bad("%v", err)
			continue
		}
		for _, e := range entries {
			if !photos[e.Photo] {
				bad("outbox entry %s/%s for a photo that is not stored", t, path.Base(e.Photo))
			}
		}
	}
	for _, sub := range []string{"tmp", "commit", "delete"} {
		if des, _ := os.ReadDir(filepath.Join(s.dir, sub)); len(des) != 0 {
			bad("%s/ holds %d entries: a transaction or deletion was not finished", sub, len(des))
		}
	}
	return errs
}

func hashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
