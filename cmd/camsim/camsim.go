// Binary camsim serves a simulated PTP camera over the usbredir protocol,
// so that a QEMU guest sees it as a USB camera and talks to it through its
// real kernel, libusb and gousb:
//
//	camsim -listen=127.0.0.1:37700 -photos=/tmp/photos &
//	qemu-system-x86_64 … -device usb-ehci,id=ehci \
//	  -chardev socket,id=cam-usbredir,host=127.0.0.1,port=37700,reconnect=1 \
//	  -device usb-redir,id=cam,chardev=cam-usbredir,bus=ehci.0
//
// SIGUSR1 unplugs the camera, SIGUSR2 plugs it in again. On exit camsim
// prints the operations the camera received.
package main

import (
	"context"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/lapsebox/lapsebox/ptp/sim"
)

var (
	listen = flag.String("listen", "127.0.0.1:37700",
		"TCP address QEMU's chardev connects to (loopback only unless -allow-remote)")
	allowRemote = flag.Bool("allow-remote", false,
		"allow a -listen address other than the loopback: whoever connects drives the camera")
	model = flag.String("model", "canon600d",
		"camera model: canon600d, nikond7000, generic or downloadonly")
	serial  = flag.String("serial", "", "serial number (default: the model's)")
	photos  = flag.String("photos", "", "directory to receive a copy of every picture the camera takes")
	files   = flag.String("files", "", "directory whose files are on the camera's card at start")
	quality = flag.String("quality", "jpeg", "image quality: jpeg, raw or raw+jpeg")
	jpeg    = flag.Int("jpeg-size", 0, "bytes of a captured JPEG (default: the simulator's)")
	raw     = flag.Int("raw-size", 0, "bytes of a captured RAW file (default: the simulator's)")
	verbose = flag.Bool("v", false, "log usbredir events")
)

var models = map[string]sim.Model{
	"canon600d": sim.CanonEOS600D, "nikond7000": sim.NikonD7000,
	"generic": sim.Generic, "downloadonly": sim.DownloadOnly,
}

var qualities = map[string]sim.Quality{"jpeg": sim.JPEG, "raw": sim.RAW, "raw+jpeg": sim.RAWAndJPEG}

func logic() error {
	m, ok := models[*model]
	if !ok {
		return fmt.Errorf("-model=%q: want canon600d, nikond7000, generic or downloadonly", *model)
	}
	q, ok := qualities[*quality]
	if !ok {
		return fmt.Errorf("-quality=%q: want jpeg, raw or raw+jpeg", *quality)
	}
	if err := checkLoopback(*listen); err != nil && !*allowRemote {
		return err
	}
	cfg := sim.RedirConfig{
		Sim:      sim.Config{Model: m, SerialNumber: *serial, Quality: q, JPEGSize: *jpeg, RAWSize: *raw},
		Addr:     *listen,
		PhotoDir: *photos,
		Logf:     log.Printf,
	}
	if !*verbose {
		cfg.Logf = nil
	}
	if *files != "" {
		var err error
		if cfg.Sim.Files, err = readFiles(*files); err != nil {
			return err
		}
	}
	if *photos != "" {
		if err := os.MkdirAll(*photos, 0o755); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cam, err := sim.ServeRedir(ctx, cfg)
	if err != nil {
		return err
	}
	defer cam.Close()
	log.Printf("%v (USB %04x:%04x) on %s; QEMU arguments:\n  -device usb-ehci,id=ehci %s",
		m, cam.Sim.USBVendorID(), cam.Sim.USBProductID(), cam.Addr, strings.Join(cam.Args(), " "))

	plug := make(chan os.Signal, 1)
	signal.Notify(plug, syscall.SIGUSR1, syscall.SIGUSR2)
	for {
		select {
		case <-ctx.Done():
			st, conns := cam.Stats()
			log.Printf("%d connections; last: %+v; %d pictures taken; operations: %v",
				conns, st, cam.Sim.Shots(), cam.Sim.Ops())
			return cam.Close()
		case s := <-plug:
			if s == syscall.SIGUSR1 {
				log.Printf("unplugging the camera")
				cam.Unplug()
				continue
			}
			log.Printf("plugging the camera in")
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := cam.Replug(pctx)
			cancel()
			if err != nil {
				log.Print(err)
			}
		}
	}
}

// checkLoopback refuses an address that is not on the loopback.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-listen=%q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-listen=%q is not a loopback address (use -allow-remote to serve it anyway)", addr)
	}
	return nil
}

// readFiles reads every regular file under dir, with paths relative to it.
func readFiles(dir string) ([]sim.File, error) {
	var card []sim.File
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		card = append(card, sim.File{Path: filepath.ToSlash(rel), Data: b})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("-files=%s: %w", dir, err)
	}
	return card, nil
}

func main() {
	flag.Parse()
	if err := logic(); err != nil {
		log.Fatal(err)
	}
}
