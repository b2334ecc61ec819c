package main

import (
	"context"
	"crypto/ed25519"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lapsebox/lapsebox/image"
	"github.com/lapsebox/lapsebox/image/release"
)

// defaultKeyPath is where keygen writes the release key and release
// reads it: the user's configuration directory, outside any checkout.
func defaultKeyPath() string {
	dir, err := image.DefaultConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "release-key")
}

func runKeygen(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("keygen", flag.ExitOnError)
	out := fs.String("o", defaultKeyPath(), "private key file to write (mode 0600); the public key goes to FILE.pub")
	fs.Parse(args)
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	pub, err := release.GenerateKey(*out)
	if err != nil {
		return err
	}
	fmt.Printf("release key %s written to %s (private, keep it safe and backed up) and %s.pub\n", release.KeyID(pub), *out, *out)
	fmt.Printf("images built with -release-key %s.pub accept releases signed with it\n", *out)
	return nil
}

func runRelease(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("release", flag.ExitOnError)
	var bf buildFlags
	bf.register(fs)
	rebuild := fs.Bool("build", false, "build the image first")
	channel := fs.String("channel", "stable", "release channel the devices follow")
	keyPath := fs.String("key", defaultKeyPath(), "the release signing key (lapsebox keygen)")
	server := fs.String("server", "", "cloudd's public address, e.g. https://cloud.example.com, to publish the release to")
	save := fs.String("save", "", "write the signed manifest to this file too, for lapsebox update -signed (a push over the LAN)")
	user := fs.String("user", "admin", "cloudd operator publishing the release")
	pwFile := fs.String("password-file", "", "file holding the operator's password (default: $LAPSEBOX_OPERATOR_PASSWORD)")
	version := fs.String("version", "", "label of the release (default: the build timestamp)")
	hostnames := fs.String("hostnames", "", "pattern of the hostnames it is for (default: the image's hostname; partition UUIDs derive from it)")
	minBuild := fs.String("min-build", "", "oldest running build (RFC 3339) that may install it (default: any)")
	fs.Parse(args)
	if *server == "" && *save == "" {
		return fmt.Errorf("-server (publish the release) or -save (keep its signed manifest for a push) is required")
	}
	priv, err := release.ReadPrivateKey(*keyPath)
	if err != nil {
		return err
	}
	password := os.Getenv("LAPSEBOX_OPERATOR_PASSWORD")
	if *pwFile != "" {
		b, err := os.ReadFile(*pwFile)
		if err != nil {
			return err
		}
		password = strings.TrimSpace(string(b))
	}
	if password == "" && *server != "" {
		return fmt.Errorf("no operator password: give -password-file or set LAPSEBOX_OPERATOR_PASSWORD")
	}
	if *rebuild && bf.releaseKey == "" {
		bf.releaseKey = *keyPath + ".pub"
	}
	img, err := bf.load(ctx, *rebuild)
	if err != nil {
		return err
	}
	m := img.manifest
	pub := priv.Public().(ed25519.PublicKey)
	// An image without this key would refuse every later release: it
	// must not go out signed.
	if m.ReleaseKeyID != release.KeyID(pub) {
		return fmt.Errorf("%s carries release key %q, the signing key is %s: build it with -release-key %s.pub",
			img.path, m.ReleaseKeyID, release.KeyID(pub), *keyPath)
	}
	rm, parts, closeImg, err := releaseManifest(img.path, m)
	if err != nil {
		return err
	}
	defer closeImg()
	rm.Channel = *channel
	rm.Version = *version
	if rm.Version == "" {
		rm.Version = m.BuildTimestamp
	}
	if *hostnames != "" {
		rm.Hostnames = *hostnames
	}
	if *minBuild != "" {
		if rm.MinBuild, err = time.Parse(time.RFC3339, *minBuild); err != nil {
			return fmt.Errorf("-min-build: %w", err)
		}
	}
	signed, err := release.Sign(rm, priv)
	if err != nil {
		return err
	}
	if *save != "" {
		if err := os.WriteFile(*save, signed, 0o644); err != nil {
			return err
		}
		fmt.Printf("signed %s (build %s) for %s on %s, signed by %s: manifest in %s\n",
			rm.Version, m.BuildTimestamp, rm.Hostnames, rm.Board, release.KeyID(pub), *save)
		if *server == "" {
			return nil
		}
	}
	c := &release.Client{BaseURL: *server, HTTP: &http.Client{Timeout: 5 * time.Minute},
		Auth: func(r *http.Request) { r.SetBasicAuth(*user, password) }}
	done, err := c.Publish(ctx, signed, rm, parts)
	if err != nil {
		return err
	}
	boot := rm.Boot.Size
	if rm.MBR != nil {
		boot += rm.MBR.Size
	}
	fmt.Printf("published %s (build %s) for %s on %s/%s, signed by %s: root %d KiB in %d blocks, boot files %d KiB; %d KiB of blocks cloudd lacked sent\n",
		rm.Version, m.BuildTimestamp, rm.Hostnames, rm.Board, rm.Channel, release.KeyID(pub),
		rm.Root.Size>>10, len(rm.Root.Blocks), boot>>10, done.Sent>>10)
	compressed, err := release.GzipSize(io.NewSectionReader(parts[&rm.Root], 0, rm.Root.Size))
	if err != nil {
		return err
	}
	printTransfers(os.Stdout, rm, compressed, done.Transfers)
	return nil
}

