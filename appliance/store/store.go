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
//	delivered/<target>.json                    the last photo the target confirmed
//	tmp/<tx>/                                  a capture being written
//	commit/<tx>/                               a committed capture being put in place
//	delete/YYYYMMDDHHMMSS.json                 a capture being deleted by retention
package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
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

	"github.com/lapsebox/lapsebox/internal/durable"

	"github.com/lapsebox/lapsebox/internal/mountinfo"
)

// Store is the photo store and outbox in one directory.
type Store struct {
	dir string

	mu     sync.Mutex // serialises commits: a name is chosen and taken at once
	nextTx int
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

// Open opens the store in dir for its owner, the one process that
// captures into it and deletes from it (camerad), creating its layout. It
// finishes any capture that a crash interrupted after it was committed,
// and any deletion of a capture; captures that were not committed are
// discarded. Only the owner may call it, and only while it has no capture
// or deletion of its own under way: to recovery, a capture in progress
// looks like a crash's leftover. Other processes use Attach.
func Open(dir string) (*Store, error) {
	s, err := layout(dir)
	if err != nil {
		return nil, err
	}
	if err := s.recover(); err != nil {
		return nil, fmt.Errorf("store: recovering %s: %w", dir, err)
	}
	return s, nil
}

// Attach opens the store in dir for a process that drains its outbox
// (uploadd) while the owner, which called Open, may be capturing into it
// or deleting from it at that very moment. It recovers nothing: the
// owner's transactions and deletions are its own to finish, and its next
// Open finishes those a crash interrupted. It creates the layout if the
// owner has not yet, and removes the temporary files of outbox entries
// that a crash left, which only the attached process writes (Update,
// Requeue).
func Attach(dir string) (*Store, error) {
	s, err := layout(dir)
	if err != nil {
		return nil, err
	}
	if err := s.removeOutboxTemps(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", dir, err)
	}
	return s, nil
}

// layout creates the store's directories in dir, those missing.
func layout(dir string) (*Store, error) {
	for _, sub := range []string{"photos", "outbox", "tmp", "commit", "delete"} {
		if err := durable.MkdirAll(filepath.Join(dir, sub)); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	return &Store{dir: dir}, nil
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
	if len(c.Files) == 0 {
		return nil, errors.New("store: capture without files")
	}
	tx, err := s.Begin(c.Time, c.Camera, c.Settings)
	if err != nil {
		return nil, err
	}
	defer tx.Abort()
	for _, f := range c.Files {
		w, err := tx.Create(f.Ext, f.Targets)
		if err != nil {
			return nil, err
		}
		if err := f.Write(w); err != nil {
			w.Close()
			return nil, fmt.Errorf("store: writing %s: %w", f.Ext, err)
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	}
	return tx.Commit()
}

// Tx is a capture being written: its files arrive one by one as the camera
// delivers them and become visible together, with their sidecars and
// outbox entries, at Commit.
type Tx struct {
	s        *Store
	time     time.Time
	camera   Camera
	settings map[string]string
	id       string
	dir      string
	files    []*txFile
	finished bool
}

type txFile struct {
	ext     string
	targets []string
	size    int64
	sha256  string
	closed  bool
}

// Begin starts a capture taken at t. Nothing is visible until Commit; Abort
// (or a crash) discards it.
func (s *Store) Begin(t time.Time, cam Camera, settings map[string]string) (*Tx, error) {
	if t.Year() < MinYear {
		return nil, fmt.Errorf("store: capture time %v: the clock is not set; refusing to name a photo after it", t)
	}
	s.mu.Lock()
	s.nextTx++
	id := fmt.Sprintf("%d-%d-%s", os.Getpid(), s.nextTx, t.Format("20060102150405"))
	s.mu.Unlock()
	dir := filepath.Join(s.dir, "tmp", id)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return &Tx{s: s, time: t, camera: cam, settings: settings, id: id, dir: dir}, nil
}

// SetSettings replaces the exposure settings recorded in the sidecars
// (cameras often report them only after the shot).
func (tx *Tx) SetSettings(settings map[string]string) { tx.settings = settings }

// Create adds a file with extension ext (".jpg"), owed to targets. The
// returned writer must be closed before Commit; Close makes the bytes
// durable.
func (tx *Tx) Create(ext string, targets []string) (io.WriteCloser, error) {
	if !extRE.MatchString(ext) {
		return nil, fmt.Errorf("store: file extension %q: want one lower-case extension like .jpg", ext)
	}
	for _, f := range tx.files {
		if f.ext == ext {
			return nil, fmt.Errorf("store: file extension %q twice in one capture", ext)
		}
	}
	for _, t := range targets {
		if !targetRE.MatchString(t) {
			return nil, fmt.Errorf("store: target name %q: want lower-case letters, digits, - and _", t)
		}
	}
	f, err := os.OpenFile(filepath.Join(tx.dir, "f"+ext), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	tf := &txFile{ext: ext, targets: targets}
	tx.files = append(tx.files, tf)
	return &txWriter{f: f, tf: tf, h: sha256.New()}, nil
}

type txWriter struct {
	f  *os.File
	tf *txFile
	h  hash.Hash
	n  int64
}

func (w *txWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	return n, err
}

func (w *txWriter) Close() error {
	if w.tf.closed {
		return nil
	}
	w.tf.closed = true
	err := w.f.Sync()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("store: writing %s: %w", w.tf.ext, err)
	}
	w.tf.size = w.n
	w.tf.sha256 = hex.EncodeToString(w.h.Sum(nil))
	return nil
}

// Abort discards an uncommitted capture; after Commit it does nothing.
func (tx *Tx) Abort() {
	if !tx.finished {
		tx.finished = true
		os.RemoveAll(tx.dir)
	}
}

// Commit names the capture's files after its time (with a suffix rather
// than overwriting anything), writes their sidecars and outbox entries, and
// makes all of it visible at once.
func (tx *Tx) Commit() ([]Photo, error) {
	if tx.finished {
		return nil, errors.New("store: capture already committed or aborted")
	}
	if len(tx.files) == 0 {
		return nil, errors.New("store: capture without files")
	}
	for _, f := range tx.files {
		if !f.closed {
			return nil, fmt.Errorf("store: %s not closed before Commit", f.ext)
		}
	}
	s := tx.s
	s.mu.Lock()
	defer s.mu.Unlock()
	day := tx.time.Format("photos/2006/01/02")
	base, err := s.freeName(day, tx.time.Format("20060102150405"), tx.files)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, f := range tx.files {
		names = append(names, base+f.ext)
	}
	var moves []move
	photos := make([]Photo, len(tx.files))
	now := time.Now()
	for i, f := range tx.files {
		name := names[i]
		sc := Sidecar{
			File: name, CaptureTime: tx.time, Camera: tx.camera, Settings: tx.settings,
			Size: f.size, SHA256: f.sha256, Others: others(names, i),
		}
		photos[i] = Photo{Path: day + "/" + name, Sidecar: sc}
		b, _ := json.MarshalIndent(sc, "", "  ")
		if err := durable.WriteFile(filepath.Join(tx.dir, name+".json"), append(b, '\n')); err != nil {
			return nil, fmt.Errorf("store: writing sidecar of %s: %w", name, err)
		}
		moves = append(moves, move{From: "f" + f.ext, To: photos[i].Path}, move{From: name + ".json", To: photos[i].Path + ".json"})
	}
	// Outbox entries go in place last: an uploader that sees one finds its
	// photo already there.
	for i, f := range tx.files {
		for _, t := range f.targets {
			e := Entry{Target: t, Photo: photos[i].Path, Size: f.size, SHA256: f.sha256, CaptureTime: tx.time, Created: now}
			b, _ := json.MarshalIndent(e, "", "  ")
			from := t + "-" + names[i] + ".entry"
			if err := durable.WriteFile(filepath.Join(tx.dir, from), append(b, '\n')); err != nil {
				return nil, fmt.Errorf("store: writing outbox entry: %w", err)
			}
			moves = append(moves, move{From: from, To: "outbox/" + t + "/" + names[i] + ".json"})
		}
	}
	b, _ := json.Marshal(moves)
	if err := durable.WriteFile(filepath.Join(tx.dir, "moves.json"), b); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	// The commit point: once the transaction directory is under commit/,
	// recovery puts its files in place whatever happens next.
	committed := filepath.Join(s.dir, "commit", tx.id)
	if err := os.Rename(tx.dir, committed); err != nil {
		return nil, fmt.Errorf("store: committing %s: %w", base, err)
	}
	tx.finished = true
	if err := durable.SyncDir(filepath.Join(s.dir, "commit")); err != nil {
		return nil, fmt.Errorf("store: committing %s: %w", base, err)
	}
	if err := s.apply(committed); err != nil {
		return nil, fmt.Errorf("store: %w", err)
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
func (s *Store) freeName(day, base string, files []*txFile) (string, error) {
	for n := 0; n < 1000; n++ {
		name := base
		if n > 0 {
			name = base + "-" + strconv.Itoa(n)
		}
		free := true
		for _, f := range files {
			p := day + "/" + name + f.ext
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
		if err := durable.MkdirAll(filepath.Dir(to)); err != nil {
			return err
		}
		if err := os.Rename(from, to); err != nil {
			return err
		}
		// Each directory is synced before the next kind of file goes in:
		// an outbox entry never becomes durable before its photo.
		if err := durable.SyncDir(filepath.Dir(to)); err != nil {
			return err
		}
	}
	// Leaving commit/ is one rename, so a crash never leaves a committed
	// transaction without its list of moves; tmp/ is emptied at Open.
	done := filepath.Join(s.dir, "tmp", filepath.Base(txDir)+".done")
	if err := os.Rename(txDir, done); err != nil {
		return err
	}
	if err := durable.SyncDir(filepath.Dir(txDir)); err != nil {
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
	if err := s.finishDeletes(); err != nil {
		return err
	}
	return s.removeOrphans()
}

// removeOrphans deletes sidecars without a photo, outbox entries without a
// photo, and temporary files among the photos. The outbox's temporary
// files are Attach's to remove: uploadd may be writing one.
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
				if err := os.Remove(s.entryPath(e)); err != nil && !errors.Is(err, os.ErrNotExist) {
					return err // gone: uploadd finished it meanwhile
				}
			}
		}
	}
	return nil
}

// removeOutboxTemps deletes the temporary files of outbox entries whose
// update a crash interrupted.
func (s *Store) removeOutboxTemps() error {
	targets, err := s.Targets()
	if err != nil {
		return err
	}
	for _, t := range targets {
		dir := filepath.Join(s.dir, "outbox", t)
		des, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, d := range des {
			if strings.HasPrefix(d.Name(), ".tmp-") {
				if err := os.Remove(filepath.Join(dir, d.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
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
