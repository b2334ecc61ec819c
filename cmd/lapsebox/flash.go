package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/image"
	"github.com/lapsebox/lapsebox/image/flash"
	"github.com/lapsebox/lapsebox/image/qemu"
)

func runFlash(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("flash", flag.ExitOnError)
	force := fs.Bool("force", false, "write to a disk the kernel does not mark removable (never the disk the system runs from)")
	noVerify := fs.Bool("no-verify", false, "skip reading the card back")
	site := fs.String("site", "", "site configuration to put on the card's /perm/"+config.Path+", checked like lapsebox config check; IMAGE itself is not changed")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: lapsebox flash [flags] IMAGE DEVICE\n\nWrites IMAGE (e.g. build/lapsebox-rpi.img) to DEVICE (e.g. /dev/sdb, /dev/mmcblk0).\n\n")
		fs.PrintDefaults()
	}
	fs.Parse(args)
	if fs.NArg() != 2 {
		fs.Usage()
		return fmt.Errorf("want IMAGE and DEVICE")
	}
	img, device := fs.Arg(0), fs.Arg(1)
	start := time.Now()
	bar := newProgressBar()
	opts := flash.Options{
		Force:    *force,
		Verify:   !*noVerify,
		Progress: func(done, total int64) { bar.update("flash", done, total) },
	}
	if err := flashImage(ctx, img, device, *site, opts); err != nil {
		return err
	}
	fmt.Printf("%s written to %s in %.1fs\n", img, device, time.Since(start).Seconds())
	return nil
}

// flashImage writes img to device after flash's checks. With a site
// configuration, what is written is a temporary sparse copy of img with
// the configuration on its /perm: the user's image file stays the one its
// manifest describes, and the card is verified against exactly what was
// written (writing /perm on the card afterwards would race with a desktop
// that mounts the new partitions).
func flashImage(ctx context.Context, img, device, site string, opts flash.Options) error {
	if err := flash.Check(device, opts); err != nil {
		return err
	}
	if site != "" {
		data, err := readSiteConfig(site)
		if err != nil {
			return err
		}
		m, err := image.ReadManifest(img)
		if err != nil {
			return fmt.Errorf("-site needs the image's manifest to find /perm: %w", err)
		}
		dir, err := os.MkdirTemp("", "lapsebox-flash-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cp := filepath.Join(dir, filepath.Base(img))
		if err := qemu.CopyDisk(img, cp); err != nil {
			return err
		}
		if err := image.WritePermFile(ctx, cp, m, config.Path, data); err != nil {
			return err
		}
		fmt.Printf("site configuration %s on /perm/%s of a copy of %s (the image file is unchanged)\n", site, config.Path, img)
		img = cp
	}
	return flash.Write(ctx, img, device, opts)
}
