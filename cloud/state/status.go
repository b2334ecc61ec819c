package state

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Status is what the server knows of one device now: its last heartbeat
// and the figures taken from it, and the last picture it received.
type Status struct {
	Device string
	// LastSeen is when its last heartbeat arrived (zero: never).
	LastSeen   time.Time
	Heartbeats int64
	// Heartbeat is the last heartbeat's JSON, as the device sent it.
	Heartbeat []byte
	// LastCapture is the device's last picture, as its heartbeat says:
	// it may not have been uploaded yet.
	LastCapture time.Time
	// Day is the server's calendar day ("2026-11-26") that MissedToday
	// and CapturesToday count.
	Day                           string
	MissedToday, CapturesToday    int
	MissedCounter, CaptureCounter int64 // the device's counters as last seen
	Queue, QueueBytes             int64 // photos and bytes waiting, all targets
	AutonomyDays                  *float64
	SignalDBM                     *int
	Version                       string
	// Photo is the newest picture received, by capture time.
	Photo Photo
}

// Photo is one received picture, as the fleet page shows it.
type Photo struct {
	Name     string
	Received time.Time
	Captured time.Time // from the upload's metadata; Received if it had none
	Bytes    int64
	// Luma is its mean brightness, 0 (black) to 255 (white); nil: not
	// analysed.
	Luma          *float64
	Width, Height int
}

const statusColumns = `device, last_seen_ms, heartbeats, heartbeat, last_capture_ms, day,
	missed_today, captures_today, missed_counter, captures_counter, queue, queue_bytes,
	autonomy_days, signal_dbm, version,
	photo_name, photo_received_ms, photo_captured_ms, photo_bytes, photo_luma, photo_width, photo_height`

type scanner interface{ Scan(dest ...any) error }

func scanStatus(r scanner) (Status, error) {
	var (
		s                                 Status
		hb                                string
		seen, capture, received, captured int64
		autonomy, luma                    sql.NullFloat64
		signal                            sql.NullInt64
	)
	err := r.Scan(&s.Device, &seen, &s.Heartbeats, &hb, &capture, &s.Day,
		&s.MissedToday, &s.CapturesToday, &s.MissedCounter, &s.CaptureCounter, &s.Queue, &s.QueueBytes,
		&autonomy, &signal, &s.Version,
		&s.Photo.Name, &received, &captured, &s.Photo.Bytes, &luma, &s.Photo.Width, &s.Photo.Height)
	if err != nil {
		return s, err
	}
	s.LastSeen, s.LastCapture = fromMS(seen), fromMS(capture)
	s.Photo.Received, s.Photo.Captured = fromMS(received), fromMS(captured)
	if hb != "" {
		s.Heartbeat = []byte(hb)
	}
	if autonomy.Valid {
		s.AutonomyDays = &autonomy.Float64
	}
	if luma.Valid {
		s.Photo.Luma = &luma.Float64
	}
	if signal.Valid {
		v := int(signal.Int64)
		s.SignalDBM = &v
	}
	return s, nil
}

