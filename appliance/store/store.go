// Package store keeps every photo on /perm until retention allows it to go:
// originals named by capture time, a JSON sidecar beside each, and a durable
// outbox entry per (photo, upload target). A capture is written as one
// transaction, so after a power cut a photo is either complete with its
// sidecar and outbox entries, or absent.
//
// Layout under the store's directory (/perm/lapsebox):
//
//	photos/YYYY/MM/DD/YYYYMMDDHHMMSS.jpg       the original
//	photos/YYYY/MM/DD/YYYYMMDDHHMMSS.jpg.json  its sidecar
//	outbox/<target>/YYYYMMDDHHMMSS.jpg.json    one entry per target
//	tmp/<tx>/                                  a capture being written
//	commit/<tx>/                               a committed capture being put in place
package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lapsebox/lapsebox/internal/mountinfo"
)

// Store is the photo store and outbox in one directory.
type Store struct {
	dir string

	mu      sync.Mutex // serialises Put: names are chosen, then claimed
	nextTx  int
	claimed map[string]bool
}

// Camera identifies the camera a photo came from.
type Camera struct {
	Model  string `json:",omitempty"`
	Serial string `json:",omitempty"`
}

// Sidecar is the JSON written beside each photo.
type Sidecar struct {
	File        string            // base name of the photo
	CaptureTime time.Time         // as the appliance's clock said, in the site's zone
	Camera      Camera            `json:",omitempty"`
	Settings    map[string]string `json:",omitempty"` // exposure, aperture, ISO… as the camera reported
	Size        int64
	SHA256      string
	Others      []string `json:",omitempty"` // other files of the same capture (RAW+JPG)
}

// NewFile is one file of a capture to store.
type NewFile struct {
	// Ext is the file's extension with its dot: ".jpg", ".cr2".
	Ext string
	// Write writes the file's bytes; it is called once.
	Write func(w io.Writer) error
	// Targets are the upload targets that want this file: an outbox entry
	// is created for each.
	Targets []string
}

// Capture is what Put stores.
type Capture struct {
	Time     time.Time
	Camera   Camera
	Settings map[string]string
	Files    []NewFile
}

// Photo is a stored original.
type Photo struct {
	Path    string // relative to the store: photos/2026/11/26/20261126120000.jpg
	Sidecar Sidecar
}

// Entry is an outbox entry: one photo still owed to one target.
type Entry struct {
	Target      string
	Photo       string // Photo.Path
	Size        int64
	SHA256      string
	CaptureTime time.Time
	Created     time.Time
	// Attempts, NextAttempt and LastError are kept by the uploader across
	// restarts.
	Attempts    int       `json:",omitempty"`
	NextAttempt time.Time `json:",omitzero"`
	LastError   string    `json:",omitempty"`
	// Parked is set for a permanent failure: the entry waits for a
	// configuration change instead of being retried.
	Parked string `json:",omitempty"`
	// Resume is the uploader's own state for an interrupted transfer (a
	// resumable upload's URL and offset, say).
	Resume json.RawMessage `json:",omitempty"`
}

var (
	extRE    = regexp.MustCompile(`^\.[a-z0-9]{1,8}$`)
	targetRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
)

// MinYear is the first year a capture time may have: a clock that says
// 1970 was never set, and a photo named after it would be lost in the order.
const MinYear = 2020

