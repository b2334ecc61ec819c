// Binary camerad takes the pictures: it finds the PTP camera on USB,
// captures at every slot of the site's schedule into the photo store on
// /perm with an outbox entry for each upload target, climbs a recovery
// ladder when the camera fails, and applies retention. In download mode it
// copies what the camera shot by itself instead. Its status is
// /run/lapsebox/camerad.json, rewritten atomically. It starts again with
// the site configuration whenever the file changes (or on SIGHUP).
//
// Example:
//
//	camerad -perm=/perm
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/lapsebox/lapsebox/appliance/capture"
	"github.com/lapsebox/lapsebox/appliance/capture/usbcam"
	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/appliance/request"
	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/appliance/store"
	"github.com/lapsebox/lapsebox/hw"
	"github.com/lapsebox/lapsebox/internal/rest"
	"github.com/lapsebox/lapsebox/ptp"
	"github.com/lapsebox/lapsebox/ptp/camera"
	"github.com/lapsebox/lapsebox/ptp/fetch"
	"github.com/lapsebox/lapsebox/ptp/usb"
)

var (
	perm = flag.String("perm", "/perm",
		"the persistent partition: the site configuration is <perm>/lapsebox/config.json, photos go to <perm>/lapsebox")
	statusFile = flag.String("status", "/run/lapsebox/camerad.json",
		"status file, rewritten atomically")
	mode = flag.String("mode", "",
		"capture or download, overriding the site configuration")
	serial = flag.String("serial", "",
		"serial number (USB or PTP) of the camera to use, overriding the site configuration")
	mountinfoPath = flag.String("mountinfo", "/proc/self/mountinfo",
		"mount table, to refuse writing photos anywhere but a mounted /perm")
	buffer = flag.Int("buffer", 0,
		"bytes per USB bulk IN transfer while downloading (0: 1 MiB + 512, a chunk in one transfer; fewer, larger transfers cost less CPU)")
	requests = flag.String("requests", request.Dir,
		"directory where other services ask for a picture now (modemd, on an SMS); empty: none")

	// Download mode.
	dir = flag.String("dir", "/perm/lapsebox/download",
		"download mode: directory to copy the camera's files into, as <dir>/<store>/<path>")
	interval = flag.Duration("interval", 10*time.Second,
		"download mode: how often to look for new files on the camera")
	chunk = flag.Int("chunk", 1<<20,
		"download mode: bytes per GetPartialObject")
	deleteAfter = flag.Bool("delete", false,
		"download mode: delete each file from the camera once its copy is verified and synced")
	importFiles = flag.Bool("import", true,
		"download mode: put each downloaded file into the photo store and queue it for the targets (-dir is then only the staging area)")
)

func logic() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := log.New(os.Stderr, "", log.LstdFlags)
	status := &capture.StatusFile{Path: *statusFile}
	// The status file's age is the heartbeat: keep it fresh while idle,
	// as often as the configuration in use asks (5 s until one is read).
	status.SetHeartbeat(5 * time.Second)
	uctx, err := usb.NewContext(ctx, nil)
	if err != nil {
		return err
	}
	defer uctx.Close()

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	w := &config.Watcher{PermDir: *perm, Reload: hup, Logf: logger.Printf,
		// Keep shooting on the configuration in use rather than take
		// nothing; the error stays on the status page.
		Refused: func(err error) {
			status.Update(time.Now(), func(st *statusfile.Camera) { st.LastError, st.LastErrorTime = err.Error(), time.Now() })
		}}
	if err := w.Run(ctx, func(ctx context.Context, cfg *config.Config) error {
		status.SetHeartbeat(cfg.HeartbeatEvery())
		return run(ctx, cfg, uctx, status, logger)
	}); err != nil {
		return err
	}
	// Not nil: gokrazy takes exit status 0 for "done" and would not start
	// camerad again after a restart from its web interface (a SIGTERM). A
	// stop is still a stop: gokrazy marks the service stopped first.
	return fmt.Errorf("shut down: %w", context.Cause(ctx))
}

// run runs one configuration until ctx is done.
func run(ctx context.Context, cfg *config.Config, uctx *usb.Context, status *capture.StatusFile, logger *log.Logger) error {
	m := string(cfg.Camera.Mode)
	if *mode != "" {
		m = *mode
	}
	sel := usb.Selector{Serial: cfg.Camera.Serial}
	if *serial != "" {
		sel.Serial = *serial
	}
	dev := &usbcam.Device{
		USB:      uctx,
		Selector: sel,
		Match:    cfg.Camera.Matches,
		Options:  camera.Options{Conn: ptp.Options{BufferSize: *buffer}},
	}
	defer dev.Close()

	switch m {
	case "download":
		if err := waitPersistent(ctx, *dir, status, logger); err != nil {
			return nil
		}
		var st *store.Store
		if *importFiles {
			var err error
			if st, err = store.Open(filepath.Join(*perm, "lapsebox")); err != nil {
				return err
			}
		}
		d := capture.NewDownload(cfg, st, dev, *dir, *interval, fetch.Options{ChunkSize: *chunk, Delete: *deleteAfter}, status, logger)
		return d.Run(ctx)
	case "capture":
	default:
		return fmt.Errorf("-mode %q: want capture or download", m)
	}

	root := filepath.Join(*perm, "lapsebox")
	if err := waitPersistent(ctx, root, status, logger); err != nil {
		return nil
	}
	st, err := store.Open(root)
	if err != nil {
		return err
	}
	relay := &hw.Remote{Device: "camera", From: "camerad"} // watchdogd holds the relay
	loop := capture.NewLoop(cfg, st, dev, relay, status, logger)
	loop.Requests = *requests
	loop.Rest = func() {
		usb.ReleaseMemory()
		rest.Narrow()
	}
	loop.Work = rest.Widen
	return loop.Run(ctx)
}

// waitPersistent refuses to write photos until dir lies on a mounted,
// writable /perm: never fill the root or a tmpfs. It reports why on the
// status page and checks again every 30 s.
func waitPersistent(ctx context.Context, dir string, status *capture.StatusFile, logger *log.Logger) error {
	err := store.WaitPersistent(ctx, dir, *mountinfoPath, func(err error) {
		logger.Print(err)
		status.Update(time.Now(), func(st *statusfile.Camera) {
			st.State = "refusing to write"
			st.LastError, st.LastErrorTime = err.Error(), time.Now()
		})
	})
	if err != nil {
		return err
	}
	return os.MkdirAll(dir, 0o755)
}

func main() {
	flag.Parse()
	if err := logic(); err != nil {
		log.Fatal(err)
	}
}
