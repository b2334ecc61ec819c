package state

import "context"

// ExecForTest runs a statement on db.
func ExecForTest(db *DB, query string, args ...any) error {
	_, err := db.exec(context.Background(), db.sql, query, args...)
	return err
}
