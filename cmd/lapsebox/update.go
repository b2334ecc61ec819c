package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/lapsebox/lapsebox/appliance/configapi"
	"github.com/lapsebox/lapsebox/appliance/status"
	"github.com/lapsebox/lapsebox/image"
	"github.com/lapsebox/lapsebox/image/release"
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
	signed := fs.String("signed", "", "signed release manifest of the image (lapsebox release -save): push only if the image is that release, signed by -trust's key, and the device may install it")
	trust := fs.String("trust", defaultKeyPath()+".pub", "public release key that -signed must be signed with")
	statusURL := fs.String("status", "", "the device's statusd, which says which boot files the device runs and whether a release is on trial (default: -device's host, port "+configapi.DefaultPort+", when -device has no port or port 80)")
	updatedURL := fs.String("updated", "", "the device's updated, which writes new boot files into the boot slot not in use instead of over the ones in use (default: -device's host, port "+update.UpdatedPort+", when -device has no port or port 80; without it gokrazy writes them in place)")
	bootMode := fs.String("boot", "auto", "write the boot partition: auto (only when the image's boot files differ from the ones the device runs, as its statusd says) or always")
	fs.Parse(args)
	if *bootMode != "auto" && *bootMode != "always" {
		return fmt.Errorf("-boot %q: want auto or always", *bootMode)
	}

	img, err := bf.load(ctx, *rebuild)
	if err != nil {
		return err
	}
	imgPath, m := img.path, img.manifest
	base := *device
	if base == "" {
		base = fmt.Sprintf("http://%s:%d/", m.Hostname, m.HTTPPort)
	}
	baseURL, err := url.Parse(base)
	if err != nil {
		return fmt.Errorf("-device %q: %w", base, err)
	}
	// statusd and updated are guessed only beside gokrazy's usual port:
	// behind a forwarded one (a VM), ports 8080 and 8081 of the same host
	// may be anything, and the password is not sent there.
	if p := baseURL.Port(); p == "" || p == "80" {
		if *statusURL == "" {
			*statusURL = "http://" + net.JoinHostPort(baseURL.Hostname(), configapi.DefaultPort) + "/"
		}
		if *updatedURL == "" {
			*updatedURL = "http://" + net.JoinHostPort(baseURL.Hostname(), update.UpdatedPort)
		}
	}
	dev := update.Device{BaseURL: strings.TrimSuffix(base, "/"), Password: img.password, Updated: strings.TrimSuffix(*updatedURL, "/")}
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
	if *signed != "" {
		rel, err := checkSigned(*signed, *trust, imgPath, m, st)
		if err != nil {
			return err
		}
		fmt.Printf("%s is release %s, signed by %s\n", imgPath, rel.Version, release.KeyID(rel.Key))
	}
	fmt.Printf("updating %s from build %s to %s\n", st.Hostname, st.BuildTimestamp, m.BuildTimestamp)

	upd, closeImg, err := readUpdate(imgPath, m)
	if err != nil {
		return err
	}
	defer closeImg()
	send, why, err := pushBoot(fetchDeviceView(ctx, *statusURL, img.password), st, m)
	if err != nil {
		return err
	}
	switch {
	case send:
	case *bootMode == "auto":
		upd.Boot, upd.MBR = nil, nil
	default:
		why += "; sending them anyway (-boot always)"
	}
	fmt.Printf("boot     %s\n", why)
	if upd.Boot != nil && dev.Updated == "" {
		fmt.Printf("boot     -updated not given, and -device is not on gokrazy's usual port: gokrazy writes them over the boot partition in place\n")
	}
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

// signedRelease is what checkSigned found.
type signedRelease struct {
	Version string
	Key     ed25519.PublicKey
}

// checkSigned checks, before anything is sent, that the image at imgPath
// is the release signedPath signs with the key in trustPath, and that the
// device st may install it: the same checks a device makes before it
// installs a pulled release (board, hostname, no downgrade), and every
// part the image's manifest names equal to the signed one.
func checkSigned(signedPath, trustPath, imgPath string, m *image.Manifest, st *update.DeviceStatus) (*signedRelease, error) {
	data, err := os.ReadFile(signedPath)
	if err != nil {
		return nil, err
	}
	pub, err := release.ReadPublicKey(trustPath)
	if err != nil {
		return nil, err
	}
	running, err := time.Parse(time.RFC3339Nano, st.BuildTimestamp)
	if err != nil {
		return nil, fmt.Errorf("the device's build timestamp %q: %w", st.BuildTimestamp, err)
	}
	sm, err := release.Verify(data, pub, release.Device{Board: m.Board, Hostname: st.Hostname, Build: running})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", signedPath, err)
	}
	// The image's own manifest names its parts' hashes; readUpdate
	// checks the bytes against them before anything is sent.
	b, err := image.LookupBoard(m.Board)
	if err != nil {
		return nil, err
	}
	var mbr *image.Region
	if b.BIOSLoader {
		mbr = &m.BootCode
	}
	for _, p := range []struct {
		what   string
		image  *image.Region
		signed *release.Part
	}{
		{"root file system", &m.Root, &sm.Root},
		{"boot file system", &m.Boot, &sm.Boot},
		{"MBR boot code", mbr, sm.MBR},
	} {
		if err := sameBytes(p.image, p.signed); err != nil {
			return nil, fmt.Errorf("%s is not release %s of %s: its %s %v", imgPath, sm.Version, signedPath, p.what, err)
		}
	}
	return &signedRelease{Version: sm.Version, Key: pub}, nil
}

