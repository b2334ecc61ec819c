package state

import (
	"context"
	"fmt"
	"time"
)

// Indexed is a received photo in the photo index.
type Indexed struct {
	ID     int64
	Device string
	// Name is its name under the device's directory, as ingest stored it.
	Name string
	// Day is the capture's calendar day ("2026-11-26") where the fleet's
	// days begin.
	Day      string
	Captured time.Time
	Bytes    int64
	// Derived says it has a thumbnail and a web-size copy (a JPEG); a
	// RAW file has neither.
	Derived bool
}

// Day is a day of a device's archive.
type Day struct {
	Day string
	// Photos counts the day's photos, Derived those with a thumbnail.
	Photos, Derived int
	// First and Last are the captures of its first and last photo.
	First, Last time.Time
}

// IndexPhoto adds p to the index; a photo already there (by device and
// name) is left as it is. It reports whether it added it.
func (db *DB) IndexPhoto(ctx context.Context, p Indexed) (bool, error) {
	res, err := db.exec(ctx, db.sql, `INSERT INTO photos (device, name, day, captured_ms, bytes, derived) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (device, name) DO NOTHING`, p.Device, p.Name, p.Day, ms(p.Captured), p.Bytes, boolInt(p.Derived))
	if err != nil {
		return false, fmt.Errorf("state: indexing %s/%s: %w", p.Device, p.Name, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

const indexedColumns = `id, device, name, day, captured_ms, bytes, derived`

func scanIndexed(r scanner) (Indexed, error) {
	var (
		p        Indexed
		captured int64
		derived  int
	)
	err := r.Scan(&p.ID, &p.Device, &p.Name, &p.Day, &captured, &p.Bytes, &derived)
	p.Captured, p.Derived = fromMS(captured), derived != 0
	return p, err
}

func (db *DB) indexed(ctx context.Context, what, query string, args ...any) ([]Indexed, error) {
	return queryAll(ctx, db, what, scanIndexed, `SELECT `+indexedColumns+` FROM photos `+query, args...)
}

// IndexedNames returns the names of a device's indexed photos.
func (db *DB) IndexedNames(ctx context.Context, device string) (map[string]bool, error) {
	names, err := queryAll(ctx, db, "the photo index of "+device, func(r scanner) (n string, err error) {
		return n, r.Scan(&n)
	}, `SELECT name FROM photos WHERE device = ?`, device)
	out := make(map[string]bool, len(names))
	for _, n := range names {
		out[n] = true
	}
	return out, err
}

// LatestPhoto returns a device's newest photo with derived copies, by
// capture time; none is ErrNotFound.
func (db *DB) LatestPhoto(ctx context.Context, device string) (Indexed, error) {
	ps, err := db.indexed(ctx, "the latest photo of "+device,
		`WHERE device = ? AND derived = 1 ORDER BY captured_ms DESC, id DESC LIMIT 1`, device)
	if err == nil && len(ps) == 0 {
		err = fmt.Errorf("state: no photo of %q: %w", device, ErrNotFound)
	}
	if err != nil {
		return Indexed{}, err
	}
	return ps[0], nil
}

// DayPhotos returns a device's photos of day, by capture time.
func (db *DB) DayPhotos(ctx context.Context, device, day string) ([]Indexed, error) {
	return db.indexed(ctx, "the photos of "+device+" on "+day,
		`WHERE device = ? AND day = ? ORDER BY captured_ms, id`, device, day)
}

// IndexedPhoto returns a device's photo by ID; another device's or an
// unknown one is ErrNotFound.
func (db *DB) IndexedPhoto(ctx context.Context, device string, id int64) (Indexed, error) {
	ps, err := db.indexed(ctx, "a photo of "+device, `WHERE device = ? AND id = ?`, device, id)
	if err == nil && len(ps) == 0 {
		err = fmt.Errorf("state: photo %d of %q: %w", id, device, ErrNotFound)
	}
	if err != nil {
		return Indexed{}, err
	}
	return ps[0], nil
}

// Days returns the days of a device's archive, newest first.
func (db *DB) Days(ctx context.Context, device string) ([]Day, error) {
	return queryAll(ctx, db, "the days of "+device, func(r scanner) (Day, error) {
		var (
			d           Day
			first, last int64
		)
		err := r.Scan(&d.Day, &d.Photos, &d.Derived, &first, &last)
		d.First, d.Last = fromMS(first), fromMS(last)
		return d, err
	}, `SELECT day, COUNT(*), SUM(derived), MIN(captured_ms), MAX(captured_ms)
		FROM photos WHERE device = ? GROUP BY day ORDER BY day DESC`, device)
}
