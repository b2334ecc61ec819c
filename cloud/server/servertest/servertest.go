// Package servertest runs cloudd in-process for tests: the whole server
// (ingest, heartbeats, fleet page, admin API) on 127.0.0.1, with an
// operator "admin" whose password the test knows, stopped when the test
// ends.
package servertest

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/cloud/operator"
	"github.com/lapsebox/lapsebox/cloud/server"
	"github.com/lapsebox/lapsebox/cloud/state"
)

// Cloud is a running cloudd.
type Cloud struct {
	*server.Server
	// Password is the operator admin's.
	Password string
	// URL is the public server's base URL, AdminURL the admin server's.
	URL, AdminURL string
}

// Start opens cfg (Root defaults to a temporary directory, the addresses
// to 127.0.0.1, the logger to a quiet one) and serves it until the test
// ends.
func Start(tb testing.TB, cfg server.Config, o server.Options) *Cloud {
	tb.Helper()
	if cfg.Root == "" {
		cfg.Root = tb.TempDir()
	}
	cfg.Listen, cfg.AdminListen = "127.0.0.1:0", "127.0.0.1:0"
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := server.Open(ctx, cfg, o)
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	pw, err := operator.Bootstrap(ctx, s.DB, "admin", time.Now())
	if err == nil {
		err = s.Listen()
	}
	if err != nil {
		cancel()
		s.DB.Close()
		tb.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- s.Serve(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("cloudd: %v", err)
		}
	})
	return &Cloud{Server: s, Password: pw, URL: "http://" + s.PublicAddr(), AdminURL: "http://" + s.AdminAddr()}
}

// AddDevice adds a device with token, and lets it upload at once.
func (c *Cloud) AddDevice(tb testing.TB, name, token string) {
	tb.Helper()
	ctx := context.Background()
	if err := c.DB.AddDevice(ctx, state.Device{Name: name, TokenSHA256: sha256.Sum256([]byte(token)), Created: time.Now()}); err != nil {
		tb.Fatal(err)
	}
	if err := c.ReloadDevices(ctx); err != nil {
		tb.Fatal(err)
	}
}
