// Package state keeps cloudd's fleet state in SQL: the devices and the
// hashes of their tokens, the latest status of each (its last heartbeat,
// its last picture), a short history of heartbeats, alerts with the
// events and notifications they cause, and the operators with their
// sessions.
//
// Two backends run the same SQL: SQLite, embedded (modernc.org/sqlite,
// pure Go, so a single cloudd needs nothing installed), and PostgreSQL
// (pgx), where several cloudd behind a load balancer share one state.
// Open picks the backend from the data source name. What differs between
// the two is kept in a dialect: the placeholders, the types of a few
// columns, and the row locks PostgreSQL takes where SQLite's write
// transactions already exclude each other.
//
// The schema is versioned (migrate.go): Open applies the migrations a
// database lacks, in one transaction that one cloudd at a time may run,
// and refuses a database a newer cloudd has migrated further. A later
// table (the photo index, customer links) is a new migration appended to
// the list, never an edit of an applied one.
//
// Times are stored as Unix milliseconds (BIGINT), the same in both
// backends; the zero time.Time is 0.
package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite"
)

// ErrNotFound is returned for a device, operator or session that does not
// exist.
var ErrNotFound = errors.New("not found")

// ErrExists is returned when adding a device or operator whose name is
// taken.
var ErrExists = errors.New("already exists")

// DB is the fleet state. Its methods are safe for concurrent use, also by
// several processes on one database.
type DB struct {
	sql *sql.DB
	d   dialect
}

// Backend names a DB's backend: "sqlite" or "postgres".
func (db *DB) Backend() string { return db.d.name }

// Open opens (creating, for SQLite) the database dsn names and brings its
// schema up to date:
//
//   - "postgres://user@host/db?sslmode=…" or "postgresql://…": PostgreSQL;
//   - "sqlite:/path/fleet.db", or a plain file path: SQLite, in WAL mode,
//     the file created with mode 0600 in a directory of mode 0700 (it holds
//     password and token hashes).
func Open(ctx context.Context, dsn string) (*DB, error) {
	var (
		db  *DB
		err error
	)
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		db, err = openPostgres(dsn)
	case dsn == "":
		return nil, errors.New("state: no database given")
	default:
		db, err = openSQLite(strings.TrimPrefix(dsn, "sqlite:"))
	}
	if err != nil {
		return nil, err
	}
	if err := db.sql.PingContext(ctx); err != nil {
		db.sql.Close()
		return nil, fmt.Errorf("state: connecting to the %s database: %w", db.d.name, err)
	}
	if err := db.migrate(ctx); err != nil {
		db.sql.Close()
		return nil, err
	}
	return db, nil
}

func openPostgres(dsn string) (*DB, error) {
	if _, err := url.Parse(dsn); err != nil {
		return nil, fmt.Errorf("state: PostgreSQL URL: %w", redactErr(err))
	}
	s, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("state: %w", redactErr(err))
	}
	s.SetMaxOpenConns(16)
	s.SetMaxIdleConns(4)
	s.SetConnMaxIdleTime(5 * time.Minute)
	return &DB{sql: s, d: postgres}, nil
}

// redactErr drops what a URL parse error quotes: the URL, password included.
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return errors.New(ue.Op + ": " + ue.Err.Error())
	}
	return err
}

func openSQLite(path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("state: no SQLite file given")
	}
	// The file's own directory is private; its parents are not ours to
	// close.
	dir := filepath.Dir(path)
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("state: %w", err)
	}
	// Create the file ourselves, so that its mode is ours and not the
	// driver's.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	f.Close()
	q := url.Values{}
	for _, p := range []string{
		"journal_mode(WAL)",
		"busy_timeout(30000)",
		"foreign_keys(1)",
		"synchronous(NORMAL)", // durable at checkpoints; WAL keeps it consistent
	} {
		q.Add("_pragma", p)
	}
	// Every transaction takes the write lock when it begins: two that
	// read then write never deadlock on upgrading their locks.
	q.Set("_txlock", "immediate")
	s, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	s.SetMaxOpenConns(8)
	return &DB{sql: s, d: sqlite}, nil
}

// Close closes the database.
func (db *DB) Close() error { return db.sql.Close() }

// dialect is what differs between the backends.
type dialect struct {
	name string
	// forUpdate locks the rows a SELECT reads until the transaction ends
	// (PostgreSQL); SQLite's immediate transactions already hold the
	// database's one write lock.
	forUpdate string
	// skipLocked is forUpdate for a queue: rows another transaction
	// holds are skipped rather than waited for.
	skipLocked string
	// types replaces {{name}} in migrations.
	types map[string]string
	// numbered: placeholders are $1, $2, … rather than ?.
	numbered bool
}

var (
	sqlite = dialect{
		name: "sqlite",
		types: map[string]string{
			"id":   "INTEGER PRIMARY KEY AUTOINCREMENT",
			"blob": "BLOB",
		},
	}
	postgres = dialect{
		name:       "postgres",
		forUpdate:  " FOR UPDATE",
		skipLocked: " FOR UPDATE SKIP LOCKED",
		types: map[string]string{
			"id":   "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
			"blob": "BYTEA",
		},
		numbered: true,
	}
)

// q rewrites a query written with ? placeholders for the backend. The
// queries of this package have no ? inside string literals.
func (d dialect) q(query string) string {
	if !d.numbered {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// expand replaces the {{type}} names of a migration.
func (d dialect) expand(stmt string) string {
	for k, v := range d.types {
		stmt = strings.ReplaceAll(stmt, "{{"+k+"}}", v)
	}
	return stmt
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (db *DB) exec(ctx context.Context, q querier, query string, args ...any) (sql.Result, error) {
	return q.ExecContext(ctx, db.d.q(query), args...)
}

func (db *DB) query(ctx context.Context, q querier, query string, args ...any) (*sql.Rows, error) {
	return q.QueryContext(ctx, db.d.q(query), args...)
}

func (db *DB) queryRow(ctx context.Context, q querier, query string, args ...any) *sql.Row {
	return q.QueryRowContext(ctx, db.d.q(query), args...)
}

// queryAll runs a query and scans each row with scan; what names the
// query in errors.
func queryAll[T any](ctx context.Context, db *DB, what string, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.query(ctx, db.sql, query, args...)
	if err != nil {
		return nil, fmt.Errorf("state: %s: %w", what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("state: %s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("state: %s: %w", what, err)
	}
	return out, nil
}

// inTx runs fn in a transaction, committed if fn returns nil.
func (db *DB) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("state: beginning a transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("state: committing: %w", err)
	}
	return nil
}

// ms is t as Unix milliseconds, 0 for the zero time.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMS is ms's inverse, in UTC.
func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}
