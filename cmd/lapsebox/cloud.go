package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http"
	"path/filepath"

	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/cloud/ingest"
	"github.com/lapsebox/lapsebox/image"
	"github.com/lapsebox/lapsebox/image/qemu"
)

// demoCloudAddr is where a VM reaches the host's cloudd.
const demoCloudAddr = "10.0.2.100:8081"

// demoCloud is cloudd's ingest running inside the host tool for a VM.
type demoCloud struct {
	addr, photos string
	srv          *http.Server
}

func (c *demoCloud) Close() error { return c.srv.Close() }

// startCloud starts cloudd's ingest on the host's loopback with a fresh
// token for the VM's hostname, and writes into the VM's /perm the default
// site configuration plus a cloud target pointing at it.
func startCloud(ctx context.Context, m *image.Manifest, vmDisk, root string) (*demoCloud, error) {
	token := rand.Text()
	devs, err := ingest.DevicesWithTokens(map[string]string{m.Hostname: token})
	if err != nil {
		return nil, err
	}
	quiet := slog.New(slog.DiscardHandler)
	srv, err := ingest.New(ingest.Config{Root: root, Devices: devs, Logger: quiet})
	if err != nil {
		return nil, err
	}
	var site map[string]any
	if err := json.Unmarshal(config.DefaultJSON(), &site); err != nil {
		return nil, err
	}
	site["targets"] = []map[string]string{{"name": "cloud", "kind": "cloud", "url": "http://" + demoCloudAddr, "secret": "cloud-token"}}
	site["secrets"] = map[string]string{"cloud-token": token}
	b, err := json.MarshalIndent(site, "", "  ")
	if err != nil {
		return nil, err
	}
	if _, err := config.Parse("demo site configuration", b); err != nil {
		return nil, err
	}
	if err := image.WritePermFile(ctx, vmDisk, m, config.Path, b); err != nil {
		return nil, err
	}
	// The VM reaches it through a GuestForward.
	limits := ingest.Limits{ReadHeaderTimeout: qemu.GuestForwardIdle, IdleTimeout: qemu.GuestForwardIdle}
	ln, err := ingest.Listen("127.0.0.1:0", limits)
	if err != nil {
		return nil, err
	}
	c := &demoCloud{addr: ln.Addr().String(), photos: filepath.Join(root, m.Hostname), srv: ingest.NewHTTPServer(srv.Handler(), limits, quiet)}
	go c.srv.Serve(ln)
	return c, nil
}
