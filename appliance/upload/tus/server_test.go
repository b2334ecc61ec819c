package tus

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/appliance/upload"
	"github.com/lapsebox/lapsebox/cloud/ingest"
)

const (
	testDevice = "glacier-1"
	testToken  = "s3cret-token-of-glacier-1"
)

// cloud is cloudd in-process: an ingest.Server on 127.0.0.1 that can be
// stopped and started again on the same directories.
type cloud struct {
	t      *testing.T
	root   string
	srv    *ingest.Server
	http   *http.Server
	addr   string
	maxSz  int64
	expire time.Duration
}

func startCloud(t *testing.T) *cloud {
	t.Helper()
	c := &cloud{t: t, root: t.TempDir()}
	c.start()
	t.Cleanup(c.stop)
	return c
}

func (c *cloud) start() {
	c.t.Helper()
	devs, err := ingest.ParseDevices([]byte(`{"devices": {"` + testDevice + `": {"token_sha256": "` + ingest.HashToken(testToken) + `"}}}`))
	if err != nil {
		c.t.Fatal(err)
	}
	c.srv, err = ingest.New(ingest.Config{Root: c.root, Devices: devs, MaxSize: c.maxSz, Expire: c.expire, Logger: quietLogger()})
	if err != nil {
		c.t.Fatal(err)
	}
	addr := c.addr // a restart listens where the server was
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		c.t.Fatal(err)
	}
	c.addr = ln.Addr().String()
	c.http = &http.Server{Handler: c.srv.Handler()}
	go c.http.Serve(ln)
}

func (c *cloud) stop() {
	if c.http != nil {
		c.http.Close()
		c.http = nil
	}
}

func (c *cloud) url() string { return "http://" + c.addr }

// check verifies that the server holds exactly want (name → bytes) for the
// test device, each once, and nothing half-written under a final name.
func (c *cloud) check(want map[string][]byte) {
	c.t.Helper()
	got := map[string]string{}
	dir := filepath.Join(c.root, testDevice)
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, _ := os.ReadFile(p)
		s := sha256.Sum256(b)
		got[filepath.ToSlash(rel)] = hex.EncodeToString(s[:])
		return nil
	})
	for name, data := range want {
		s := sha256.Sum256(data)
		if got[name] != hex.EncodeToString(s[:]) {
			c.t.Errorf("server has %s with sha256 %q, want %x (%d bytes)", name, got[name], s, len(data))
		}
		delete(got, name)
	}
	for name := range got {
		c.t.Errorf("server has an unexpected file %s", name)
	}
}

func quietLogger() *slog.Logger {
	lvl := slog.LevelError + 4
	if os.Getenv("TUS_DEBUG") != "" {
		lvl = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}

func newTarget(t *testing.T, url string, mod func(*Config)) *Target {
	t.Helper()
	cfg := Config{
		URL:    url,
		Device: testDevice,
		Token:  testToken,
		Client: upload.NewClient(upload.ClientOptions{
			MinWait: 20 * time.Millisecond, MaxWait: 2 * time.Second,
			Logger: quietLogger(),
		}),
		StallTimeout: 2 * time.Second,
		Logger:       quietLogger(),
	}
	if mod != nil {
		mod(&cfg)
	}
	tg, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func isPermanent(err error, code int) bool {
	var p *upload.PermanentError
	return errors.As(err, &p) && p.StatusCode == code
}

var _ = strings.Contains
