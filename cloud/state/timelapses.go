package state

import (
	"context"
	"fmt"
	"time"
)

// States of a time-lapse.
const (
	TimelapsePending = "pending" // to make, or waiting to be retried (after a failure)
	TimelapseRunning = "running" // being made, under a lease
	TimelapseDone    = "done"
)

// Timelapse is a device's time-lapse of a day.
type Timelapse struct {
	Device, Day string
	State       string
	// Frames is how many pictures it has, DoneFrames how many are encoded.
	Frames, DoneFrames int
	Attempts           int
	// Next is when a failed one is tried again.
	Next time.Time
	// LeaseOwner holds it until Lease while it runs.
	LeaseOwner string
	Lease      time.Time
	Bytes      int64
	LastError  string
	Updated    time.Time
}

// DayKey names a device's day.
type DayKey struct{ Device, Day string }

// TimelapsesDue returns the days from since to until (inclusive,
// "2006-01-02") that have pictures with derived copies and no finished
// time-lapse, oldest first.
func (db *DB) TimelapsesDue(ctx context.Context, since, until string) ([]DayKey, error) {
	return queryAll(ctx, db, "time-lapses due", func(r scanner) (k DayKey, err error) {
		return k, r.Scan(&k.Device, &k.Day)
	}, `SELECT p.device, p.day FROM photos p
		LEFT JOIN timelapses t ON t.device = p.device AND t.day = p.day
		WHERE p.day >= ? AND p.day <= ? AND p.derived = 1 AND (t.state IS NULL OR t.state <> ?)
		GROUP BY p.device, p.day ORDER BY p.day, p.device`, since, until, TimelapseDone)
}

// ClaimTimelapse takes a day's time-lapse for owner until now+lease, if
// it is not done, not held by a live lease and not waiting for a retry.
// It reports whether owner has it: of several cloudd claiming at once,
// one does.
func (db *DB) ClaimTimelapse(ctx context.Context, k DayKey, owner string, now time.Time, lease time.Duration) (bool, error) {
	if _, err := db.exec(ctx, db.sql, `INSERT INTO timelapses (device, day, state, updated_ms) VALUES (?, ?, ?, ?)
		ON CONFLICT (device, day) DO NOTHING`, k.Device, k.Day, TimelapsePending, ms(now)); err != nil {
		return false, fmt.Errorf("state: time-lapse of %s on %s: %w", k.Device, k.Day, err)
	}
	res, err := db.exec(ctx, db.sql, `UPDATE timelapses SET state = ?, lease_owner = ?, lease_ms = ?, attempts = attempts + 1,
		frames = 0, done_frames = 0, updated_ms = ?
		WHERE device = ? AND day = ? AND state <> ? AND next_ms <= ? AND lease_ms <= ?`,
		TimelapseRunning, owner, ms(now.Add(lease)), ms(now), k.Device, k.Day, TimelapseDone, ms(now), ms(now))
	if err != nil {
		return false, fmt.Errorf("state: claiming the time-lapse of %s on %s: %w", k.Device, k.Day, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// TimelapseProgress records how far owner got and extends its lease; it
// is ErrNotFound if owner no longer holds the lease.
func (db *DB) TimelapseProgress(ctx context.Context, k DayKey, owner string, frames, done int, now time.Time, lease time.Duration) error {
	res, err := db.exec(ctx, db.sql, `UPDATE timelapses SET frames = ?, done_frames = ?, lease_ms = ?, updated_ms = ?
		WHERE device = ? AND day = ? AND lease_owner = ? AND state = ?`,
		frames, done, ms(now.Add(lease)), ms(now), k.Device, k.Day, owner, TimelapseRunning)
	return oneRow(res, err, "time-lapse lease", k.Device+" "+k.Day)
}

// FinishTimelapse marks owner's time-lapse made.
func (db *DB) FinishTimelapse(ctx context.Context, k DayKey, owner string, frames int, bytes int64, now time.Time) error {
	res, err := db.exec(ctx, db.sql, `UPDATE timelapses SET state = ?, frames = ?, done_frames = ?, bytes = ?, lease_ms = 0,
		last_error = '', updated_ms = ? WHERE device = ? AND day = ? AND lease_owner = ?`,
		TimelapseDone, frames, frames, bytes, ms(now), k.Device, k.Day, owner)
	return oneRow(res, err, "time-lapse lease", k.Device+" "+k.Day)
}

// FailTimelapse records owner's failure; the time-lapse is tried again
// from next.
func (db *DB) FailTimelapse(ctx context.Context, k DayKey, owner, reason string, next, now time.Time) error {
	res, err := db.exec(ctx, db.sql, `UPDATE timelapses SET state = ?, lease_ms = 0, next_ms = ?, last_error = ?, updated_ms = ?
		WHERE device = ? AND day = ? AND lease_owner = ? AND state = ?`,
		TimelapsePending, ms(next), reason, ms(now), k.Device, k.Day, owner, TimelapseRunning)
	return oneRow(res, err, "time-lapse lease", k.Device+" "+k.Day)
}

// Timelapses returns a device's time-lapses by day.
func (db *DB) Timelapses(ctx context.Context, device string) (map[string]Timelapse, error) {
	tls, err := queryAll(ctx, db, "the time-lapses of "+device, func(r scanner) (Timelapse, error) {
		var (
			t                    Timelapse
			next, lease, updated int64
		)
		err := r.Scan(&t.Device, &t.Day, &t.State, &t.Frames, &t.DoneFrames, &t.Attempts, &next, &t.LeaseOwner, &lease,
			&t.Bytes, &t.LastError, &updated)
		t.Next, t.Lease, t.Updated = fromMS(next), fromMS(lease), fromMS(updated)
		return t, err
	}, `SELECT device, day, state, frames, done_frames, attempts, next_ms, lease_owner, lease_ms,
		bytes, last_error, updated_ms FROM timelapses WHERE device = ?`, device)
	out := make(map[string]Timelapse, len(tls))
	for _, t := range tls {
		out[t.Day] = t
	}
	return out, err
}
