package capture

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/lapsebox/lapsebox/appliance/plan"
	"github.com/lapsebox/lapsebox/appliance/schedule"
	"github.com/lapsebox/lapsebox/appliance/store"
	"github.com/lapsebox/lapsebox/internal/durable"
	"github.com/lapsebox/lapsebox/ptp"
	"github.com/lapsebox/lapsebox/ptp/fetch"
)

// StoreSink is the download-mode sink that puts what the camera shot by
// itself into the photo store, with its outbox entries, like a capture:
// a file is downloaded (resumably) into Staging, imported into the store
// named after the time the camera took it, and its staged copy replaced by
// a small marker so that it is not downloaded again. After a crash between
// the import and the marker, the file is imported once more (a -1 copy):
// never lost, at worst twice.
type StoreSink struct {
	Store   *store.Store
	Staging string // a directory on the same file system as the store
	Targets func(ext string, raw bool) []string
	Camera  store.Camera
	// Location is the camera clock's zone (cameras keep local time).
	Location *time.Location
	// Now stamps files whose capture date is missing or implausible.
	Now func() time.Time
	// MakeRoom, if set, is called before a file is downloaded with the
	// bytes it needs on the disk (its staged copy and the store's, for a
	// moment both): retention runs before the disk fills, not after.
	MakeRoom func(need int64)
}

// marker records an object that is in the store.
type marker struct {
	Size  int64
	Photo string
}

func (s *StoreSink) markerPath(obj fetch.Object) string {
	return filepath.Join(fetch.StoreDir(s.Staging, obj.Storage), filepath.FromSlash(obj.Path)+".imported")
}

// Begin implements fetch.Sink.
func (s *StoreSink) Begin(obj fetch.Object) (fetch.Part, error) {
	if b, err := os.ReadFile(s.markerPath(obj)); err == nil {
		var m marker
		if json.Unmarshal(b, &m) == nil && m.Size == obj.Size {
			return nil, nil // in the store already
		}
	}
	p, err := fetch.Dir{Root: s.Staging}.Begin(obj)
	if p != nil && s.MakeRoom != nil {
		s.MakeRoom(2*(obj.Size-p.Size()) + plan.MetadataBytes)
	}
	if p == nil || err != nil {
		if err == nil {
			// Complete in staging but not imported: a crash came
			// between the two.
			err = s.importStaged(obj)
		}
		return nil, err
	}
	return &storePart{Part: p, sink: s, obj: obj}, nil
}

// storePart imports the object into the store once it is complete.
type storePart struct {
	fetch.Part
	sink *StoreSink
	obj  fetch.Object
}

// Commit implements fetch.Part.
func (p *storePart) Commit(size int64) error {
	if err := p.Part.Commit(size); err != nil {
		return err
	}
	return p.sink.importStaged(p.obj)
}

// importStaged moves the staged copy of obj into the store.
func (s *StoreSink) importStaged(obj fetch.Object) error {
	staged := filepath.Join(fetch.StoreDir(s.Staging, obj.Storage), filepath.FromSlash(obj.Path))
	f, err := os.Open(staged)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // a renamed copy (~2): fetch keeps those in staging
	}
	if err != nil {
		return err
	}
	defer f.Close()
	ext := strings.ToLower(path.Ext(obj.Path))
	if ext == "" || len(ext) > 9 {
		ext = ".bin"
	}
	raw := ext != ".jpg" && ext != ".jpeg"
	if ext == ".jpeg" {
		ext = ".jpg"
	}
	tx, err := s.Store.Begin(s.takenAt(obj), s.Camera, map[string]string{"camera file": obj.Path})
	if err != nil {
		return err
	}
	defer tx.Abort()
	w, err := tx.Create(ext, s.Targets(ext, raw))
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, f); err != nil {
		w.Close()
		return fmt.Errorf("importing %s: %w", obj.Path, err)
	}
	if err := w.Close(); err != nil {
		return err
	}
	photos, err := tx.Commit()
	if err != nil {
		return err
	}
	b, _ := json.Marshal(marker{Size: obj.Size, Photo: photos[0].Path})
	if err := durable.WriteFile(s.markerPath(obj), b); err != nil {
		return err
	}
	if err := os.Remove(staged); err != nil {
		return err
	}
	return durable.SyncDir(filepath.Dir(staged))
}

// takenAt is when the camera says it took obj, or now if it does not say
// or its clock was never set.
func (s *StoreSink) takenAt(obj fetch.Object) time.Time {
	loc := s.Location
	if loc == nil {
		loc = time.UTC
	}
	if obj.Info != nil {
		if t, err := ptp.ParseDateTime(obj.Info.CaptureDate, loc); err == nil && schedule.Plausible(t) {
			return t
		}
	}
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
