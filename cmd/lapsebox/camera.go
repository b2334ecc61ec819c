package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lapsebox/lapsebox/ptp"
	"github.com/lapsebox/lapsebox/ptp/fetch"
	"github.com/lapsebox/lapsebox/ptp/usb"
)

const cameraUsage = `usage: lapsebox camera list
       lapsebox camera info [-serial S]
       lapsebox camera download [-serial S] [-chunk N] [-delete] DIR
       lapsebox camera props [-serial S]
       lapsebox camera set [-serial S] NAME VALUE
       lapsebox camera capture [-serial S] [-target card|host] [-manual-focus] [DIR]

list      the PTP cameras on USB, with their serial numbers
info      the camera's DeviceInfo and stores
download  every file the camera holds that DIR does not have yet, as
          DIR/<store>/<path>; an interrupted download resumes
props     the camera's properties: value, access and the values each takes
set       set a property (shutterspeed, aperture, iso, whitebalance,
          imageformat, capturetarget) and print the value read back
capture   take one picture and write its files into DIR (default .),
          never overwriting a file: IMG_0001-1.JPG if IMG_0001.JPG is there

On a desktop, a file manager (gvfs) may hold the camera: unmount it first.
`

func runCamera(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, cameraUsage)
		return errors.New("missing subcommand")
	}
	switch args[0] {
	case "list":
		return cameraList(ctx, args[1:])
	case "info":
		return cameraInfo(ctx, args[1:])
	case "download":
		return cameraDownload(ctx, args[1:])
	case "props":
		return cameraProps(ctx, args[1:])
	case "set":
		return cameraSet(ctx, args[1:])
	case "capture":
		return cameraCapture(ctx, args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Fprint(os.Stderr, cameraUsage)
		return nil
	}
	fmt.Fprint(os.Stderr, cameraUsage)
	return fmt.Errorf("unknown subcommand %q", args[0])
}

// usbContext starts libusb, giving up after a few seconds: on a laptop
// the USB file system is there or it is not.
func usbContext(ctx context.Context) (*usb.Context, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	return usb.NewContext(ctx, nil)
}

