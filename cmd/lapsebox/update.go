package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/lapsebox/lapsebox/image"
	"github.com/lapsebox/lapsebox/image/update"
)

func runUpdate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("update", flag.ExitOnError)
	var bf buildFlags
	bf.register(fs)
	rebuild := fs.Bool("build", false, "build the image first")
	device := fs.String("device", "", "the device's gokrazy web interface, e.g. http://lapsebox/ or http://127.0.0.1:18080/ (default http://HOSTNAME/)")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up when the whole update takes longer")
	timings := fs.Bool("timings", false, "print how long each step took")
	fs.Parse(args)

	img, err := bf.load(ctx, *rebuild)
	if err != nil {
		return err
	}
	imgPath, m := img.path, img.manifest
	base := *device
	if base == "" {
		base = fmt.Sprintf("http://%s:%d/", m.Hostname, m.HTTPPort)
	}
	if _, err := url.Parse(base); err != nil {
		return fmt.Errorf("-device %q: %w", base, err)
	}
	dev := update.Device{BaseURL: strings.TrimSuffix(base, "/"), Password: img.password}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	// Partition UUIDs derive from the hostname: an image built for another
	// hostname would switch to a root the boot loader cannot find.
	st, err := update.Status(ctx, dev)
	if err != nil {
		return err
	}
	if st.Hostname != m.Hostname {
		return fmt.Errorf("device %s is %q but %s was built for %q: its partition UUIDs would not match", base, st.Hostname, imgPath, m.Hostname)
	}
	fmt.Printf("updating %s from build %s to %s\n", st.Hostname, st.BuildTimestamp, m.BuildTimestamp)

	upd, closeImg, err := readUpdate(imgPath, m)
	if err != nil {
		return err
	}
	defer closeImg()
	start := time.Now()
	bar := newProgressBar()
	var steps []string
	stepStart := map[string]time.Time{}
	stepEnd := map[string]time.Time{}
	err = update.Push(ctx, dev, upd, func(p update.Progress) {
		if _, ok := stepStart[p.Step]; !ok {
			steps = append(steps, p.Step)
			stepStart[p.Step] = time.Now()
		}
		stepEnd[p.Step] = time.Now()
		switch {
		case p.Total > 0:
			bar.update(p.Step, p.Done, p.Total)
		case p.Detail != "": // a step's start says nothing yet
			// One line a report: the device's answers may hold several.
			fmt.Printf("%-8s %s\n", p.Step, oneLine(p.Detail))
		}
	})
	if err != nil {
		return err
	}
	if *timings {
		// A step lasts until the next one starts.
		for i, s := range steps {
			end := stepEnd[s]
			if i+1 < len(steps) {
				end = stepStart[steps[i+1]]
			}
			fmt.Printf("timing %s %v\n", s, end.Sub(stepStart[s]).Round(time.Millisecond))
		}
	}
	fmt.Printf("%s runs build %s (update took %.1fs)\n", m.Hostname, m.BuildTimestamp, time.Since(start).Seconds())
	return nil
}

// readUpdate takes the boot and root file systems and the MBR boot code out
// of a disk image, checking each against the manifest's hash.
func readUpdate(imgPath string, m *image.Manifest) (update.Image, func(), error) {
	f, err := os.Open(imgPath)
	if err != nil {
		return update.Image{}, nil, err
	}
	section := func(r image.Region, what string) (*io.SectionReader, error) {
		s := io.NewSectionReader(f, r.Offset, r.Size)
		if err := image.VerifyRegion(s, r); err != nil {
			return nil, fmt.Errorf("%s in %s: %w", what, imgPath, err)
		}
		return s, nil
	}
	img := update.Image{BuildTimestamp: m.BuildTimestamp}
	if img.Root, err = section(m.Root, "root file system"); err != nil {
		f.Close()
		return img, nil, err
	}
	if img.Boot, err = section(m.Boot, "boot file system"); err != nil {
		f.Close()
		return img, nil, err
	}
	b, err := image.LookupBoard(m.Board)
	if err != nil {
		f.Close()
		return img, nil, err
	}
	if b.BIOSLoader {
		code, err := section(m.BootCode, "MBR boot code")
		if err != nil {
			f.Close()
			return img, nil, err
		}
		var buf bytes.Buffer
		io.Copy(&buf, code)
		img.MBR = buf.Bytes()
	}
	return img, func() { f.Close() }, nil
}

// oneLine joins the lines of s with "; ".
func oneLine(s string) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "; ")
}
