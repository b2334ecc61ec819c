package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/lapsebox/lapsebox/internal/durable"
)

// entryPath is where e lives: outbox/<target>/<photo base name>.json.
func (s *Store) entryPath(e Entry) string {
	return filepath.Join(s.dir, "outbox", e.Target, path.Base(e.Photo)+".json")
}

// Targets lists the targets that have an outbox directory.
func (s *Store) Targets() ([]string, error) {
	des, err := os.ReadDir(filepath.Join(s.dir, "outbox"))
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	var ts []string
	for _, d := range des {
		if d.IsDir() {
			ts = append(ts, d.Name())
		}
	}
	return ts, nil
}

// Pending returns the outbox entries of target, oldest capture first. An
// entry that cannot be read is reported, not skipped: nothing is lost
// silently.
func (s *Store) Pending(target string) ([]Entry, error) {
	es, err := s.readEntries(target)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	sortEntries(es)
	return es, nil
}

func (s *Store) readEntries(target string) ([]Entry, error) {
	dir := filepath.Join(s.dir, "outbox", target)
	des, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var es []Entry
	for _, d := range des {
		name := d.Name()
		if strings.HasPrefix(name, ".tmp-") {
			continue // an update in progress; Open removes those a crash left
		}
		if !strings.HasSuffix(name, ".json") {
			continue
		}
		e, err := s.readEntry(target, name)
		if errors.Is(err, os.ErrNotExist) {
			continue // delivered (or pruned) since the directory was listed
		}
		if err != nil {
			return nil, err
		}
		if e.Target != target || path.Base(e.Photo)+".json" != name {
			return nil, fmt.Errorf("outbox entry %s/%s names target %q and photo %q", target, name, e.Target, e.Photo)
		}
		es = append(es, e)
	}
	return es, nil
}

// readEntry reads and decodes the file name of target's outbox; a missing
// file is an error satisfying errors.Is(err, os.ErrNotExist).
func (s *Store) readEntry(target, name string) (Entry, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, "outbox", target, name))
	if err != nil {
		return Entry{}, err
	}
	var e Entry
	if err := json.Unmarshal(b, &e); err != nil {
		return Entry{}, fmt.Errorf("outbox entry %s/%s: %w", target, name, err)
	}
	return e, nil
}

// Owed returns the outbox entry owing photo to target, without listing
// the whole outbox; ok is false when there is none (delivered, skipped or
// never queued).
func (s *Store) Owed(target, photo string) (e Entry, ok bool, err error) {
	if !targetRE.MatchString(target) {
		return Entry{}, false, fmt.Errorf("store: %q is not a target name", target)
	}
	e, err = s.readEntry(target, path.Base(photo)+".json")
	if errors.Is(err, os.ErrNotExist) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, fmt.Errorf("store: %w", err)
	}
	if e.Target != target || e.Photo != photo {
		return Entry{}, false, nil // another photo of the same base name
	}
	return e, true, nil
}

// Update rewrites an outbox entry (attempts, errors, resume state)
// atomically. It fails if the entry is gone (done, or pruned).
func (s *Store) Update(e Entry) error {
	p := s.entryPath(e)
	if _, err := os.Stat(p); err != nil {
		return fmt.Errorf("store: updating outbox entry: %w", err)
	}
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	if err := durable.WriteFile(p, append(b, '\n')); err != nil {
		return fmt.Errorf("store: updating outbox entry %s/%s: %w", e.Target, path.Base(e.Photo), err)
	}
	return nil
}

// Done removes an outbox entry once its target has confirmed the photo.
func (s *Store) Done(e Entry) error {
	p := s.entryPath(e)
	if err := os.Remove(p); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return durable.SyncDir(filepath.Dir(p))
}

// OpenPhoto opens a stored photo by its path relative to the store.
func (s *Store) OpenPhoto(rel string) (io.ReadSeekCloser, error) {
	if !strings.HasPrefix(rel, "photos/") || path.Clean(rel) != rel {
		return nil, fmt.Errorf("store: %q is not a photo path", rel)
	}
	f, err := os.Open(filepath.Join(s.dir, filepath.FromSlash(rel)))
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return f, nil
}

// ReadSidecar returns the sidecar of a stored photo.
func (s *Store) ReadSidecar(rel string) (Sidecar, error) {
	var sc Sidecar
	b, err := os.ReadFile(filepath.Join(s.dir, filepath.FromSlash(rel)+".json"))
	if err != nil {
		return sc, fmt.Errorf("store: %w", err)
	}
	if err := json.Unmarshal(b, &sc); err != nil {
		return sc, fmt.Errorf("store: sidecar of %s: %w", rel, err)
	}
	return sc, nil
}

// Photos lists every stored photo, oldest first.
func (s *Store) Photos() ([]string, error) {
	ps, err := s.listPhotos()
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.rel
	}
	return out, nil
}

// Requeue creates an outbox entry owing photo to target, unless one exists
// (reconciling a target that lost what it was sent). It reports whether it
// created one.
func (s *Store) Requeue(photo, target string) (bool, error) {
	if !targetRE.MatchString(target) {
		return false, fmt.Errorf("store: target name %q: want lower-case letters, digits, - and _", target)
	}
	sc, err := s.ReadSidecar(photo)
	if err != nil {
		return false, err
	}
	e := Entry{Target: target, Photo: photo, Size: sc.Size, SHA256: sc.SHA256, CaptureTime: sc.CaptureTime, Created: time.Now()}
	p := s.entryPath(e)
	if _, err := os.Stat(p); err == nil {
		return false, nil
	}
	if err := durable.MkdirAll(filepath.Dir(p)); err != nil {
		return false, fmt.Errorf("store: %w", err)
	}
	b, _ := json.MarshalIndent(e, "", "  ")
	if err := durable.WriteFile(p, append(b, '\n')); err != nil {
		return false, fmt.Errorf("store: requeueing %s for %s: %w", photo, target, err)
	}
	return true, nil
}
