// Binary modemd keeps the cellular link up: it finds the USB modem's AT
// port, unlocks the SIM (its PIN is entered once, never retried once
// refused), sets the APN, brings up data over the modem's ECM interface,
// proves the link with a probe to the central server, and climbs an
// escalation ladder when the link is down (re-attach, radio off/on, modem
// reset, power cycle through the modem's relay). It counts the month's
// data against the cap, sends alert SMS and obeys SMS commands from
// allowed numbers. Its status is /run/lapsebox/modemd.json; it follows
// changes of the site configuration (SIGHUP reads it at once).
//
// Example:
//
//	modemd -perm=/perm
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

	"github.com/lapsebox/lapsebox/appliance/cellular"
	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/appliance/request"
	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/appliance/store"
	"github.com/lapsebox/lapsebox/hw"
	"github.com/lapsebox/lapsebox/internal/gokrazyhttp"
	"github.com/lapsebox/lapsebox/internal/rest"
	"github.com/lapsebox/lapsebox/modem"
	"github.com/lapsebox/lapsebox/modem/manager"
)

var (
	perm = flag.String("perm", "/perm",
		"the persistent partition: the site configuration is <perm>/lapsebox/config.json, modemd's memory <perm>/lapsebox/modem")
	runDir = flag.String("run", statusfile.Dir,
		"directory of the services' status files; modemd writes modemd.json there")
	requests = flag.String("requests", request.Dir,
		"directory where modemd asks camerad for a picture (SMS \"capture\")")
	sysfs = flag.String("sysfs", "/sys",
		"where sysfs is mounted")
	dhcp = flag.String("dhcp", "/gokrazy/dhcp",
		"DHCP client run on the modem's network interface (usb0)")
	mountinfoPath = flag.String("mountinfo", "/proc/self/mountinfo",
		"mount table, to wait for a mounted /perm")
)

func logic() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rest.AfterStart()
	logger := log.New(os.Stderr, "", log.LstdFlags)
	root := filepath.Join(*perm, "lapsebox")
	// The PIN memory must be on /perm: without it a restart could try a
	// refused PIN again. Wait for it rather than run without.
	if err := store.WaitPersistent(ctx, root, *mountinfoPath, func(err error) { logger.Print(err) }); err != nil {
		return fmt.Errorf("shut down waiting for /perm: %w", err)
	}
	wake, err := modem.WatchDevices(ctx)
	if err != nil {
		logger.Printf("%v: looking for the modem every 30 s instead", err)
	}
	link := &manager.DHCP{Command: []string{*dhcp}, Logf: logger.Printf}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	w := &config.Watcher{PermDir: *perm, Reload: hup, Logf: logger.Printf}
	if err := w.Run(ctx, func(ctx context.Context, cfg *config.Config) error {
		svc := &cellular.Service{
			Config: cfg, Perm: *perm, RunDir: *runDir, Requests: *requests, Sysfs: *sysfs,
			Relay:  &hw.Remote{Device: "modem", From: "modemd"}, // watchdogd holds the relay
			Link:   link,
			Reboot: (&gokrazyhttp.Client{}).Reboot,
			Wake:   wake,
			Logf:   logger.Printf,
		}
		return svc.Run(ctx)
	}); err != nil {
		return err
	}
	// Not nil: gokrazy takes exit status 0 for "done" and would not start
	// the service again after a restart from its web interface (a
	// SIGTERM). A stop is still a stop: gokrazy marks it stopped first.
	return fmt.Errorf("shut down: %w", context.Cause(ctx))
}

func main() {
	flag.Parse()
	if err := logic(); err != nil {
		log.Fatal(err)
	}
}
