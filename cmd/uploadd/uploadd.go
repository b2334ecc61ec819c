// Binary uploadd drains the photo store's outbox: for every upload target
// of the site configuration it derives what the target wants (originals,
// JPGs, resized and captioned pictures, the latest only) and delivers it
// within the target's windows, interval and bandwidth, resuming interrupted
// transfers and retrying with backoff. An entry leaves the outbox only once
// the target confirmed the bytes. Its status is /run/lapsebox/uploadd.json.
// It also sends the device's heartbeat to each cloud target.
// It starts again with the site configuration whenever the file changes
// (or on SIGHUP).
//
// Example:
//
//	uploadd -perm=/perm
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/appliance/heartbeat"
	"github.com/lapsebox/lapsebox/appliance/status"
	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/appliance/store"
	"github.com/lapsebox/lapsebox/appliance/uploader"
	"github.com/lapsebox/lapsebox/internal/rest"
)

var (
	perm = flag.String("perm", "/perm",
		"the persistent partition: the site configuration is <perm>/lapsebox/config.json, the store <perm>/lapsebox")
	statusFile = flag.String("status", "/run/lapsebox/uploadd.json",
		"status file, rewritten atomically")
	mountinfoPath = flag.String("mountinfo", "/proc/self/mountinfo",
		"mount table, to wait for a mounted /perm")
	linkRate = flag.Int64("link_bytes_per_second", 0,
		"cap on the whole uplink, shared by the targets by priority and in turn (0: none)")
	device = flag.String("device", "",
		"this device's name at the central server (default: the hostname)")
	reconcileEvery = flag.Duration("reconcile_every", 24*time.Hour,
		"compare each target with the store this often and queue again what it lost (0: never)")
	reconcileOnce = flag.Bool("reconcile", false,
		"reconcile every target once, print what was found as JSON, and exit")
)

func logic() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rest.AfterStart()
	logger := log.New(os.Stderr, "", log.LstdFlags)
	name := *device
	if name == "" {
		var err error
		if name, err = os.Hostname(); err != nil {
			return err
		}
	}
	root := filepath.Join(*perm, "lapsebox")
	if err := store.WaitPersistent(ctx, root, *mountinfoPath, func(err error) { logger.Print(err) }); err != nil {
		return fmt.Errorf("shut down: %w", context.Cause(ctx))
	}
	// camerad owns the store and recovers it at its start; uploadd may
	// start while camerad writes a capture, which recovery would discard.
	st, err := store.Attach(root)
	if err != nil {
		return err
	}
	link := &uploader.Link{Rate: float64(*linkRate)}
	// Photos are sent for seconds after each capture: what sending them
	// used goes back half a minute after the last. A photo's upload
	// allocates a few hundred KiB, less than rest.DefaultMinAlloc. At
	// rest uploadd runs on one processor, which halves the cost of its
	// small wake-ups (the status file's heartbeat), and takes the others
	// back before each delivery: Busy first, so that the rest cannot
	// come between (rest.Timer).
	idle := &rest.Timer{After: 30 * time.Second, MinAlloc: 256 << 10, Rest: rest.Narrow}
	idle.Busy() // a device with nothing to send rests too
	working := func() {
		idle.Busy()
		rest.Widen()
	}
	// The heartbeat senders are told of each delivery, so that at rest
	// they sleep (heartbeat.Sender.Uploads).
	delivered := make(chan struct{}, 1)
	worked := func() {
		idle.Busy()
		select {
		case delivered <- struct{}{}:
		default:
		}
	}
	newUploader := func(cfg *config.Config) *uploader.Uploader {
		targets, errs := uploader.Build(cfg, name)
		for _, err := range errs {
			logger.Print(err)
		}
		u := &uploader.Uploader{Store: st, Targets: targets, Link: link, ReconcileEvery: *reconcileEvery,
			Status: &uploader.StatusFile{Path: *statusFile}, Log: logger, Heartbeat: cfg.HeartbeatEvery(), Worked: worked, Working: working}
		if cfg.Modem.MonthlyCapMB > 0 {
			u.DataCap = &uploader.DataCap{Path: filepath.Join(*perm, statusfile.DataUsePath),
				BillingDay: cfg.Modem.BillingDay, Location: cfg.Site.Location}
		}
		return u
	}
	if *reconcileOnce {
		cfg, source, err := config.Load(*perm)
		if err != nil {
			logger.Printf("site configuration: %v (using %s)", err, source)
		}
		return reconcile(ctx, newUploader(cfg))
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	w := &config.Watcher{PermDir: *perm, Reload: hup, Logf: logger.Printf}
	if err := w.Run(ctx, func(ctx context.Context, cfg *config.Config) error {
		logger.Printf("%d upload targets", len(cfg.Targets))
		// Heartbeats to each cloud target, with the target's token.
		go heartbeat.Run(ctx, cfg, name, heartbeat.Sources{StatusDir: filepath.Dir(*statusFile), Version: status.BuildVersion()}, delivered, logger.Printf)
		return newUploader(cfg).Run(ctx)
	}); err != nil {
		return err
	}
	// Not nil: gokrazy takes exit status 0 for "done" and would not start
	// uploadd again after a restart from its web interface (a SIGTERM).
	return fmt.Errorf("shut down: %w", context.Cause(ctx))
}

// reconcile compares every target with the store once.
func reconcile(ctx context.Context, u *uploader.Uploader) error {
	var errs []error
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	for _, t := range u.Targets {
		rep, err := u.Reconcile(ctx, t)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		enc.Encode(rep)
	}
	return errors.Join(errs...)
}

func main() {
	flag.Parse()
	if err := logic(); err != nil {
		log.Fatal(err)
	}
}
