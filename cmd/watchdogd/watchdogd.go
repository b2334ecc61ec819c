// Binary watchdogd keeps the appliance alive: it holds every GPIO line
// (the external hardware watchdog's feed, the relays of camera and modem,
// inputs), feeds the watchdog only while the services' status files and
// the board's sensors say the appliance is doing its job, and
// power-cycles camera or modem when camerad or modemd ask over its socket,
// within each relay's caps. Its status is /run/lapsebox/watchdogd.json.
// Without a hardware section in the site configuration it touches no GPIO
// and records power-cycle requests.
//
// Example:
//
//	watchdogd -perm=/perm
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/appliance/health"
	"github.com/lapsebox/lapsebox/appliance/schedule"
	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/appliance/watchdog"
	"github.com/lapsebox/lapsebox/hw"
	"github.com/lapsebox/lapsebox/internal/rest"
)

var (
	perm = flag.String("perm", "/perm",
		"the persistent partition: the site configuration, the relays' history and the boot counter live under <perm>/lapsebox")
	statusDir = flag.String("status", statusfile.Dir,
		"directory of the services' status files; watchdogd.json is written there")
	socket = flag.String("socket", hw.DefaultSocket,
		"unix socket on which camerad and modemd ask for power cycles")
	sys  = flag.String("sys", "/sys", "sysfs, for the sensors")
	proc = flag.String("proc", "/proc", "procfs, for uptime and the boot ID")
)

func logic() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rest.AfterStart()
	logger := log.New(os.Stderr, "", log.LstdFlags)
	bootID, err := os.ReadFile(*proc + strings.TrimPrefix(health.BootIDFile, "/proc"))
	if err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	w := &config.Watcher{PermDir: *perm, Reload: hup, Logf: logger.Printf}
	if err := w.Run(ctx, func(ctx context.Context, cfg *config.Config) error {
		s := &watchdog.Service{
			Config: cfg, GPIO: hw.Kernel{}, Perm: *perm, StatusDir: *statusDir, Socket: *socket,
			Sensors: hw.Sensors{Sys: *sys, Proc: *proc, ClockFloor: time.Date(schedule.MinTrustedYear, 1, 1, 0, 0, 0, 0, time.UTC)},
			BootID:  strings.TrimSpace(string(bootID)), Logf: logger.Printf,
		}
		return s.Run(ctx)
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
