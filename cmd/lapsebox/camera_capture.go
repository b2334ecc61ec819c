package main

// The camera subcommands built on package camera: props, set and capture.
// Each flag-parsing function opens the camera's USB transport and hands it
// to a function that takes a ptp.Transport, so that tests drive those
// against the simulator (ptp/sim).

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lapsebox/lapsebox/ptp"
	"github.com/lapsebox/lapsebox/ptp/camera"
	"github.com/lapsebox/lapsebox/ptp/fetch"
	"github.com/lapsebox/lapsebox/ptp/usb"
)

// progressMin is the size from which capture shows a file's download
// progress: a JPEG arrives in a blink, a RAW file takes a moment.
const progressMin = 1 << 20

func cameraProps(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("camera props", flag.ExitOnError)
	serial := fs.String("serial", "", "serial number of the camera (default: the first found)")
	fs.Parse(args)
	if fs.NArg() != 0 {
		fmt.Fprint(os.Stderr, cameraUsage)
		return fmt.Errorf("props takes no arguments, got %q", fs.Args())
	}
	return onUSBCamera(ctx, *serial, camera.Options{}, func(t ptp.Transport, opts camera.Options) error {
		return printProps(ctx, t, opts, os.Stdout)
	})
}

func cameraSet(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("camera set", flag.ExitOnError)
	serial := fs.String("serial", "", "serial number of the camera (default: the first found)")
	fs.Parse(args)
	if fs.NArg() != 2 {
		fmt.Fprint(os.Stderr, cameraUsage)
		return fmt.Errorf("set needs a property name and a value, got %q", fs.Args())
	}
	return onUSBCamera(ctx, *serial, camera.Options{}, func(t ptp.Transport, opts camera.Options) error {
		return setProp(ctx, t, opts, fs.Arg(0), fs.Arg(1), os.Stdout)
	})
}

func cameraCapture(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("camera capture", flag.ExitOnError)
	serial := fs.String("serial", "", "serial number of the camera (default: the first found)")
	target := fs.String("target", "card", `Canon EOS: where the camera stores the picture, "card" (a copy stays on the card) or "host"`)
	manual := fs.Bool("manual-focus", false, "release the shutter without autofocus (Canon EOS, Nikon)")
	fs.Parse(args)
	if fs.NArg() > 1 {
		fmt.Fprint(os.Stderr, cameraUsage)
		return fmt.Errorf("capture takes at most one directory, got %q", fs.Args())
	}
	dir := "."
	if fs.NArg() == 1 {
		dir = fs.Arg(0)
	}
	opts := camera.Options{ManualFocus: *manual}
	switch *target {
	case "card":
		opts.Target = camera.Card
	case "host":
		opts.Target = camera.Host
	default:
		return fmt.Errorf(`-target %q: want "card" or "host"`, *target)
	}
	bar := newProgressBar()
	return onUSBCamera(ctx, *serial, opts, func(t ptp.Transport, opts camera.Options) error {
		_, err := capturePicture(ctx, t, opts, dir, os.Stdout, bar.update)
		return err
	})
}

// onUSBCamera opens the camera with serial ("" = the first) on USB and
// calls fn with its transport, which fn owns, and opts completed with the
// camera's USB vendor ID.
func onUSBCamera(ctx context.Context, serial string, opts camera.Options, fn func(ptp.Transport, camera.Options) error) error {
	uctx, err := usbContext(ctx)
	if err != nil {
		return err
	}
	defer uctx.Close()
	t, err := uctx.Open(ctx, usb.Selector{Serial: serial})
	if err != nil {
		return err
	}
	opts.Conn.USBVendorID = t.Info().VendorID
	return fn(t, opts)
}

// withCamera opens the camera on t, runs fn and closes the camera. t is
// closed in every case, also when the camera cannot be opened. The camera
// is closed (a Canon EOS body leaves remote mode) even after ctx is
// cancelled.
func withCamera(ctx context.Context, t ptp.Transport, opts camera.Options, fn func(*camera.Camera) error) error {
	cam, err := camera.Open(ctx, t, opts)
	if err != nil {
		t.Close()
		return fmt.Errorf("opening the camera: %w", err)
	}
	err = fn(cam)
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if cerr := cam.Close(cctx); cerr != nil && err == nil {
		err = fmt.Errorf("closing the camera %s: %w", cam.Identity(), cerr)
	}
	return err
}