// formatSize prints a transfer's size: in bytes while under 10 KiB, as
// a configuration change's patch is.
func formatSize(n int64) string {
	if n < 10<<10 {
		return fmt.Sprintf("%d bytes", n)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

// releaseManifest makes the (unsigned) release manifest of a built
// image, each region checked against the image's manifest.
func releaseManifest(imgPath string, m *image.Manifest) (*release.Manifest, map[*release.Part]io.ReaderAt, func(), error) {
	f, err := os.Open(imgPath)
	if err != nil {
		return nil, nil, nil, err
	}
	build, err := time.Parse(time.RFC3339Nano, m.BuildTimestamp)
	if err != nil {
		f.Close()
		return nil, nil, nil, fmt.Errorf("%s: build timestamp %q: %w", imgPath, m.BuildTimestamp, err)
	}
	rm := &release.Manifest{Build: build, Board: m.Board, Hostnames: m.Hostname, BlockSize: release.BlockSize}
	parts := map[*release.Part]io.ReaderAt{}
	add := func(r image.Region, what string) (release.Part, error) {
		s := io.NewSectionReader(f, r.Offset, r.Size)
		if err := image.VerifyRegion(s, r); err != nil {
			return release.Part{}, fmt.Errorf("%s in %s: %w", what, imgPath, err)
		}
		return release.NewPart(s, r.Size)
	}
	fail := func(err error) (*release.Manifest, map[*release.Part]io.ReaderAt, func(), error) {
		f.Close()
		return nil, nil, nil, err
	}
	if rm.Root, err = add(m.Root, "root file system"); err != nil {
		return fail(err)
	}
	parts[&rm.Root] = io.NewSectionReader(f, m.Root.Offset, m.Root.Size)
	if rm.Boot, err = add(m.Boot, "boot file system"); err != nil {
		return fail(err)
	}
	parts[&rm.Boot] = io.NewSectionReader(f, m.Boot.Offset, m.Boot.Size)
	b, err := image.LookupBoard(m.Board)
	if err != nil {
		return fail(err)
	}
	if b.BIOSLoader {
		p, err := add(m.BootCode, "MBR boot code")
		if err != nil {
			return fail(err)
		}
		rm.MBR = &p
		parts[rm.MBR] = io.NewSectionReader(f, m.BootCode.Offset, m.BootCode.Size)
	}
	return rm, parts, func() { f.Close() }, nil
}

// printTransfers prints what the release costs a device on each earlier
// build, against the root compressed (compressed bytes).
func printTransfers(w io.Writer, m *release.Manifest, compressed int64, ts []release.Transfer) {
	if len(ts) == 0 {
		fmt.Fprintln(w, "no earlier release or device of this board is known: each device fetches what its running root lacks")
		return
	}
	fmt.Fprintf(w, "what the release costs a device, at most (the root: %d KiB, %d KiB compressed):\n", m.Root.Size>>10, compressed>>10)
	for _, t := range ts {
		from := t.Version
		if from == "" {
			from = "an unpublished build"
		}
		devices := "no device reported"
		switch n := len(t.Devices); {
		case n == 1:
			devices = t.Devices[0]
		case n > 1 && n <= 3:
			devices = strings.Join(t.Devices, ", ")
		case n > 3:
			devices = fmt.Sprintf("%s and %d more", strings.Join(t.Devices[:3], ", "), n-3)
		}
		// Counted as they travel (blocks gzipped, a patch as it is),
		// against the root compressed.
		how := "as blocks, gzipped"
		if t.Patch > 0 {
			how = "as a patch"
		}
		cost := fmt.Sprintf("%s %s (%.2f %% of the root compressed)", formatSize(t.Bytes), how, 100*float64(t.Bytes)/float64(max(compressed, 1)))
		fmt.Fprintf(w, "  from %s (build %s): %s, %s\n", from, t.Build.Format(time.RFC3339), cost, devices)
	}
}