// Open opens the store in dir, creating its layout, and finishes any
// capture that a crash interrupted after it was committed; captures that
// were not committed are discarded.
func Open(dir string) (*Store, error) {
	s := &Store{dir: dir, claimed: map[string]bool{}}
	for _, sub := range []string{"photos", "outbox", "tmp", "commit"} {
		if err := mkdirAllSync(filepath.Join(dir, sub)); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	if err := s.recover(); err != nil {
		return nil, fmt.Errorf("store: recovering %s: %w", dir, err)
	}
	return s, nil
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// RequirePersistent returns an error unless dir lies on a real, writable
// file system mounted at or above it other than the root: gokrazy's root
// is read-only squashfs, and writing photos to a tmpfs would lose them at
// the next reboot. mountinfoPath is usually /proc/self/mountinfo.
func RequirePersistent(dir, mountinfoPath string) error {
	mounts, err := mountinfo.Read(mountinfoPath)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	m, ok := mountinfo.Containing(mounts, dir)
	switch {
	case !ok || m.Point == "/":
		return fmt.Errorf("store: %s is not on a mounted file system of its own (is /perm mounted?): refusing to fill the root", dir)
	case m.FSType == "tmpfs" || m.FSType == "ramfs" || m.FSType == "squashfs" || m.FSType == "devtmpfs":
		return fmt.Errorf("store: %s is on %s %s, which does not survive a reboot: refusing to write photos there", dir, m.FSType, m.Point)
	case mountinfo.HasOption(m.Options, "ro") || mountinfo.HasOption(m.SuperOptions, "ro"):
		return fmt.Errorf("store: %s is on %s, mounted read-only (file system errors on the card?)", dir, m.Point)
	}
	return nil
}

// Put stores a capture: every file with its sidecar and outbox entries, as
// one transaction. It returns the stored photos in the order of c.Files.
func (s *Store) Put(c Capture) ([]Photo, error) {
	if c.Time.Year() < MinYear {
		return nil, fmt.Errorf("store: capture time %v: the clock is not set; refusing to name a photo after it", c.Time)
	}
	if len(c.Files) == 0 {
		return nil, errors.New("store: capture without files")
	}
	seen := map[string]bool{}
	for _, f := range c.Files {
		if !extRE.MatchString(f.Ext) || seen[f.Ext] {
			return nil, fmt.Errorf("store: file extension %q: want one lower-case extension like .jpg per file", f.Ext)
		}
		seen[f.Ext] = true
		for _, t := range f.Targets {
			if !targetRE.MatchString(t) {
				return nil, fmt.Errorf("store: target name %q: want lower-case letters, digits, - and _", t)
			}
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	day := c.Time.Format("photos/2006/01/02")
	base, err := s.freeName(day, c.Time.Format("20060102150405"), c.Files)
	if err != nil {
		return nil, err
	}
	s.nextTx++
	tx := fmt.Sprintf("%d-%d-%s", os.Getpid(), s.nextTx, base)
	txDir := filepath.Join(s.dir, "tmp", tx)
	if err := os.Mkdir(txDir, 0o755); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	defer os.RemoveAll(txDir) // gone after the commit rename; cleanup on failure

	var names []string
	for _, f := range c.Files {
		names = append(names, base+f.Ext)
	}
	var moves []move
	photos := make([]Photo, len(c.Files))
	now := time.Now()
	for i, f := range c.Files {
		name := names[i]
		h := sha256.New()
		var size int64
		err := writeSync(filepath.Join(txDir, name), func(w io.Writer) error {
			cw := &countWriter{w: io.MultiWriter(w, h)}
			err := f.Write(cw)
			size = cw.n
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("store: writing %s: %w", name, err)
		}
		sc := Sidecar{
			File: name, CaptureTime: c.Time, Camera: c.Camera, Settings: c.Settings,
			Size: size, SHA256: hex.EncodeToString(h.Sum(nil)),
			Others: others(names, i),
		}
		photos[i] = Photo{Path: day + "/" + name, Sidecar: sc}
		b, _ := json.MarshalIndent(sc, "", "  ")
		if err := writeFileSync(filepath.Join(txDir, name+".json"), append(b, '\n')); err != nil {
			return nil, fmt.Errorf("store: writing sidecar of %s: %w", name, err)
		}
		moves = append(moves, move{From: name, To: photos[i].Path}, move{From: name + ".json", To: photos[i].Path + ".json"})
	}
	// Outbox entries go in place last: an uploader that sees one finds its
	// photo already there.
	for i, f := range c.Files {
		for _, t := range f.Targets {
			e := Entry{Target: t, Photo: photos[i].Path, Size: photos[i].Sidecar.Size, SHA256: photos[i].Sidecar.SHA256, CaptureTime: c.Time, Created: now}
			b, _ := json.MarshalIndent(e, "", "  ")
			from := t + "-" + names[i] + ".entry"
			if err := writeFileSync(filepath.Join(txDir, from), append(b, '\n')); err != nil {
				return nil, fmt.Errorf("store: writing outbox entry: %w", err)
			}
			moves = append(moves, move{From: from, To: "outbox/" + t + "/" + names[i] + ".json"})
		}
	}
	b, _ := json.Marshal(moves)
	if err := writeFileSync(filepath.Join(txDir, "moves.json"), b); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	// The commit point: once the transaction directory is under commit/,
	// recovery puts its files in place whatever happens next.
	committed := filepath.Join(s.dir, "commit", tx)
	if err := os.Rename(txDir, committed); err != nil {
		return nil, fmt.Errorf("store: committing %s: %w", base, err)
	}
	if err := syncDir(filepath.Join(s.dir, "commit")); err != nil {
		return nil, fmt.Errorf("store: committing %s: %w", base, err)
	}
	for _, n := range names {
		s.claimed[day+"/"+n] = true
	}
	if err := s.apply(committed); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	for _, n := range names {
		delete(s.claimed, day+"/"+n)
	}
	return photos, nil
}

// others lists the names of a capture other than names[i].
func others(names []string, i int) []string {
	var o []string
	for j, n := range names {
		if j != i {
			o = append(o, n)
		}
	}
	return o
}

// freeName returns base, or base-1, base-2… so that no file of the capture
// overwrites an existing photo (two captures in one second, or the hour
// the clocks go back).
func (s *Store) freeName(day, base string, files []NewFile) (string, error) {
	for n := 0; n < 1000; n++ {
		name := base
		if n > 0 {
			name = base + "-" + strconv.Itoa(n)
		}
		free := true
		for _, f := range files {
			p := day + "/" + name + f.Ext
			if s.claimed[p] {
				free = false
				break
			}
			if _, err := os.Lstat(filepath.Join(s.dir, filepath.FromSlash(p))); err == nil {
				free = false
				break
			} else if !errors.Is(err, os.ErrNotExist) {
				return "", fmt.Errorf("store: %w", err)
			}
		}
		if free {
			return name, nil
		}
	}
	return "", fmt.Errorf("store: no free name for %s/%s after 1000 tries", day, base)
}

// move is one file of a committed transaction and where it goes.
type move struct{ From, To string }

// apply puts a committed transaction's files in place and removes it. It
// is idempotent: recovery runs it again on a transaction a crash cut short.
func (s *Store) apply(txDir string) error {
	b, err := os.ReadFile(filepath.Join(txDir, "moves.json"))
	if err != nil {
		return fmt.Errorf("reading %s: %w", txDir, err)
	}
	var moves []move
	if err := json.Unmarshal(b, &moves); err != nil {
		return fmt.Errorf("%s/moves.json: %w", txDir, err)
	}
	for _, m := range moves {
		if strings.Contains(m.From, "/") || !path.IsAbs("/"+m.To) || path.Clean(m.To) != m.To || strings.HasPrefix(m.To, "../") {
			return fmt.Errorf("%s/moves.json: bad move %+v", txDir, m)
		}
		from := filepath.Join(txDir, m.From)
		to := filepath.Join(s.dir, filepath.FromSlash(m.To))
		if _, err := os.Lstat(from); errors.Is(err, os.ErrNotExist) {
			continue // moved before the crash
		}
		if err := mkdirAllSync(filepath.Dir(to)); err != nil {
			return err
		}
		if err := os.Rename(from, to); err != nil {
			return err
		}
		// Each directory is synced before the next kind of file goes in:
		// an outbox entry never becomes durable before its photo.
		if err := syncDir(filepath.Dir(to)); err != nil {
			return err
		}
	}
	// Leaving commit/ is one rename, so a crash never leaves a committed
	// transaction without its list of moves; tmp/ is emptied at Open.
	done := filepath.Join(s.dir, "tmp", filepath.Base(txDir)+".done")
	if err := os.Rename(txDir, done); err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(txDir)); err != nil {
		return err
	}
	return os.RemoveAll(done)
}

// recover discards uncommitted transactions, finishes committed ones, and
// removes sidecars and outbox entries whose photo is gone (a deletion that
// a crash interrupted).
func (s *Store) recover() error {
	tmp := filepath.Join(s.dir, "tmp")
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(tmp, e.Name())); err != nil {
			return err
		}
	}
	commit := filepath.Join(s.dir, "commit")
	entries, err = os.ReadDir(commit)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := s.apply(filepath.Join(commit, e.Name())); err != nil {
			return err
		}
	}
	return s.removeOrphans()
}

// removeOrphans deletes sidecars without a photo, outbox entries without a
// photo, and temporary files left by writeSync.
func (s *Store) removeOrphans() error {
	err := filepath.WalkDir(filepath.Join(s.dir, "photos"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		name := d.Name()
		switch {
		case strings.HasPrefix(name, ".tmp-"):
			return os.Remove(p)
		case strings.HasSuffix(name, ".json"):
			if _, err := os.Lstat(strings.TrimSuffix(p, ".json")); errors.Is(err, os.ErrNotExist) {
				return os.Remove(p)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	targets, err := os.ReadDir(filepath.Join(s.dir, "outbox"))
	if err != nil {
		return err
	}
	for _, t := range targets {
		entries, err := s.readEntries(t.Name())
		if err != nil {
			return err
		}
		for _, e := range entries {
			if _, err := os.Lstat(filepath.Join(s.dir, filepath.FromSlash(e.Photo))); errors.Is(err, os.ErrNotExist) {
				if err := os.Remove(s.entryPath(e)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// sortEntries orders entries oldest capture first, then by photo.
func sortEntries(es []Entry) {
	sort.Slice(es, func(i, j int) bool {
		if !es[i].CaptureTime.Equal(es[j].CaptureTime) {
			return es[i].CaptureTime.Before(es[j].CaptureTime)
		}
		return es[i].Photo < es[j].Photo
	})
}
