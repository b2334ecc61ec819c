package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/lapsebox/lapsebox/internal/durable"
)

// Recent returns the newest n photos, newest first, each with its
// sidecar. It reads the newest day directories only, so it is cheap on a
// store of years: what a service shows after a restart comes from here,
// not from its memory. A photo whose sidecar cannot be read is skipped.
func (s *Store) Recent(n int) ([]Photo, error) {
	var out []Photo
	var walk func(rel string, depth int) error
	walk = func(rel string, depth int) error {
		des, err := os.ReadDir(filepath.Join(s.dir, filepath.FromSlash(rel)))
		if err != nil {
			return err
		}
		slices.Reverse(des) // ReadDir sorts by name: newest last
		for _, d := range des {
			if len(out) >= n {
				return nil
			}
			name := d.Name()
			p := rel + "/" + name
			if depth < 3 { // photos/YYYY/MM/DD
				if d.IsDir() {
					if err := walk(p, depth+1); err != nil {
						return err
					}
				}
				continue
			}
			if d.IsDir() || strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".tmp-") {
				continue
			}
			sc, err := s.ReadSidecar(p)
			if err != nil {
				continue // being deleted, or damaged: Verify reports it
			}
			out = append(out, Photo{Path: p, Sidecar: sc})
		}
		return nil
	}
	if n <= 0 {
		return nil, nil
	}
	if err := walk("photos", 0); err != nil {
		return out, fmt.Errorf("store: %w", err)
	}
	return out, nil
}

// Captures groups photos (as Recent returns them, newest first) into
// captures: the files a capture stored together (RAW+JPG), by their
// names, newest capture first.
func Captures(photos []Photo) [][]Photo {
	var out [][]Photo
	for _, p := range photos {
		if n := len(out); n > 0 && captureOf(out[n-1][0].Path) == captureOf(p.Path) {
			out[n-1] = append(out[n-1], p)
			continue
		}
		out = append(out, []Photo{p})
	}
	return out
}

// captureOf is a photo's path without its extension: what the files of
// one capture share.
func captureOf(p string) string { return strings.TrimSuffix(p, path.Ext(p)) }

// Delivery is the last photo a target confirmed it holds.
type Delivery struct {
	Target      string
	Photo       string // Photo.Path
	CaptureTime time.Time
	Time        time.Time // when the target confirmed it
}

// deliveryPath is where the last delivery to target is kept.
func (s *Store) deliveryPath(target string) string {
	return filepath.Join(s.dir, "delivered", target+".json")
}

// RecordDelivery keeps d as its target's last delivery, crash-safely, so
// that a status page shows it after a restart.
func (s *Store) RecordDelivery(d Delivery) error {
	if !targetRE.MatchString(d.Target) {
		return fmt.Errorf("store: target name %q: want lower-case letters, digits, - and _", d.Target)
	}
	p := s.deliveryPath(d.Target)
	if err := durable.MkdirAll(filepath.Dir(p)); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	b, _ := json.MarshalIndent(d, "", "  ")
	if err := durable.WriteFile(p, append(b, '\n')); err != nil {
		return fmt.Errorf("store: recording the delivery of %s to %s: %w", d.Photo, d.Target, err)
	}
	return nil
}

// LastDelivery returns the last delivery recorded for target; the zero
// Delivery if there was none.
func (s *Store) LastDelivery(target string) (Delivery, error) {
	var d Delivery
	if !targetRE.MatchString(target) {
		return d, fmt.Errorf("store: target name %q: want lower-case letters, digits, - and _", target)
	}
	b, err := os.ReadFile(s.deliveryPath(target))
	if errors.Is(err, os.ErrNotExist) {
		return d, nil
	}
	if err != nil {
		return d, fmt.Errorf("store: %w", err)
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return Delivery{}, fmt.Errorf("store: last delivery to %s: %w", target, err)
	}
	return d, nil
}