// printProps writes the properties of the camera on t to w as a table:
// name, value, whether it can be set, and the values it takes.
func printProps(ctx context.Context, t ptp.Transport, opts camera.Options, w io.Writer) error {
	return withCamera(ctx, t, opts, func(cam *camera.Camera) error {
		props, err := cam.Props(ctx)
		if err != nil {
			return fmt.Errorf("reading the properties of %s: %w", cam.Identity(), err)
		}
		if len(props) == 0 {
			_, err := fmt.Fprintf(w, "%s (%s) reports no properties\n", cam.Identity(), cam.Kind())
			return err
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PROPERTY\tVALUE\tACCESS\tCHOICES")
		for _, p := range props {
			access := "rw"
			if p.ReadOnly {
				access = "ro"
			}
			choices := "-"
			if len(p.Choices) > 0 {
				choices = strings.Join(p.Choices, ", ")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Name, p.Value, access, choices)
		}
		return tw.Flush()
	})
}

// setProp sets property name (case does not matter: "ImageFormat" is
// camera.ImageFormat) of the camera on t to value, reads it back and
// writes "name = value" as the camera now has it to w.
func setProp(ctx context.Context, t ptp.Transport, opts camera.Options, name, value string, w io.Writer) error {
	name = strings.ToLower(name)
	return withCamera(ctx, t, opts, func(cam *camera.Camera) error {
		if err := cam.Set(ctx, name, value); err != nil {
			return err // "camera: Set iso: invalid value "99" (choices: …)"
		}
		p, err := cam.Prop(ctx, name)
		if err != nil {
			return fmt.Errorf("reading %s back after setting it to %q: %w", name, value, err)
		}
		_, err = fmt.Fprintf(w, "%s = %s\n", p.Name, p.Value)
		return err
	})
}

// capturePicture takes one picture with the camera on t and writes its
// files into dir (created if need be) under the camera's names, with a
// suffix ("IMG_0001-1.JPG") where a file of that name is there already:
// nothing is overwritten. progress (nil: none) is called as files of
// progressMin bytes or more arrive. It writes the camera's file names and
// sizes to w and returns the files written, also when the capture fails
// partway (one file of a RAW+JPG pair); a file that did not arrive
// completely is removed.
func capturePicture(ctx context.Context, t ptp.Transport, opts camera.Options, dir string, w io.Writer, progress func(name string, done, total int64)) ([]fetch.Saved, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Close()
		return nil, fmt.Errorf("capture: %w", err)
	}
	var saved []fetch.Saved
	err := withCamera(ctx, t, opts, func(cam *camera.Camera) error {
		c := &fetch.Captures{Dir: dir}
		sink := func(f camera.File) (io.Writer, error) {
			out, err := c.Sink(f)
			if err != nil || progress == nil || f.Size < progressMin {
				return out, err
			}
			return &progressWriter{w: out, name: f.Name, total: f.Size, progress: progress}, nil
		}
		fmt.Fprintf(w, "capturing with %s into %s\n", cam.Identity(), dir)
		files, err := cam.Capture(ctx, sink)
		var errs []error
		var ferr error
		if saved, ferr = c.Finish(files); ferr != nil {
			errs = append(errs, ferr)
		}
		if len(saved) > 0 {
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "FILE\tBYTES\tSAVED AS")
			for _, s := range saved {
				note := ""
				if s.Late {
					note = "  (late: from an earlier picture)"
				}
				fmt.Fprintf(tw, "%s\t%d\t%s%s\n", s.Name, s.Size, s.Path, note)
			}
			tw.Flush()
		}
		if err != nil {
			errs = append([]error{fmt.Errorf("capturing with %s: %w", cam.Identity(), err)}, errs...)
		}
		return errors.Join(errs...)
	})
	return saved, err
}

// progressWriter reports the bytes of one file written so far.
type progressWriter struct {
	w           io.Writer
	name        string
	done, total int64
	progress    func(name string, done, total int64)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.done += int64(n)
	p.progress(p.name, p.done, p.total)
	return n, err
}
