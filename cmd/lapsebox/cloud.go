package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/cloud/gallery"
	"github.com/lapsebox/lapsebox/cloud/operator"
	"github.com/lapsebox/lapsebox/cloud/server"
	"github.com/lapsebox/lapsebox/cloud/state"
	"github.com/lapsebox/lapsebox/image"
)

// demoCloudAddr is where a VM reaches the host's cloudd.
const demoCloudAddr = "10.0.2.100:8081"

// demoCloud is cloudd running inside the host tool for a VM: its ingest,
// the heartbeats and the fleet page.
type demoCloud struct {
	addr, admin, photos string
	operator, password  string
	pages               string // a public link to the VM's camera pages
	stop                context.CancelFunc
	done                chan error
}

func (c *demoCloud) Close() error {
	c.stop()
	return <-c.done
}

// startCloud starts cloudd on the host's loopback with the VM's hostname
// as a device with a fresh token, and an operator "admin" with a fresh
// password, and writes into the VM's /perm the default site
// configuration plus a cloud target pointing at it.
func startCloud(ctx context.Context, m *image.Manifest, vmDisk, root string) (*demoCloud, error) {
	quiet := slog.New(slog.DiscardHandler)
	cfg := server.Config{Root: root, Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0"}
	s, err := server.Open(ctx, cfg, server.Options{Logger: quiet})
	if err != nil {
		return nil, err
	}
	token := rand.Text()
	sum := sha256.Sum256([]byte(token))
	err = s.DB.AddDevice(ctx, state.Device{Name: m.Hostname, TokenSHA256: sum, Created: time.Now(), Note: "the demo VM"})
	if errors.Is(err, state.ErrExists) { // the state of an earlier run
		err = s.DB.SetDeviceToken(ctx, m.Hostname, sum)
	}
	if err == nil {
		err = s.ReloadDevices(ctx)
	}
	var link string
	if err == nil {
		_, link, err = gallery.NewLink(ctx, s.DB, m.Hostname, "the demo", time.Now())
	}
	if err != nil {
		s.DB.Close()
		return nil, err
	}
	password := operator.NewPassword()
	hash, err := operator.HashPassword(password)
	if err == nil {
		err = s.DB.AddOperator(ctx, "admin", hash, time.Now())
		if errors.Is(err, state.ErrExists) {
			err = s.DB.SetPassword(ctx, "admin", hash, time.Now())
		}
	}
	if err != nil {
		s.DB.Close()
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
	if err := s.Listen(); err != nil {
		s.DB.Close()
		return nil, err
	}
	sctx, stop := context.WithCancel(context.Background())
	c := &demoCloud{addr: s.PublicAddr(), admin: s.AdminAddr(), photos: filepath.Join(root, m.Hostname),
		operator: "admin", password: password, pages: gallery.LinkPath(link), stop: stop, done: make(chan error, 1)}
	go func() { c.done <- s.Serve(sctx) }()
	return c, nil
}
