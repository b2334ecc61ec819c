package state

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Device is a device allowed to upload and send heartbeats.
type Device struct {
	Name string
	// TokenSHA256 is the SHA-256 of its token; the token itself is kept
	// nowhere on the server.
	TokenSHA256 [32]byte
	Created     time.Time
	Note        string
}

// AddDevice adds a device, with its (empty) status row. A name taken is
// ErrExists.
func (db *DB) AddDevice(ctx context.Context, d Device) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := db.queryRow(ctx, tx, `SELECT COUNT(*) FROM devices WHERE name = ?`, d.Name).Scan(&n); err != nil {
			return fmt.Errorf("state: adding device %q: %w", d.Name, err)
		}
		if n > 0 {
			return fmt.Errorf("state: device %q: %w", d.Name, ErrExists)
		}
		if _, err := db.exec(ctx, tx, `INSERT INTO devices (name, token_sha256, created_ms, note) VALUES (?, ?, ?, ?)`,
			d.Name, hex.EncodeToString(d.TokenSHA256[:]), ms(d.Created), d.Note); err != nil {
			return fmt.Errorf("state: adding device %q: %w", d.Name, err)
		}
		if _, err := db.exec(ctx, tx, `INSERT INTO device_status (device) VALUES (?)`, d.Name); err != nil {
			return fmt.Errorf("state: adding device %q: %w", d.Name, err)
		}
		return nil
	})
}

// SetDeviceToken replaces a device's token hash (a new token for a
// device whose card was lost).
func (db *DB) SetDeviceToken(ctx context.Context, name string, sum [32]byte) error {
	res, err := db.exec(ctx, db.sql, `UPDATE devices SET token_sha256 = ? WHERE name = ?`, hex.EncodeToString(sum[:]), name)
	return oneRow(res, err, "device", name)
}

// RemoveDevice removes a device, its status, heartbeats and alerts. Its
// alert history stays.
func (db *DB) RemoveDevice(ctx context.Context, name string) error {
	res, err := db.exec(ctx, db.sql, `DELETE FROM devices WHERE name = ?`, name)
	return oneRow(res, err, "device", name)
}

// oneRow turns an update or delete of one named row into ErrNotFound when
// it touched none.
func oneRow(res sql.Result, err error, what, name string) error {
	if err != nil {
		return fmt.Errorf("state: %s %q: %w", what, name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("state: %s %q: %w", what, name, err)
	}
	if n == 0 {
		return fmt.Errorf("state: %s %q: %w", what, name, ErrNotFound)
	}
	return nil
}

// Devices returns every device, by name.
func (db *DB) Devices(ctx context.Context) ([]Device, error) {
	rows, err := db.query(ctx, db.sql, `SELECT name, token_sha256, created_ms, note FROM devices ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("state: listing devices: %w", err)
	}
	defer rows.Close()
	var out []Device
	for rows.Next() {
		var (
			d       Device
			sum     string
			created int64
		)
		if err := rows.Scan(&d.Name, &sum, &created, &d.Note); err != nil {
			return nil, fmt.Errorf("state: listing devices: %w", err)
		}
		if d.TokenSHA256, err = parseSum(sum); err != nil {
			return nil, fmt.Errorf("state: device %q: %w", d.Name, err)
		}
		d.Created = fromMS(created)
		out = append(out, d)
	}
	return out, rows.Err()
}

// HasDevice reports whether a device of that name exists.
func (db *DB) HasDevice(ctx context.Context, name string) (bool, error) {
	var n int
	err := db.queryRow(ctx, db.sql, `SELECT COUNT(*) FROM devices WHERE name = ?`, name).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("state: device %q: %w", name, err)
	}
	return n > 0, nil
}

// isNoRows reports whether err is sql.ErrNoRows.
func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

// parseSum decodes a token's SHA-256 as the state keeps it, in hex.
func parseSum(s string) ([32]byte, error) {
	h, err := hex.DecodeString(s)
	if err != nil || len(h) != 32 {
		return [32]byte{}, errors.New("corrupt token hash")
	}
	return [32]byte(h), nil
}
