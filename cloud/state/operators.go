package state

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// AddOperator adds an operator with a password hash (the KDF's encoded
// string). A name taken is ErrExists.
func (db *DB) AddOperator(ctx context.Context, name, hash string, now time.Time) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := db.queryRow(ctx, tx, `SELECT COUNT(*) FROM operators WHERE name = ?`, name).Scan(&n); err != nil {
			return fmt.Errorf("state: adding operator %q: %w", name, err)
		}
		if n > 0 {
			return fmt.Errorf("state: operator %q: %w", name, ErrExists)
		}
		_, err := db.exec(ctx, tx, `INSERT INTO operators (name, password_hash, created_ms, changed_ms) VALUES (?, ?, ?, ?)`,
			name, hash, ms(now), ms(now))
		if err != nil {
			return fmt.Errorf("state: adding operator %q: %w", name, err)
		}
		return nil
	})
}

// SetPassword replaces an operator's password hash and ends the
// operator's sessions.
func (db *DB) SetPassword(ctx context.Context, name, hash string, now time.Time) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := db.exec(ctx, tx, `UPDATE operators SET password_hash = ?, changed_ms = ? WHERE name = ?`, hash, ms(now), name)
		if err := oneRow(res, err, "operator", name); err != nil {
			return err
		}
		if _, err := db.exec(ctx, tx, `DELETE FROM sessions WHERE operator = ?`, name); err != nil {
			return fmt.Errorf("state: operator %q: ending sessions: %w", name, err)
		}
		return nil
	})
}

// UpgradeHash replaces an operator's password hash by one of the same
// password under stronger parameters, if the hash is still old (no
// password change happened meanwhile). Sessions stay.
func (db *DB) UpgradeHash(ctx context.Context, name, old, hash string) error {
	_, err := db.exec(ctx, db.sql, `UPDATE operators SET password_hash = ? WHERE name = ? AND password_hash = ?`, hash, name, old)
	if err != nil {
		return fmt.Errorf("state: operator %q: %w", name, err)
	}
	return nil
}

// PasswordHash returns an operator's password hash; an unknown operator
// is ErrNotFound.
func (db *DB) PasswordHash(ctx context.Context, name string) (string, error) {
	var h string
	err := db.queryRow(ctx, db.sql, `SELECT password_hash FROM operators WHERE name = ?`, name).Scan(&h)
	if isNoRows(err) {
		return "", fmt.Errorf("state: operator %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("state: operator %q: %w", name, err)
	}
	return h, nil
}

// Operators returns the operators' names, sorted.
func (db *DB) Operators(ctx context.Context) ([]string, error) {
	rows, err := db.query(ctx, db.sql, `SELECT name FROM operators ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("state: listing operators: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("state: listing operators: %w", err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// Session is an operator's login.
type Session struct {
	// IDSHA256 is the hex SHA-256 of the session cookie's value.
	IDSHA256 string
	Operator string
	// CSRF is the token every form of the session carries.
	CSRF             string
	Created, Expires time.Time
}

// AddSession records s.
func (db *DB) AddSession(ctx context.Context, s Session) error {
	_, err := db.exec(ctx, db.sql, `INSERT INTO sessions (id_sha256, operator, csrf, created_ms, expires_ms) VALUES (?, ?, ?, ?, ?)`,
		s.IDSHA256, s.Operator, s.CSRF, ms(s.Created), ms(s.Expires))
	if err != nil {
		return fmt.Errorf("state: adding a session for %q: %w", s.Operator, err)
	}
	return nil
}

// Session returns the session whose cookie hashes to idSHA256, if it has
// not expired at now; otherwise ErrNotFound.
func (db *DB) Session(ctx context.Context, idSHA256 string, now time.Time) (Session, error) {
	var (
		s                Session
		created, expires int64
	)
	err := db.queryRow(ctx, db.sql, `SELECT id_sha256, operator, csrf, created_ms, expires_ms FROM sessions
		WHERE id_sha256 = ? AND expires_ms > ?`, idSHA256, ms(now)).Scan(&s.IDSHA256, &s.Operator, &s.CSRF, &created, &expires)
	if isNoRows(err) {
		return s, fmt.Errorf("state: session: %w", ErrNotFound)
	}
	if err != nil {
		return s, fmt.Errorf("state: session: %w", err)
	}
	s.Created, s.Expires = fromMS(created), fromMS(expires)
	return s, nil
}

// DeleteSession ends a session.
func (db *DB) DeleteSession(ctx context.Context, idSHA256 string) error {
	if _, err := db.exec(ctx, db.sql, `DELETE FROM sessions WHERE id_sha256 = ?`, idSHA256); err != nil {
		return fmt.Errorf("state: ending a session: %w", err)
	}
	return nil
}
