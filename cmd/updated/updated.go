// Binary updated pulls signed releases from the central server and
// installs them: inside the site's maintenance window, never while the
// store is above its high-water mark or a capture is near, fetching only
// the blocks the running root lacks, through gokrazy's own update
// handlers. A release that keeps the boot files runs once on trial, and
// updated in that release commits it once the appliance is healthy and
// the server was reached, or returns to the committed root; a release
// that failed two trials is refused. Without an update section in the
// site configuration it pulls nothing. With or without, it takes new boot
// files a host pushes (lapsebox update) on port 8081, with the device's
// password, from private networks, and writes them into the boot slot
// not in use rather than over the ones in use. Its status is
// /run/lapsebox/updated.json.
//
// Example:
//
//	updated -perm=/perm
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/lapsebox/lapsebox/appliance/bootdisk"
	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/appliance/schedule"
	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/appliance/store"
	"github.com/lapsebox/lapsebox/appliance/updater"
	"github.com/lapsebox/lapsebox/hw"
	"github.com/lapsebox/lapsebox/image/release"
	"github.com/lapsebox/lapsebox/image/update"
	"github.com/lapsebox/lapsebox/internal/gokrazyhttp"
	"github.com/lapsebox/lapsebox/internal/rest"
)

var (
	perm = flag.String("perm", "/perm",
		"the persistent partition: the site configuration is <perm>/lapsebox/config.json, the staged release <perm>/lapsebox/update")
	runDir = flag.String("run", statusfile.Dir,
		"directory of the services' status files; updated reads camerad.json and writes updated.json")
	root = flag.String("root", "/",
		"the running root file system, whose "+release.BuildPath+" and "+release.KeyPath+" say what it is and whom it trusts")
	device = flag.String("device", "",
		"this device's name at the central server (default: the hostname)")
	sysfs         = flag.String("sysfs", "/sys", "where sysfs is mounted")
	proc          = flag.String("proc", "/proc", "where procfs is mounted: the kernel's command line says whether the root runs on trial")
	mountinfoPath = flag.String("mountinfo", "/proc/self/mountinfo",
		"mount table: the running root's partition, and a mounted /perm")
	socket = flag.String("gokrazy", gokrazyhttp.Socket, "gokrazy's HTTP unix socket")
	listen = flag.String("listen", ":"+update.UpdatedPort,
		"address to take a host's pushed boot files on ("+update.BootSlotPath+", the device's password); empty: none")
	allowPublic = flag.Bool("allow_public", false,
		"take pushes from any address, not only loopback, private and link-local ones")
)

func logic() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rest.AfterStart()
	logger := log.New(os.Stderr, "", log.LstdFlags)
	if err := store.WaitPersistent(ctx, filepath.Join(*perm, "lapsebox"), *mountinfoPath, func(err error) { logger.Print(err) }); err != nil {
		return fmt.Errorf("shut down waiting for /perm: %w", err)
	}
	// What the image lacks is reported by Run, and only when the site
	// asks for updates: a restart would not help.
	build, err := release.ReadBuildInfo(*root)
	if err != nil {
		logger.Print(err)
	}
	key, err := release.ReadPublicKey(filepath.Join(*root, release.KeyPath))
	if err != nil {
		logger.Print(err)
	}
	disk, err := bootdisk.Find(*mountinfoPath, *sysfs)
	if err != nil {
		logger.Print(err)
	}
	name := *device
	if name == "" {
		if name, err = os.Hostname(); err != nil {
			return err
		}
	}
	pw, _, err := gokrazyhttp.ReadPassword(gokrazyhttp.PasswordFiles)
	if err != nil {
		return err
	}
	gokrazy := update.Device{BaseURL: "http://gokrazy", Password: pw, Client: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", *socket)
		},
		ResponseHeaderTimeout: 4 * time.Minute, // gokrazy fsyncs the root before it answers
	}}}
	cmdline, err := os.ReadFile(filepath.Join(*proc, "cmdline"))
	if err != nil {
		logger.Print(err) // then no trial is judged, and none is started
	}
	pushes := make(chan updater.PushRequest)
	if *listen != "" {
		var h http.Handler = &updater.PushHandler{Password: pw, Requests: pushes, Logf: logger.Printf}
		if !*allowPublic {
			h = gokrazyhttp.PrivateOnly("updated", h)
		}
		go servePushes(*listen, h, logger)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	w := &config.Watcher{PermDir: *perm, Reload: hup, Logf: logger.Printf}
	if err := w.Run(ctx, func(ctx context.Context, cfg *config.Config) error {
		svc := &updater.Service{Config: cfg, Perm: *perm, RunDir: *runDir, Build: build, Key: key, Disk: disk,
			Device: name, Gokrazy: gokrazy, Logf: logger.Printf, Cmdline: string(cmdline), Pushes: pushes,
			// gokrazy's reboot kexecs partition 1's kernel only there.
			KexecTrials: runtime.GOARCH == "amd64",
			Sensors:     hw.Sensors{Sys: *sysfs, Proc: *proc, Perm: *perm, ClockFloor: time.Date(schedule.MinTrustedYear, 1, 1, 0, 0, 0, 0, time.UTC)}}
		return svc.Run(ctx)
	}); err != nil {
		return err
	}
	// Not nil: gokrazy takes exit status 0 for "done" and would not start
	// the service again after a restart from its web interface (a
	// SIGTERM). A stop is still a stop: gokrazy marks it stopped first.
	return fmt.Errorf("shut down: %w", context.Cause(ctx))
}

// servePushes serves h on addr. Without it a push writes the boot files
// in place, as gokrazy does: updated goes on pulling.
func servePushes(addr string, h http.Handler, logger *log.Logger) {
	srv := &http.Server{Addr: addr, Handler: h,
		ReadHeaderTimeout: 10 * time.Second,
		// A boot file system is up to 100 MiB, maybe over a slow link;
		// writing and flushing a slot takes seconds.
		ReadTimeout:    15 * time.Minute,
		WriteTimeout:   20 * time.Minute,
		IdleTimeout:    time.Minute,
		MaxHeaderBytes: 16 << 10,
		ErrorLog:       logger,
	}
	logger.Printf("taking pushed boot files on %s: %v", addr, srv.ListenAndServe())
}

func main() {
	flag.Parse()
	if err := logic(); err != nil {
		log.Fatal(err)
	}
}