// Statuses returns every device's status, by name.
func (db *DB) Statuses(ctx context.Context) ([]Status, error) {
	rows, err := db.query(ctx, db.sql, `SELECT `+statusColumns+` FROM device_status ORDER BY device`)
	if err != nil {
		return nil, fmt.Errorf("state: reading the fleet's status: %w", err)
	}
	defer rows.Close()
	var out []Status
	for rows.Next() {
		s, err := scanStatus(rows)
		if err != nil {
			return nil, fmt.Errorf("state: reading the fleet's status: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// Status returns one device's status; an unknown device is ErrNotFound.
func (db *DB) Status(ctx context.Context, device string) (Status, error) {
	s, err := scanStatus(db.queryRow(ctx, db.sql, `SELECT `+statusColumns+` FROM device_status WHERE device = ?`, device))
	if isNoRows(err) {
		return s, fmt.Errorf("state: device %q: %w", device, ErrNotFound)
	}
	if err != nil {
		return s, fmt.Errorf("state: device %q: %w", device, err)
	}
	return s, nil
}

// PutPhoto records p as device's last picture if it is newer (by capture
// time) than the one recorded, with its thumbnail (JPEG, may be nil). It
// reports whether it did.
func (db *DB) PutPhoto(ctx context.Context, device string, p Photo, thumb []byte) (bool, error) {
	var luma any
	if p.Luma != nil {
		luma = *p.Luma
	}
	res, err := db.exec(ctx, db.sql, `UPDATE device_status SET photo_name = ?, photo_received_ms = ?, photo_captured_ms = ?,
		photo_bytes = ?, photo_luma = ?, photo_width = ?, photo_height = ?, thumb = ?
		WHERE device = ? AND photo_captured_ms <= ?`,
		p.Name, ms(p.Received), ms(p.Captured), p.Bytes, luma, p.Width, p.Height, thumb, device, ms(p.Captured))
	if err != nil {
		return false, fmt.Errorf("state: device %q: recording photo %q: %w", device, p.Name, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// PhotoCaptured returns the capture time of device's last recorded
// picture (zero: none), to tell whether a new one is newer before
// analysing it.
func (db *DB) PhotoCaptured(ctx context.Context, device string) (time.Time, error) {
	var v int64
	err := db.queryRow(ctx, db.sql, `SELECT photo_captured_ms FROM device_status WHERE device = ?`, device).Scan(&v)
	if isNoRows(err) {
		return time.Time{}, fmt.Errorf("state: device %q: %w", device, ErrNotFound)
	}
	return fromMS(v), err
}

// Thumb returns the thumbnail of device's last picture (nil: none) and
// the picture's name.
func (db *DB) Thumb(ctx context.Context, device string) ([]byte, string, error) {
	var (
		b    []byte
		name string
	)
	err := db.queryRow(ctx, db.sql, `SELECT thumb, photo_name FROM device_status WHERE device = ?`, device).Scan(&b, &name)
	if isNoRows(err) {
		return nil, "", fmt.Errorf("state: device %q: %w", device, ErrNotFound)
	}
	if err != nil {
		return nil, "", fmt.Errorf("state: device %q: thumbnail: %w", device, err)
	}
	return b, name, nil
}

// Tx is a transaction on one device's status, alerts and heartbeat log,
// holding the device's lock: another cloudd evaluating the same device
// waits for it and then sees what it wrote.
type Tx struct {
	db     *DB
	tx     *sql.Tx
	ctx    context.Context
	status Status
}

// Update runs fn in a transaction on device, locked; committed if fn
// returns nil. An unknown device is ErrNotFound.
func (db *DB) Update(ctx context.Context, device string, fn func(*Tx) error) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		row := db.queryRow(ctx, tx, `SELECT `+statusColumns+` FROM device_status WHERE device = ?`+db.d.forUpdate, device)
		s, err := scanStatus(row)
		if isNoRows(err) {
			return fmt.Errorf("state: device %q: %w", device, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("state: device %q: %w", device, err)
		}
		return fn(&Tx{db: db, tx: tx, ctx: ctx, status: s})
	})
}

// Status is the device's status as the transaction began (PutStatus
// changes it).
func (t *Tx) Status() Status { return t.status }

// PutStatus writes s's heartbeat fields (all but Photo).
func (t *Tx) PutStatus(s Status) error {
	var autonomy, signal any
	if s.AutonomyDays != nil {
		autonomy = *s.AutonomyDays
	}
	if s.SignalDBM != nil {
		signal = *s.SignalDBM
	}
	_, err := t.db.exec(t.ctx, t.tx, `UPDATE device_status SET last_seen_ms = ?, heartbeats = ?, heartbeat = ?,
		last_capture_ms = ?, day = ?, missed_today = ?, captures_today = ?, missed_counter = ?, captures_counter = ?,
		queue = ?, queue_bytes = ?, autonomy_days = ?, signal_dbm = ?, version = ? WHERE device = ?`,
		ms(s.LastSeen), s.Heartbeats, string(s.Heartbeat), ms(s.LastCapture), s.Day, s.MissedToday, s.CapturesToday,
		s.MissedCounter, s.CaptureCounter, s.Queue, s.QueueBytes, autonomy, signal, s.Version, t.status.Device)
	if err != nil {
		return fmt.Errorf("state: device %q: writing status: %w", t.status.Device, err)
	}
	s.Device, s.Photo = t.status.Device, t.status.Photo
	t.status = s
	return nil
}

// LogEntry is one heartbeat in the log.
type LogEntry struct {
	At    time.Time
	Queue int64
	// Missed and Captures count the slots missed and pictures taken since
	// the heartbeat before.
	Missed, Captures int
}

// LogHeartbeat adds e to the device's heartbeat log; two in the same
// millisecond add up.
func (t *Tx) LogHeartbeat(e LogEntry) error {
	_, err := t.db.exec(t.ctx, t.tx, `INSERT INTO heartbeat_log (device, at_ms, queue, missed, captures) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (device, at_ms) DO UPDATE SET queue = excluded.queue,
		missed = heartbeat_log.missed + excluded.missed, captures = heartbeat_log.captures + excluded.captures`,
		t.status.Device, ms(e.At), e.Queue, e.Missed, e.Captures)
	if err != nil {
		return fmt.Errorf("state: device %q: logging a heartbeat: %w", t.status.Device, err)
	}
	return nil
}

// Log returns the device's heartbeats since since, oldest first.
func (t *Tx) Log(since time.Time) ([]LogEntry, error) {
	rows, err := t.db.query(t.ctx, t.tx, `SELECT at_ms, queue, missed, captures FROM heartbeat_log
		WHERE device = ? AND at_ms >= ? ORDER BY at_ms`, t.status.Device, ms(since))
	if err != nil {
		return nil, fmt.Errorf("state: device %q: reading the heartbeat log: %w", t.status.Device, err)
	}
	defer rows.Close()
	var out []LogEntry
	for rows.Next() {
		var (
			e  LogEntry
			at int64
		)
		if err := rows.Scan(&at, &e.Queue, &e.Missed, &e.Captures); err != nil {
			return nil, fmt.Errorf("state: device %q: reading the heartbeat log: %w", t.status.Device, err)
		}
		e.At = fromMS(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Prune deletes heartbeats logged before logBefore, sessions expired
// before now, and notifications settled (sent or given up) before
// settledBefore.
func (db *DB) Prune(ctx context.Context, now, logBefore, settledBefore time.Time) error {
	if _, err := db.exec(ctx, db.sql, `DELETE FROM heartbeat_log WHERE at_ms < ?`, ms(logBefore)); err != nil {
		return fmt.Errorf("state: pruning the heartbeat log: %w", err)
	}
	if _, err := db.exec(ctx, db.sql, `DELETE FROM sessions WHERE expires_ms < ?`, ms(now)); err != nil {
		return fmt.Errorf("state: pruning sessions: %w", err)
	}
	if _, err := db.exec(ctx, db.sql, `DELETE FROM notifications WHERE (sent_ms > 0 AND sent_ms < ?) OR (failed = 1 AND next_ms < ?)`,
		ms(settledBefore), ms(settledBefore)); err != nil {
		return fmt.Errorf("state: pruning notifications: %w", err)
	}
	return nil
}
