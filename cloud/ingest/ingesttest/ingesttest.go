// Package ingesttest runs cloudd's ingest in-process for tests: the
// server cmd/cloudd runs (ingest.NewHTTPServer on an ingest.Listen
// listener) on 127.0.0.1, for devices and tokens of the test's choosing,
// stoppable and restartable on the same address and directories.
package ingesttest

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/lapsebox/lapsebox/cloud/ingest"
)

// Options configure Start.
type Options struct {
	// Tokens maps each device allowed to upload to its token.
	Tokens map[string]string
	// Config is the server's configuration. Root defaults to a temporary
	// directory of the test, Logger to one that discards; Devices is
	// made from Tokens.
	Config ingest.Config
	// Limits are the HTTP server's limits (zero: cloudd's defaults).
	Limits ingest.Limits
	// Wrap, if set, wraps the server's handler (to watch the requests).
	Wrap func(http.Handler) http.Handler
}

// Cloud is a running ingest server.
type Cloud struct {
	// Root holds the received photos, <Root>/<device>/<name>.
	Root string
	// Server is the ingest server; Start and Restart replace it.
	Server *ingest.Server

	tb   testing.TB
	opts Options
	addr string
	http *http.Server
}

// Start starts a server and stops it when the test ends.
func Start(tb testing.TB, o Options) *Cloud {
	tb.Helper()
	devs, err := ingest.DevicesWithTokens(o.Tokens)
	if err != nil {
		tb.Fatal(err)
	}
	o.Config.Devices = devs
	if o.Config.Root == "" {
		o.Config.Root = tb.TempDir()
	}
	if o.Config.Logger == nil {
		o.Config.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Cloud{Root: o.Config.Root, tb: tb, opts: o, addr: "127.0.0.1:0"}
	c.Restart()
	tb.Cleanup(c.Stop)
	return c
}

// Restart starts the server again, on the address and directories it had:
// what a device sees of cloudd restarting. It is Start's second half.
func (c *Cloud) Restart() {
	c.tb.Helper()
	c.Stop()
	var err error
	if c.Server, err = ingest.New(c.opts.Config); err != nil {
		c.tb.Fatal(err)
	}
	ln, err := ingest.Listen(c.addr, c.opts.Limits)
	if err != nil {
		c.tb.Fatal(err)
	}
	c.addr = ln.Addr().String()
	h := c.Server.Handler()
	if c.opts.Wrap != nil {
		h = c.opts.Wrap(h)
	}
	c.http = ingest.NewHTTPServer(h, c.opts.Limits, c.opts.Config.Logger)
	go c.http.Serve(ln)
}

// Stop stops the server, closing its connections.
func (c *Cloud) Stop() {
	if c.http != nil {
		c.http.Close()
		c.http = nil
	}
}

// Addr is the server's address, "127.0.0.1:port".
func (c *Cloud) Addr() string { return c.addr }

// URL is the server's base URL, "http://127.0.0.1:port".
func (c *Cloud) URL() string { return "http://" + c.addr }

// Received maps every file the server holds for device to its SHA-256
// (hex), by name relative to the device's directory.
func (c *Cloud) Received(device string) map[string]string {
	c.tb.Helper()
	got := map[string]string{}
	dir := filepath.Join(c.Root, device)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		rel, _ := filepath.Rel(dir, p)
		got[filepath.ToSlash(rel)] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		c.tb.Fatal(err)
	}
	return got
}
