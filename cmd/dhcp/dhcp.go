// Binary dhcp keeps a DHCP lease on one network interface and configures
// it: address, routes, resolver. The image installs it as /gokrazy/dhcp
// in place of gokrazy's client, with the same flags and the same effects
// on the system, and modemd runs a second one for the modem's usb0.
//
// It follows the link through netlink (no polling: at rest it sleeps
// until the lease's renewal time) and asks at once when the carrier
// comes up.
//
// Example:
//
//	dhcp -interface=usb0
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/lapsebox/lapsebox/dhcp"
	"github.com/lapsebox/lapsebox/internal/rest"
)

var (
	iface = flag.String("interface", "eth0",
		"network interface to obtain a DHCP lease on")
	extraPriority = flag.Int("extra_route_priority", 0,
		"added to the metric of the interface's routes (eth* 1, others 5; 1024 while the link has no carrier)")
	resolvConf = flag.String("resolv_conf", "/tmp/resolv.conf",
		"resolver configuration to write the lease's DNS servers to (gokrazy's /etc/resolv.conf points here); empty: none")
	notifyInit = flag.Bool("notify_init", true,
		"send init (pid 1) SIGHUP after each change, so that gokrazy listens on the new address")
)

func logic() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rest.AfterStart()
	logger := log.New(os.Stderr, "", log.LstdFlags)
	hostname, err := os.Hostname()
	if err != nil {
		return err
	}
	carrier, err := dhcp.WatchCarrier(ctx, *iface, logger.Printf)
	if err != nil {
		return err
	}
	c := &dhcp.Client{
		Hostname: hostname,
		Open:     func() (dhcp.Conn, error) { return dhcp.Listen(*iface) },
		Host: &dhcp.LinkHost{
			Name: *iface, ExtraPriority: *extraPriority, ResolvConf: *resolvConf,
			NotifyInit: *notifyInit, Logf: logger.Printf,
		},
		Carrier: carrier,
		Logf:    func(f string, args ...any) { logger.Printf(*iface+": "+f, args...) },
	}
	err = c.Run(ctx)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func main() {
	flag.Parse()
	if err := logic(); err != nil {
		log.Fatal(err)
	}
}
