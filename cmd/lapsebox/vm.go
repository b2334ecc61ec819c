package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/lapsebox/lapsebox/image"
	"github.com/lapsebox/lapsebox/image/qemu"
	"github.com/lapsebox/lapsebox/image/update"
	"github.com/lapsebox/lapsebox/ptp/sim"
)

func runVM(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("vm", flag.ExitOnError)
	var bf buildFlags
	bf.register(fs)
	rebuild := fs.Bool("build", false, "build the image first")
	uefi := fs.Bool("uefi", false, "boot a pc image through UEFI (OVMF and systemd-boot) instead of the legacy BIOS")
	gokrazyPort := fs.Int("gokrazy-port", 0, "host port for gokrazy's web interface (0 = any free port)")
	statusPort := fs.Int("status-port", 0, "host port for statusd (0 = any free port)")
	stateDir := fs.String("state", "", "directory for the VM's disk, serial log and monitor socket (default build/vm-BOARD)")
	keep := fs.Bool("keep", false, "boot the VM's disk as the last run left it instead of a fresh copy of the image")
	camera := fs.Bool("camera", false, "plug a simulated Canon EOS 600D into the VM's USB bus (usb-redir)")
	cloud := fs.Bool("cloud", false, "run cloudd on the host and send the VM's pictures and heartbeats there (adds a cloud target to the default site configuration); its fleet page shows the VM")
	fs.Parse(args)

	img, err := bf.load(ctx, *rebuild)
	if err != nil {
		return err
	}
	imgPath, m := img.path, img.manifest
	b, err := image.LookupBoard(m.Board)
	if err != nil {
		return err
	}
	dir := *stateDir
	if dir == "" {
		dir = "build/vm-" + b.Name
	}
	// The VM writes to its disk (/perm, updates): it gets a copy, so the
	// built image stays what the manifest describes.
	vmDisk := filepath.Join(dir, "disk.img")
	if _, err := os.Stat(vmDisk); *keep && err == nil {
		fmt.Printf("keeping the disk of the last run, %s\n", vmDisk)
	} else if err := qemu.CopyDisk(imgPath, vmDisk); err != nil {
		return err
	}
	cfg := qemu.Config{
		Image:    vmDisk,
		Board:    b,
		StateDir: dir,
		UEFI:     *uefi,
		Stderr:   os.Stderr,
		Forwards: []qemu.Forward{
			{Name: "gokrazy", GuestPort: m.HTTPPort, HostPort: *gokrazyPort},
			{Name: "statusd", GuestPort: 8080, HostPort: *statusPort},
		},
	}
	var notes []string
	if *camera && b.Name == "rpi" {
		return fmt.Errorf("vm: -camera plugs the camera into a USB EHCI controller on PCI, which QEMU's raspi3b does not have: use a pc or virt image")
	}
	if *camera {
		photos := filepath.Join(dir, "camera")
		cam, err := sim.ServeRedir(ctx, sim.RedirConfig{PhotoDir: photos})
		if err != nil {
			return err
		}
		defer cam.Close()
		cfg.ExtraArgs = append(append(cfg.ExtraArgs, "-device", "usb-ehci,id=ehci"), cam.Args()...)
		notes = append(notes, fmt.Sprintf("  camera:   simulated Canon EOS 600D on USB; what it shoots is copied to %s", photos))
	}
	if *cloud {
		c, err := startCloud(ctx, m, vmDisk, filepath.Join(dir, "cloud"))
		if err != nil {
			return err
		}
		defer c.Close()
		cfg.ToHost = append(cfg.ToHost, qemu.GuestForward{GuestAddr: demoCloudAddr, HostAddr: c.addr})
		notes = append(notes, fmt.Sprintf("  cloudd:   http://%s/, pictures arrive in %s", c.addr, c.photos),
			fmt.Sprintf("  fleet:    http://%s/fleet  user %s, password %s", c.addr, c.operator, c.password),
			fmt.Sprintf("  pages:    http://%s%s  the camera's live page and archive, for customers", c.addr, c.pages),
			fmt.Sprintf("  metrics:  http://%s/metrics, check: lapsebox check -server http://%s -device %s", c.admin, c.admin, m.Hostname))
	}
	vm, err := qemu.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer vm.Stop()
	pw := img.password
	fmt.Printf("booting %s (%s, build %s)\n", imgPath, b.Title, m.BuildTimestamp)
	fmt.Printf("  gokrazy:  http://%s/  user gokrazy, password %s\n", vm.Addr("gokrazy"), pw)
	fmt.Printf("  statusd:  http://%s/  the same user and password\n", vm.Addr("statusd"))
	fmt.Printf("  serial:   %s\n", vm.SerialLog)
	for _, n := range notes {
		fmt.Println(n)
	}
	fmt.Printf("  update:   lapsebox update -o %s -device http://%s/\n", imgPath, vm.Addr("gokrazy"))
	fmt.Printf("Ctrl-C stops the VM.\n")

	start := time.Now()
	dev := update.Device{BaseURL: "http://" + vm.Addr("gokrazy"), Password: pw}
	up := make(chan error, 1)
	go func() {
		up <- waitUp(ctx, dev, m.BuildTimestamp)
	}()
	for {
		select {
		case err := <-up:
			if err == nil {
				fmt.Printf("gokrazy status page up after %.1fs\n", time.Since(start).Seconds())
			} else if ctx.Err() == nil {
				fmt.Printf("device not up: %v\n", err)
			}
			up = nil
		case <-vm.Done():
			return fmt.Errorf("QEMU exited: %v (serial log: %s)", vm.Err(), vm.SerialLog)
		case <-ctx.Done():
			fmt.Println("stopping the VM")
			return nil
		}
	}
}

// waitUp polls the device until it reports build, for up to two minutes.
func waitUp(ctx context.Context, dev update.Device, build string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var last error
	for ctx.Err() == nil {
		// QEMU accepts forwarded connections before the guest listens and
		// holds them: poll with a short deadline.
		pollCtx, cancelPoll := context.WithTimeout(ctx, time.Second)
		st, err := update.Status(pollCtx, dev)
		cancelPoll()
		if err == nil && st.BuildTimestamp == build {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("device runs build %s, want %s", st.BuildTimestamp, build)
		}
		last = err
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
	return last
}