// sameBytes reports how the image's region a differs from the release's
// part b (either may be absent).
func sameBytes(a *image.Region, b *release.Part) error {
	switch {
	case a == nil && b == nil:
		return nil
	case a == nil:
		return errors.New("is missing")
	case b == nil:
		return errors.New("is not in the release")
	case a.Size != b.Size || a.SHA256 != b.SHA256:
		return fmt.Errorf("has %d bytes with sha256 %s, the release %d bytes with %s", a.Size, a.SHA256, b.Size, b.SHA256)
	}
	return nil
}

// deviceView is what the device's statusd says before a push: its
// snapshot, or why it could not be read, and a way to read what its boot
// partition holds.
type deviceView struct {
	snap    *status.Snapshot
	snapErr error
	// bootFiles asks statusd to read the boot partition: seconds on a
	// Pi, so pushBoot asks only when the snapshot leaves it undecided.
	bootFiles func() (*status.BootFiles, error)
}

// fetchDeviceView asks the device's statusd at statusURL, for at most
// 10 s, for its snapshot; its bootFiles allow 30 s for the boot
// partition (a Pi's is read in seconds). It only spares the boot
// partition a write.
func fetchDeviceView(ctx context.Context, statusURL, password string) deviceView {
	if statusURL == "" {
		return deviceView{snapErr: errors.New("-status not given, and -device is not on gokrazy's usual port")}
	}
	snapCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	snap, err := status.Fetch(snapCtx, statusURL, password)
	return deviceView{snap: snap, snapErr: err, bootFiles: func() (*status.BootFiles, error) {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return status.FetchBoot(ctx, statusURL, password)
	}}
}

// pushBoot decides from the device's statusd whether a push writes the
// image's boot files: only when the device's boot partition, read as
// built, holds others, or when statusd cannot say. The boot partition is
// written in place, so every push that leaves it alone is one a power
// cut cannot make unbootable. A statusd that cannot read the partition
// (older than status.BootPath) is taken at its running build's word. It
// refuses a push while a release runs on trial (gokrazy's inactive root
// is then the root on trial) and while updated moves new boot files
// between slots (gokrazy would write them over the slot the tables
// leave).
func pushBoot(v deviceView, st *update.DeviceStatus, m *image.Manifest) (send bool, why string, err error) {
	snap := v.snap
	switch {
	case v.snapErr != nil:
		return true, fmt.Sprintf("the device's statusd does not say which boot files it runs (%v): sending them", v.snapErr), nil
	case snap.Build.GokrazyTimestamp != st.BuildTimestamp:
		return true, fmt.Sprintf("the device's statusd shows build %q, gokrazy %q: not the same device, or not yet up; sending the boot files", snap.Build.GokrazyTimestamp, st.BuildTimestamp), nil
	case snap.Update != nil && snap.Update.Trial != nil:
		t := snap.Update.Trial
		return false, "", fmt.Errorf("the device runs release %s on trial until %s at the latest: gokrazy would write the update over it; push once updated has judged it", t.Release.Version, t.Deadline.Format(time.RFC3339))
	}
	boot, bootErr := v.bootFiles()
	switch {
	case bootErr == nil && boot.Slot != 0:
		return false, "", fmt.Errorf("the device's partition tables name boot slot %d: updated is moving new boot files into slot 0; push again in a minute", boot.Slot)
	case bootErr == nil && boot.SHA256 != m.Boot.SHA256:
		return true, fmt.Sprintf("the device's boot partition holds other boot files (sha256 %.12s, the image's %.12s): sending the image's", boot.SHA256, m.Boot.SHA256), nil
	case bootErr == nil:
		return false, fmt.Sprintf("the device's boot partition holds the image's boot files (sha256 %.12s): sending the root only", m.Boot.SHA256), nil
	case snap.Build.BootSHA256 == "":
		return true, fmt.Sprintf("the device's statusd cannot read its boot partition (%v), and its build does not record its boot files: sending them", bootErr), nil
	case snap.Build.BootSHA256 != m.Boot.SHA256:
		return true, fmt.Sprintf("the boot files changed (the device's build has sha256 %.12s, the image %.12s): writing them over the boot partition", snap.Build.BootSHA256, m.Boot.SHA256), nil
	}
	return false, fmt.Sprintf("the device's build has the image's boot files (sha256 %.12s; its statusd cannot read the partition: %v): sending the root only", m.Boot.SHA256, bootErr), nil
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