func cameraList(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("camera list", flag.ExitOnError)
	fs.Parse(args)
	uctx, err := usbContext(ctx)
	if err != nil {
		return err
	}
	defer uctx.Close()
	infos, err := uctx.List(ctx)
	if err != nil {
		return err
	}
	if len(infos) == 0 {
		return errors.New("no PTP camera on USB (is it switched on, and in PTP rather than mass-storage mode?)")
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "BUS\tADDR\tID\tSPEED\tMANUFACTURER\tMODEL\tSERIAL\tPTP SERIAL\tNOTE")
	for _, i := range infos {
		model := i.Model
		if model == "" {
			model = i.Product
		}
		fmt.Fprintf(w, "%d\t%d\t%04x:%04x\t%s\t%s\t%s\t%s\t%s\t%s\n", i.Bus, i.Address, i.VendorID, i.ProductID,
			i.Speed, dash(i.Manufacturer), dash(model), dash(i.Serial), dash(i.PTPSerial), i.Err)
	}
	return w.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// openCamera opens the camera with serial ("" = the first) and a session.
func openCamera(ctx context.Context, serial string) (*usb.Context, *ptp.Conn, usb.Info, error) {
	uctx, err := usbContext(ctx)
	if err != nil {
		return nil, nil, usb.Info{}, err
	}
	t, err := uctx.Open(ctx, usb.Selector{Serial: serial})
	if err != nil {
		uctx.Close()
		return nil, nil, usb.Info{}, err
	}
	info := t.Info()
	conn, err := ptp.Open(ctx, t, &ptp.Options{USBVendorID: info.VendorID})
	if err != nil {
		t.Close()
		uctx.Close()
		return nil, nil, info, fmt.Errorf("opening a PTP session with %s: %w", info, err)
	}
	return uctx, conn, info, nil
}

func cameraInfo(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("camera info", flag.ExitOnError)
	serial := fs.String("serial", "", "serial number of the camera (default: the first found)")
	fs.Parse(args)
	uctx, conn, info, err := openCamera(ctx, *serial)
	if err != nil {
		return err
	}
	defer uctx.Close()
	defer conn.Close(context.Background())
	di := conn.DeviceInfo()
	v := conn.Vendor()
	fmt.Printf("USB:            %s, %s speed, %d-byte packets, interface %d\n", info, info.Speed, info.MaxPacketSize, info.Interface)
	fmt.Printf("Manufacturer:   %s\nModel:          %s\nVersion:        %s\nSerial:         %s\n", di.Manufacturer, di.Model, di.DeviceVersion, di.SerialNumber)
	fmt.Printf("PTP:            %d.%02d, vendor extension %v %q\n", di.StandardVersion/100, di.StandardVersion%100, v, di.VendorExtensionDesc)
	names := func(n int, name func(i int) string) string {
		s := make([]string, n)
		for i := range s {
			s[i] = name(i)
		}
		return strings.Join(s, " ")
	}
	fmt.Printf("Operations:     %s\n", names(len(di.OperationsSupported), func(i int) string { return di.OperationsSupported[i].Name(v) }))
	fmt.Printf("Events:         %s\n", names(len(di.EventsSupported), func(i int) string { return di.EventsSupported[i].String() }))
	fmt.Printf("Properties:     %s\n", names(len(di.DevicePropertiesSupported), func(i int) string { return di.DevicePropertiesSupported[i].String() }))
	ids, err := conn.GetStorageIDs(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if id&0xFFFF == 0 {
			fmt.Printf("Store %08x:   empty slot\n", id)
			continue
		}
		si, err := conn.GetStorageInfo(ctx, id)
		if err != nil {
			fmt.Printf("Store %08x:   %v\n", id, err)
			continue
		}
		fmt.Printf("Store %08x:   %q %q, %.1f of %.1f GB free, %v\n", id, si.StorageDescription, si.VolumeLabel,
			float64(si.FreeSpaceInBytes)/1e9, float64(si.MaxCapacity)/1e9, si.AccessCapability)
	}
	return nil
}

func cameraDownload(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("camera download", flag.ExitOnError)
	serial := fs.String("serial", "", "serial number of the camera (default: the first found)")
	chunk := fs.Int("chunk", 1<<20, "bytes per GetPartialObject")
	del := fs.Bool("delete", false, "delete each file from the camera once its copy is verified")
	fs.Parse(args)
	if fs.NArg() != 1 {
		fmt.Fprint(os.Stderr, cameraUsage)
		return errors.New("download needs one directory")
	}
	dir := fs.Arg(0)
	uctx, conn, info, err := openCamera(ctx, *serial)
	if err != nil {
		return err
	}
	defer uctx.Close()
	defer conn.Close(context.Background())
	fmt.Printf("downloading from %s %s (%s) into %s\n", conn.DeviceInfo().Manufacturer, conn.DeviceInfo().Model, info, dir)
	bar := newProgressBar()
	start := time.Now()
	res, err := fetch.Fetch(ctx, conn, fetch.Dir{Root: dir}, &fetch.Options{
		ChunkSize: *chunk,
		Delete:    *del,
		Progress: func(p fetch.Progress) {
			if p.Object.Size > 0 {
				bar.update(p.Object.Path, p.Done, p.Object.Size)
			}
		},
	})
	secs := time.Since(start).Seconds()
	fmt.Printf("%d files on the camera: %d fetched, %d already here, %d failed, %d deleted; %.1f MB in %.1fs (%.1f MB/s)\n",
		res.Objects, res.Fetched, res.Skipped, res.Failed, res.Deleted, float64(res.Bytes)/1e6, secs, float64(res.Bytes)/1e6/secs)
	if errors.Is(err, ptp.ErrNoDevice) {
		return fmt.Errorf("%w\nthe camera went away: run the same command again to resume", err)
	}
	return err
}
