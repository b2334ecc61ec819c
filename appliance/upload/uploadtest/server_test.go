package uploadtest

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/internal/crashtest"
)

// The test binary is the server program in these tests: "listen" serves
// HTTP on the address it is given, as a server would, saying so when the
// address is in use; "fail" exits with another error; "idle" never
// listens.
func TestMain(m *testing.M) {
	crashtest.Main(map[string]func(string) error{
		"listen": func(addr string) error {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err // "bind: address already in use"
			}
			return http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "the test server") }))
		},
		"fail": func(string) error { return errors.New("no configuration") },
		"idle": func(string) error { time.Sleep(time.Hour); return nil },
	})
	os.Exit(m.Run())
}

func testServer(t *testing.T, mode string) *Server {
	s := &Server{Name: "testserver", Dir: t.TempDir(), Command: func(addr string) (*exec.Cmd, error) {
		return crashtest.Command(mode, addr), nil
	}}
	t.Cleanup(s.Stop)
	return s
}

func get(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestServerRestartsOnItsPort(t *testing.T) {
	s := testServer(t, "listen")
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	if got := get(t, addr); got != "the test server" {
		t.Fatalf("GET %s: %q", addr, got)
	}
	s.Stop()
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatalf("%s still answers after Stop", addr)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if s.Addr() != addr || get(t, addr) != "the test server" {
		t.Errorf("restarted on %s, want %s", s.Addr(), addr)
	}
}

// TestServerMovesOffATakenPort takes the server's port while it is
// stopped, as another test's socket could: Start moves to another port,
// and only once the server itself listens there.
func TestServerMovesOffATakenPort(t *testing.T) {
	s := testServer(t, "listen")
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	s.Stop()
	thief, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer thief.Close()
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if s.Addr() == addr || s.Moves() != 1 {
		t.Fatalf("started on %s after %d moves; want another address than %s, one move", s.Addr(), s.Moves(), addr)
	}
	if got := get(t, s.Addr()); got != "the test server" {
		t.Errorf("GET %s: %q", s.Addr(), got)
	}
}

func TestServerStartFailures(t *testing.T) {
	s := testServer(t, "fail")
	err := s.Start()
	if err == nil || !strings.Contains(err.Error(), "no configuration") || s.Moves() != 0 {
		t.Errorf("Start of a failing server: %v after %d moves; want its error, no retry", err, s.Moves())
	}
	// A server that never listens, on a port someone else listens on:
	// the port answering is not the server starting.
	s = testServer(t, "idle")
	s.Timeout = 500 * time.Millisecond
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	s.port = other.Addr().(*net.TCPAddr).Port
	if err := s.Start(); err == nil || !strings.Contains(err.Error(), "does not listen") {
		t.Errorf("Start of a server that does not listen: %v", err)
	}
}
