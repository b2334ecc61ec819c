package gokrazyhttp

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A stand-in for gokrazy's handler on a unix socket: POST only, Basic
// auth with user gokrazy.
func TestReboot(t *testing.T) {
	dir := t.TempDir()
	socket := filepath.Join(dir, "gokrazy.sock")
	ln, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	rebooted := make(chan string, 1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		switch {
		case !ok || u != "gokrazy" || p != "s3cret":
			http.Error(w, "invalid username/password", http.StatusUnauthorized)
		case r.Method != http.MethodPost || r.URL.Path != "/reboot":
			http.Error(w, "expected a POST request", http.StatusBadRequest)
		default:
			rebooted <- r.FormValue("async")
		}
	})}
	go srv.Serve(ln)
	defer srv.Close()

	pwFile := filepath.Join(dir, "gokr-pw.txt")
	os.WriteFile(pwFile, []byte("s3cret\n"), 0o600)
	c := &Client{Socket: socket, PasswordFiles: []string{filepath.Join(dir, "missing"), pwFile}}
	if err := c.Reboot(context.Background()); err != nil {
		t.Fatal(err)
	}
	if async := <-rebooted; async != "true" {
		t.Errorf("async = %q", async)
	}
	os.WriteFile(pwFile, []byte("wrong"), 0o600)
	err = c.Reboot(context.Background())
	if err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "wrong") {
		t.Errorf("wrong password: %v", err)
	}
	bad := &Client{Socket: filepath.Join(dir, "none.sock"), PasswordFiles: []string{pwFile}}
	if err := bad.Reboot(context.Background()); err == nil || !strings.Contains(err.Error(), "none.sock") {
		t.Errorf("no socket: %v", err)
	}
}

// Each request's connection is closed once it is answered: a client made
// per request must leave nothing open behind it (each open connection
// holds goroutines and buffers in the service for good).
func TestRequestLeavesNoConnection(t *testing.T) {
	dir := t.TempDir()
	socket := filepath.Join(dir, "gokrazy.sock")
	ln, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	var open atomic.Int32
	closed := make(chan struct{}, 10)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}),
		ConnState: func(_ net.Conn, s http.ConnState) {
			switch s {
			case http.StateNew:
				open.Add(1)
			case http.StateClosed, http.StateHijacked:
				open.Add(-1)
				closed <- struct{}{}
			}
		},
	}
	go srv.Serve(ln)
	defer srv.Close()
	pwFile := filepath.Join(dir, "gokr-pw.txt")
	os.WriteFile(pwFile, []byte("s3cret\n"), 0o600)
	c := &Client{Socket: socket, PasswordFiles: []string{pwFile}}
	const n = 5
	for range n {
		if err := c.Reboot(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		select {
		case <-closed:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d connections still open after their requests", n-i, n)
		}
	}
	if o := open.Load(); o != 0 {
		t.Errorf("%d connections open", o)
	}
}
