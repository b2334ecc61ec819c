package hwtest

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/hw"
)

// ServeRelays answers hw.Remote's requests for relays on a unix socket in
// a temporary directory, as watchdogd does, until the test ends; it
// returns the socket's path.
func ServeRelays(t testing.TB, relays map[string]hw.Cycler) string {
	t.Helper()
	socket := filepath.Join(t.TempDir(), "watchdogd.sock")
	ln, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := &hw.RelayServer{Relays: relays, Logf: t.Logf, ReadTimeout: time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return socket
}
