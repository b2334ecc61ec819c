// Package statetest gives tests fleet state databases of both backends:
// SQLite in a temporary directory, and PostgreSQL from Debian's package,
// one server per test binary started in a temporary directory (on a unix
// socket only) with a fresh database for each caller. A test binary that
// uses PostgreSQL calls Main from its TestMain, which stops the server.
package statetest

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/cloud/state"
	"github.com/lapsebox/lapsebox/internal/testtool"
)

// Backend is one backend a suite runs against.
type Backend struct {
	Name string
	// DSN returns the data source name of a new, empty database.
	DSN func(tb testing.TB) string
}

// Backends are SQLite and PostgreSQL.
var Backends = []Backend{
	{"sqlite", SQLite},
	{"postgres", Postgres},
}

// Run runs f as a subtest for each backend.
func Run(t *testing.T, f func(t *testing.T, dsn string)) {
	for _, b := range Backends {
		t.Run(b.Name, func(t *testing.T) { f(t, b.DSN(t)) })
	}
}

// Open opens dsn and closes it when the test ends.
func Open(tb testing.TB, dsn string) *state.DB {
	tb.Helper()
	db, err := state.Open(context.Background(), dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// SQLite returns the path of a new SQLite database in a temporary
// directory.
func SQLite(tb testing.TB) string {
	return "sqlite:" + filepath.Join(tb.TempDir(), "state", "fleet.db")
}

var pg struct {
	once sync.Once
	srv  *server
	err  error
	n    int
	mu   sync.Mutex
}

// Postgres returns the URL of a new database on the test binary's
// PostgreSQL server, starting it the first time. Without PostgreSQL the
// test fails under CI and is skipped otherwise.
func Postgres(tb testing.TB) string {
	tb.Helper()
	pg.once.Do(func() { pg.srv, pg.err = start() })
	if pg.err != nil {
		if _, ok := pg.err.(missing); ok {
			testtool.Missing(tb, pg.err.Error(), testtool.Install("postgres"))
		}
		tb.Fatalf("starting PostgreSQL: %v", pg.err)
	}
	pg.mu.Lock()
	pg.n++
	name := fmt.Sprintf("t%d", pg.n)
	pg.mu.Unlock()
	admin, err := sql.Open("pgx", pg.srv.url("postgres"))
	if err != nil {
		tb.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		tb.Fatalf("creating database %s: %v", name, err)
	}
	return pg.srv.url(name)
}

// Main runs the tests and stops the PostgreSQL server if one was
// started: func TestMain(m *testing.M) { os.Exit(statetest.Main(m)) }.
func Main(m *testing.M) int {
	code := m.Run()
	if pg.srv != nil {
		pg.srv.stop()
	}
	return code
}

type missing string

func (m missing) Error() string { return string(m) }

// server is a PostgreSQL server in a temporary directory.
type server struct {
	dir  string
	cmd  *exec.Cmd
	done chan error
}

func (s *server) url(db string) string {
	return "postgres://lapsebox@/" + db + "?host=" + s.dir + "&sslmode=disable"
}

// pgBin are where Debian installs PostgreSQL's programs.
const pgBin = "/usr/lib/postgresql/*/bin"

func start() (*server, error) {
	initdb, err := testtool.LookPath("initdb", pgBin)
	if err != nil {
		return nil, missing("PostgreSQL's initdb")
	}
	postgres, err := testtool.LookPath("postgres", filepath.Dir(initdb), pgBin)
	if err != nil {
		return nil, missing("PostgreSQL's postgres")
	}
	dir, err := os.MkdirTemp("", "lapsebox-pg-")
	if err != nil {
		return nil, err
	}
	// PostgreSQL refuses to run as root: as root, run it as the
	// postgres user (Debian's package creates it) or nobody.
	cred, err := unprivileged(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	data := filepath.Join(dir, "data")
	init := exec.Command(initdb, "-D", data, "-U", "lapsebox", "--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C")
	init.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := init.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	log, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(postgres, "-D", data, "-k", dir, "-c", "listen_addresses=",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=100")
	cmd.Stdout, cmd.Stderr = log, log
	// The server stops (fast shutdown) if the test binary dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGINT}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s := &server{dir: dir, cmd: cmd, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait(); log.Close() }()
	if err := s.wait(); err != nil {
		s.stop()
		b, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
		return nil, fmt.Errorf("%v\n%s", err, b)
	}
	return s, nil
}

// wait waits until the server accepts connections, or exits.
func (s *server) wait() error {
	db, err := sql.Open("pgx", s.url("postgres"))
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := db.PingContext(ctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case werr := <-s.done:
			s.done <- werr
			return fmt.Errorf("postgres exited: %v", werr)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres does not accept connections: %v", err)
		}
	}
}

func (s *server) stop() {
	s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
	os.RemoveAll(s.dir)
}

// unprivileged returns the credential to run PostgreSQL with, nil when
// not root, and gives it dir.
func unprivileged(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	var u *user.User
	var err error
	for _, name := range []string{"postgres", "nobody"} {
		if u, err = user.Lookup(name); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("running as root, and no postgres or nobody user to run PostgreSQL as: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}
