package state

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"fmt"
	"time"
)

// Link is a public link to a device's pages (cloud/gallery). Only the
// SHA-256 of its token is kept.
type Link struct {
	ID          int64
	Device      string
	TokenSHA256 [32]byte
	Note        string
	Created     time.Time
	// Revoked is when it was revoked (zero: it is live).
	Revoked time.Time
}

// AddLink records a link and returns its ID. An unknown device is
// ErrNotFound.
func (db *DB) AddLink(ctx context.Context, l Link) (int64, error) {
	var id int64
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := db.queryRow(ctx, tx, `SELECT COUNT(*) FROM devices WHERE name = ?`, l.Device).Scan(&n); err != nil {
			return fmt.Errorf("state: adding a link to %q: %w", l.Device, err)
		}
		if n == 0 {
			return fmt.Errorf("state: device %q: %w", l.Device, ErrNotFound)
		}
		err := db.queryRow(ctx, tx, `INSERT INTO links (token_sha256, device, note, created_ms) VALUES (?, ?, ?, ?) RETURNING id`,
			hex.EncodeToString(l.TokenSHA256[:]), l.Device, l.Note, ms(l.Created)).Scan(&id)
		if err != nil {
			return fmt.Errorf("state: adding a link to %q: %w", l.Device, err)
		}
		return nil
	})
	return id, err
}

// LinkDevice returns the device of the live (not revoked) link whose
// token hashes to sum; anything else is ErrNotFound. The hash found is
// compared again in constant time.
func (db *DB) LinkDevice(ctx context.Context, sum [32]byte) (string, error) {
	want := hex.EncodeToString(sum[:])
	var got, device string
	err := db.queryRow(ctx, db.sql, `SELECT token_sha256, device FROM links WHERE token_sha256 = ? AND revoked_ms = 0`, want).Scan(&got, &device)
	if isNoRows(err) || err == nil && subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return "", fmt.Errorf("state: link: %w", ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("state: looking up a link: %w", err)
	}
	return device, nil
}

// Links returns every link, revoked ones included, by ID.
func (db *DB) Links(ctx context.Context) ([]Link, error) {
	return queryAll(ctx, db, "listing links", func(r scanner) (Link, error) {
		var (
			l                Link
			sum              string
			created, revoked int64
		)
		if err := r.Scan(&l.ID, &l.Device, &sum, &l.Note, &created, &revoked); err != nil {
			return l, err
		}
		l.Created, l.Revoked = fromMS(created), fromMS(revoked)
		var err error
		if l.TokenSHA256, err = parseSum(sum); err != nil {
			return l, fmt.Errorf("link %d: %w", l.ID, err)
		}
		return l, nil
	}, `SELECT id, device, token_sha256, note, created_ms, revoked_ms FROM links ORDER BY id`)
}

// RevokeLink revokes a live link; an unknown or already revoked one is
// ErrNotFound.
func (db *DB) RevokeLink(ctx context.Context, id int64, now time.Time) error {
	res, err := db.exec(ctx, db.sql, `UPDATE links SET revoked_ms = ? WHERE id = ? AND revoked_ms = 0`, ms(now), id)
	return oneRow(res, err, "link", fmt.Sprint(id))
}

// RevokeLinks revokes every live link of a device and returns how many
// it revoked.
func (db *DB) RevokeLinks(ctx context.Context, device string, now time.Time) (int64, error) {
	res, err := db.exec(ctx, db.sql, `UPDATE links SET revoked_ms = ? WHERE device = ? AND revoked_ms = 0`, ms(now), device)
	if err != nil {
		return 0, fmt.Errorf("state: revoking the links of %q: %w", device, err)
	}
	return res.RowsAffected()
}
