package state

import (
	"context"
	"fmt"
	"time"
)

// Alert states.
const (
	Pending = "pending" // the condition holds, its grace period runs
	Firing  = "firing"  // notified
)

// Alert is a condition that holds on a device.
type Alert struct {
	Device   string
	Kind     string // "silent", "missed", "dark", …
	State    string // Pending or Firing
	Severity string // "warning" or "critical"
	Since    time.Time
	Fired    time.Time
	Message  string
}

const alertColumns = `device, kind, state, severity, since_ms, fired_ms, message`

func scanAlert(r scanner) (Alert, error) {
	var (
		a            Alert
		since, fired int64
	)
	err := r.Scan(&a.Device, &a.Kind, &a.State, &a.Severity, &since, &fired, &a.Message)
	a.Since, a.Fired = fromMS(since), fromMS(fired)
	return a, err
}

// Alerts returns the device's alerts, pending and firing, by kind.
func (t *Tx) Alerts() ([]Alert, error) {
	rows, err := t.db.query(t.ctx, t.tx, `SELECT `+alertColumns+` FROM alerts WHERE device = ? ORDER BY kind`, t.status.Device)
	if err != nil {
		return nil, fmt.Errorf("state: device %q: reading alerts: %w", t.status.Device, err)
	}
	defer rows.Close()
	var out []Alert
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, fmt.Errorf("state: device %q: reading alerts: %w", t.status.Device, err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// PutAlert writes a, replacing the device's alert of that kind.
func (t *Tx) PutAlert(a Alert) error {
	_, err := t.db.exec(t.ctx, t.tx, `INSERT INTO alerts (`+alertColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (device, kind) DO UPDATE SET state = excluded.state, severity = excluded.severity,
		since_ms = excluded.since_ms, fired_ms = excluded.fired_ms, message = excluded.message`,
		t.status.Device, a.Kind, a.State, a.Severity, ms(a.Since), ms(a.Fired), a.Message)
	if err != nil {
		return fmt.Errorf("state: device %q: writing alert %s: %w", t.status.Device, a.Kind, err)
	}
	return nil
}

// DeleteAlert removes the device's alert of that kind.
func (t *Tx) DeleteAlert(kind string) error {
	if _, err := t.db.exec(t.ctx, t.tx, `DELETE FROM alerts WHERE device = ? AND kind = ?`, t.status.Device, kind); err != nil {
		return fmt.Errorf("state: device %q: removing alert %s: %w", t.status.Device, kind, err)
	}
	return nil
}

// Events.
const (
	Fired    = "firing"
	Resolved = "resolved"
)

// Event is an alert that fired or resolved.
type Event struct {
	ID       int64
	Device   string
	Kind     string
	Event    string // Fired or Resolved
	Severity string
	Message  string
	At       time.Time
}

// AddEvent records e for the transaction's device and returns its ID.
func (t *Tx) AddEvent(e Event) (int64, error) {
	var id int64
	err := t.db.queryRow(t.ctx, t.tx, `INSERT INTO alert_events (device, kind, event, severity, message, at_ms)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
		t.status.Device, e.Kind, e.Event, e.Severity, e.Message, ms(e.At)).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("state: device %q: recording event %s %s: %w", t.status.Device, e.Kind, e.Event, err)
	}
	return id, nil
}

// Notify queues a notification of event on channel, to be sent from at
// on. payload is what is sent, the same for every attempt.
func (t *Tx) Notify(event int64, channel string, payload []byte, at time.Time) error {
	_, err := t.db.exec(t.ctx, t.tx, `INSERT INTO notifications (event_id, channel, payload, next_ms) VALUES (?, ?, ?, ?)`,
		event, channel, string(payload), ms(at))
	if err != nil {
		return fmt.Errorf("state: device %q: queueing a notification on %s: %w", t.status.Device, channel, err)
	}
	return nil
}

// FiringAlerts returns every alert in state Firing, by device and kind.
func (db *DB) FiringAlerts(ctx context.Context) ([]Alert, error) {
	return db.alerts(ctx, `SELECT `+alertColumns+` FROM alerts WHERE state = ? ORDER BY device, kind`, Firing)
}

// DeviceAlerts returns a device's alerts, pending and firing, by kind.
func (db *DB) DeviceAlerts(ctx context.Context, device string) ([]Alert, error) {
	return db.alerts(ctx, `SELECT `+alertColumns+` FROM alerts WHERE device = ? ORDER BY kind`, device)
}

func (db *DB) alerts(ctx context.Context, query string, args ...any) ([]Alert, error) {
	rows, err := db.query(ctx, db.sql, query, args...)
	if err != nil {
		return nil, fmt.Errorf("state: reading alerts: %w", err)
	}
	defer rows.Close()
	var out []Alert
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, fmt.Errorf("state: reading alerts: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Events returns the last limit events, of device ("" for all), newest
// first.
func (db *DB) Events(ctx context.Context, device string, limit int) ([]Event, error) {
	query := `SELECT id, device, kind, event, severity, message, at_ms FROM alert_events`
	var args []any
	if device != "" {
		query += ` WHERE device = ?`
		args = append(args, device)
	}
	query += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := db.query(ctx, db.sql, query, args...)
	if err != nil {
		return nil, fmt.Errorf("state: reading events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var (
			e  Event
			at int64
		)
		if err := rows.Scan(&e.ID, &e.Device, &e.Kind, &e.Event, &e.Severity, &e.Message, &at); err != nil {
			return nil, fmt.Errorf("state: reading events: %w", err)
		}
		e.At = fromMS(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Notification is a queued message on one channel.
type Notification struct {
	ID       int64
	Channel  string
	Payload  []byte
	Attempts int // before this one
}

// Claim leases up to limit notifications due at now to owner until
// now+lease: another cloudd claiming at the same time gets other ones,
// and a lease that ran out (its owner died while sending) is claimed
// again. A notification is sent at least once; twice only if its
// sender dies between sending and recording it.
func (db *DB) Claim(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]Notification, error) {
	rows, err := db.query(ctx, db.sql, `UPDATE notifications SET lease_owner = ?, lease_ms = ?
		WHERE id IN (SELECT id FROM notifications
			WHERE sent_ms = 0 AND failed = 0 AND next_ms <= ? AND lease_ms <= ?
			ORDER BY id LIMIT ?`+db.d.skipLocked+`)
		RETURNING id, channel, payload, attempts`,
		owner, ms(now.Add(lease)), ms(now), ms(now), limit)
	if err != nil {
		return nil, fmt.Errorf("state: claiming notifications: %w", err)
	}
	defer rows.Close()
	var out []Notification
	for rows.Next() {
		var (
			n       Notification
			payload string
		)
		if err := rows.Scan(&n.ID, &n.Channel, &payload, &n.Attempts); err != nil {
			return nil, fmt.Errorf("state: claiming notifications: %w", err)
		}
		n.Payload = []byte(payload)
		out = append(out, n)
	}
	return out, rows.Err()
}

// Sent records that owner sent notification id at now. It reports false
// if owner's lease was lost (another cloudd claimed it since).
func (db *DB) Sent(ctx context.Context, id int64, owner string, now time.Time) (bool, error) {
	res, err := db.exec(ctx, db.sql, `UPDATE notifications SET sent_ms = ?, attempts = attempts + 1, lease_ms = 0, last_error = ''
		WHERE id = ? AND lease_owner = ? AND sent_ms = 0`, ms(now), id, owner)
	if err != nil {
		return false, fmt.Errorf("state: notification %d: %w", id, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// Failed records a failed attempt by owner: the notification is due
// again at next, or given up if giveUp.
func (db *DB) Failed(ctx context.Context, id int64, owner string, next time.Time, giveUp bool, reason string) error {
	failed := 0
	if giveUp {
		failed = 1
	}
	if len(reason) > 500 {
		reason = reason[:500]
	}
	_, err := db.exec(ctx, db.sql, `UPDATE notifications SET attempts = attempts + 1, next_ms = ?, lease_ms = 0, failed = ?, last_error = ?
		WHERE id = ? AND lease_owner = ? AND sent_ms = 0`, ms(next), failed, reason, id, owner)
	if err != nil {
		return fmt.Errorf("state: notification %d: %w", id, err)
	}
	return nil
}

// NotificationCounts counts the notifications by channel and outcome:
// "sent", "failed" (given up) and "queued".
func (db *DB) NotificationCounts(ctx context.Context) (map[string]map[string]int64, error) {
	rows, err := db.query(ctx, db.sql, `SELECT channel,
		CASE WHEN sent_ms > 0 THEN 'sent' WHEN failed = 1 THEN 'failed' ELSE 'queued' END AS outcome, COUNT(*)
		FROM notifications GROUP BY channel, outcome`)
	if err != nil {
		return nil, fmt.Errorf("state: counting notifications: %w", err)
	}
	defer rows.Close()
	out := map[string]map[string]int64{}
	for rows.Next() {
		var (
			ch, outcome string
			n           int64
		)
		if err := rows.Scan(&ch, &outcome, &n); err != nil {
			return nil, fmt.Errorf("state: counting notifications: %w", err)
		}
		if out[ch] == nil {
			out[ch] = map[string]int64{}
		}
		out[ch][outcome] = n
	}
	return out, rows.Err()
}
