package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/lapsebox/lapsebox/image/flash"
)

func runFlash(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("flash", flag.ExitOnError)
	force := fs.Bool("force", false, "write to a disk the kernel does not mark removable (never the disk the system runs from)")
	noVerify := fs.Bool("no-verify", false, "skip reading the card back")
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
	if err := flash.Check(device, opts); err != nil {
		return err
	}
	if err := flash.Write(ctx, img, device, opts); err != nil {
		return err
	}
	fmt.Printf("%s written to %s in %.1fs\n", img, device, time.Since(start).Seconds())
	return nil
}
