package state

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// A migration takes the schema from version-1 to version. Its statements
// run in order, in one transaction with the version's record, and
// {{id}} and {{blob}} are replaced by the backend's types. Applied
// migrations are never edited: a change is a new migration at the end.
type migration struct {
	version int
	name    string
	stmts   []string
}

// migrations is the schema's history (see docs/cloud.md).
var migrations = []migration{
	{1, "fleet: devices, status, heartbeats, alerts, notifications, operators", []string{
		`CREATE TABLE devices (
			name TEXT PRIMARY KEY,
			token_sha256 TEXT NOT NULL,
			created_ms BIGINT NOT NULL,
			note TEXT NOT NULL DEFAULT ''
		)`,
		// One row per device, created with it: the latest of everything
		// the fleet page shows and the alerts read. The columns the page
		// sorts on and the metrics export are columns; the rest of the
		// last heartbeat is its JSON.
		`CREATE TABLE device_status (
			device TEXT PRIMARY KEY REFERENCES devices(name) ON DELETE CASCADE,
			last_seen_ms BIGINT NOT NULL DEFAULT 0,
			heartbeats BIGINT NOT NULL DEFAULT 0,
			heartbeat TEXT NOT NULL DEFAULT '',
			last_capture_ms BIGINT NOT NULL DEFAULT 0,
			day TEXT NOT NULL DEFAULT '',
			missed_today INTEGER NOT NULL DEFAULT 0,
			captures_today INTEGER NOT NULL DEFAULT 0,
			missed_counter BIGINT NOT NULL DEFAULT 0,
			captures_counter BIGINT NOT NULL DEFAULT 0,
			queue BIGINT NOT NULL DEFAULT 0,
			queue_bytes BIGINT NOT NULL DEFAULT 0,
			autonomy_days DOUBLE PRECISION,
			signal_dbm INTEGER,
			version TEXT NOT NULL DEFAULT '',
			photo_name TEXT NOT NULL DEFAULT '',
			photo_received_ms BIGINT NOT NULL DEFAULT 0,
			photo_captured_ms BIGINT NOT NULL DEFAULT 0,
			photo_bytes BIGINT NOT NULL DEFAULT 0,
			photo_luma DOUBLE PRECISION,
			photo_width INTEGER NOT NULL DEFAULT 0,
			photo_height INTEGER NOT NULL DEFAULT 0,
			thumb {{blob}}
		)`,
		// A few days of heartbeats, for what needs a window: slots
		// missed in the last hours, a queue that keeps growing.
		`CREATE TABLE heartbeat_log (
			device TEXT NOT NULL REFERENCES devices(name) ON DELETE CASCADE,
			at_ms BIGINT NOT NULL,
			queue BIGINT NOT NULL,
			missed INTEGER NOT NULL,
			captures INTEGER NOT NULL,
			PRIMARY KEY (device, at_ms)
		)`,
		// An alert whose condition holds: pending during its grace
		// period, then firing. A row that no longer holds is deleted
		// (after its recovery event, if it fired).
		`CREATE TABLE alerts (
			device TEXT NOT NULL REFERENCES devices(name) ON DELETE CASCADE,
			kind TEXT NOT NULL,
			state TEXT NOT NULL,
			severity TEXT NOT NULL,
			since_ms BIGINT NOT NULL,
			fired_ms BIGINT NOT NULL DEFAULT 0,
			message TEXT NOT NULL,
			PRIMARY KEY (device, kind)
		)`,
		// Every alert fired and resolved. No foreign key: the history
		// outlives a removed device.
		`CREATE TABLE alert_events (
			id {{id}},
			device TEXT NOT NULL,
			kind TEXT NOT NULL,
			event TEXT NOT NULL,
			severity TEXT NOT NULL,
			message TEXT NOT NULL,
			at_ms BIGINT NOT NULL
		)`,
		`CREATE INDEX alert_events_device ON alert_events (device, at_ms)`,
		// One row per event and channel, a queue: claimed under a lease
		// by one cloudd at a time, retried until sent or given up.
		`CREATE TABLE notifications (
			id {{id}},
			event_id BIGINT NOT NULL REFERENCES alert_events(id) ON DELETE CASCADE,
			channel TEXT NOT NULL,
			payload TEXT NOT NULL,
			attempts INTEGER NOT NULL DEFAULT 0,
			next_ms BIGINT NOT NULL,
			lease_owner TEXT NOT NULL DEFAULT '',
			lease_ms BIGINT NOT NULL DEFAULT 0,
			sent_ms BIGINT NOT NULL DEFAULT 0,
			failed INTEGER NOT NULL DEFAULT 0,
			last_error TEXT NOT NULL DEFAULT ''
		)`,
		`CREATE INDEX notifications_due ON notifications (sent_ms, failed, next_ms)`,
		`CREATE TABLE operators (
			name TEXT PRIMARY KEY,
			password_hash TEXT NOT NULL,
			created_ms BIGINT NOT NULL,
			changed_ms BIGINT NOT NULL
		)`,
		// Sessions by the SHA-256 of their cookie: a leaked database
		// holds no usable session.
		`CREATE TABLE sessions (
			id_sha256 TEXT PRIMARY KEY,
			operator TEXT NOT NULL REFERENCES operators(name) ON DELETE CASCADE,
			csrf TEXT NOT NULL,
			created_ms BIGINT NOT NULL,
			expires_ms BIGINT NOT NULL
		)`,
		`CREATE INDEX sessions_expires ON sessions (expires_ms)`,
	}},
	{2, "customer pages: public links, photo index, time-lapses", []string{
		// A public link by the SHA-256 of its token: the token itself is
		// shown once and kept nowhere. A revoked link stays listed.
		`CREATE TABLE links (
			id {{id}},
			token_sha256 TEXT NOT NULL UNIQUE,
			device TEXT NOT NULL REFERENCES devices(name) ON DELETE CASCADE,
			note TEXT NOT NULL DEFAULT '',
			created_ms BIGINT NOT NULL,
			revoked_ms BIGINT NOT NULL DEFAULT 0
		)`,
		// Every received photo once its derived copies are made (or it
		// has none, as a RAW file): the archive's days and pages, and the
		// live page's latest picture. day is the capture's calendar day
		// where the fleet's days begin.
		`CREATE TABLE photos (
			id {{id}},
			device TEXT NOT NULL REFERENCES devices(name) ON DELETE CASCADE,
			name TEXT NOT NULL,
			day TEXT NOT NULL,
			captured_ms BIGINT NOT NULL,
			bytes BIGINT NOT NULL,
			derived INTEGER NOT NULL,
			UNIQUE (device, name)
		)`,
		`CREATE INDEX photos_day ON photos (device, day, captured_ms)`,
		`CREATE INDEX photos_captured ON photos (device, derived, captured_ms)`,
		// One row per device and day whose time-lapse was started: a
		// queue with leases (one maker at a time over every cloudd),
		// retries with backoff, and the progress the archive shows.
		`CREATE TABLE timelapses (
			device TEXT NOT NULL REFERENCES devices(name) ON DELETE CASCADE,
			day TEXT NOT NULL,
			state TEXT NOT NULL,
			frames INTEGER NOT NULL DEFAULT 0,
			done_frames INTEGER NOT NULL DEFAULT 0,
			attempts INTEGER NOT NULL DEFAULT 0,
			next_ms BIGINT NOT NULL DEFAULT 0,
			lease_owner TEXT NOT NULL DEFAULT '',
			lease_ms BIGINT NOT NULL DEFAULT 0,
			bytes BIGINT NOT NULL DEFAULT 0,
			last_error TEXT NOT NULL DEFAULT '',
			updated_ms BIGINT NOT NULL DEFAULT 0,
			PRIMARY KEY (device, day)
		)`,
	}},
}

// migrationLock is the PostgreSQL advisory lock that lets one cloudd at a
// time migrate ("lapsebox" in ASCII).
const migrationLock = 0x6c61707365626f78

// SchemaVersion is the schema version this build knows.
func SchemaVersion() int { return migrations[len(migrations)-1].version }

// migrate applies the migrations the database lacks.
func (db *DB) migrate(ctx context.Context) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if db.d.name == "postgres" {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
				return fmt.Errorf("state: waiting for the migration lock: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version INTEGER PRIMARY KEY,
			name TEXT NOT NULL,
			applied_ms BIGINT NOT NULL
		)`); err != nil {
			return fmt.Errorf("state: creating schema_migrations: %w", err)
		}
		var have int
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
			return fmt.Errorf("state: reading the schema version: %w", err)
		}
		if have > SchemaVersion() {
			return fmt.Errorf("state: the database's schema is at version %d, this cloudd knows versions up to %d: run a newer cloudd", have, SchemaVersion())
		}
		for _, m := range migrations {
			if m.version <= have {
				continue
			}
			for i, stmt := range m.stmts {
				if _, err := tx.ExecContext(ctx, db.d.expand(stmt)); err != nil {
					return fmt.Errorf("state: migration %d (%s), statement %d: %w", m.version, m.name, i+1, err)
				}
			}
			if _, err := db.exec(ctx, tx, `INSERT INTO schema_migrations (version, name, applied_ms) VALUES (?, ?, ?)`,
				m.version, m.name, time.Now().UnixMilli()); err != nil {
				return fmt.Errorf("state: recording migration %d: %w", m.version, err)
			}
		}
		return nil
	})
}
