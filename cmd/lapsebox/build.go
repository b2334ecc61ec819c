package main

import (
	"context"
	"crypto/ed25519"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/image"
	"github.com/lapsebox/lapsebox/image/release"
)

// buildFlags are shared by the commands that build an image.
type buildFlags struct {
	board, desc, output, configDir string
	// site is a site configuration to put on /perm ("lapsebox build" only:
	// an update does not touch /perm).
	site string
	// releaseKey is the public key file baked into the image for pulled
	// releases.
	releaseKey string
}

func (f *buildFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.board, "board", "pc", "board to build for: pc, rpi or virt")
	fs.StringVar(&f.desc, "desc", "", "image description JSON (default: the embedded image/lapsebox.json)")
	fs.StringVar(&f.output, "o", "", "output disk image (default build/lapsebox-BOARD.img)")
	fs.StringVar(&f.releaseKey, "release-key", "", "public release key to bake into the image (lapsebox keygen's FILE.pub; default: "+defaultKeyPath()+".pub if it exists)")
	fs.StringVar(&f.configDir, "config-dir", "", "directory holding device passwords (default: the user's config dir/lapsebox)")
}

func (f *buildFlags) outputPath() string {
	if f.output != "" {
		return f.output
	}
	return filepath.Join("build", "lapsebox-"+f.board+".img")
}

func (f *buildFlags) build(ctx context.Context) (*image.Manifest, error) {
	b, err := image.LookupBoard(f.board)
	if err != nil {
		return nil, err
	}
	d, err := image.LoadDescription(f.desc)
	if err != nil {
		return nil, err
	}
	var perm map[string][]byte
	if f.site != "" {
		data, err := readSiteConfig(f.site)
		if err != nil {
			return nil, err
		}
		perm = map[string][]byte{config.Path: data}
	}
	keyFile := f.releaseKey
	if keyFile == "" {
		if _, err := os.Stat(defaultKeyPath() + ".pub"); err == nil {
			keyFile = defaultKeyPath() + ".pub"
		}
	}
	var key ed25519.PublicKey
	if keyFile != "" {
		if key, err = release.ReadPublicKey(keyFile); err != nil {
			return nil, err
		}
	}
	logger := log.New(os.Stderr, "build: ", 0)
	m, err := image.Build(ctx, image.Options{
		Board:       b,
		Description: d,
		Output:      f.outputPath(),
		ConfigDir:   f.configDir,
		PermFiles:   perm,
		ReleaseKey:  key,
		Logf:        logger.Printf,
	})
	if err != nil {
		return nil, err
	}
	src := ""
	if m.Version != "" {
		src = " from " + m.Version
	}
	fmt.Printf("%s: %s image for %s, build %s%s (boot %d KiB, root %d KiB)\n",
		f.outputPath(), b.Name, m.Hostname, m.BuildTimestamp, src, m.Boot.Size/1024, m.Root.Size/1024)
	if key != nil {
		fmt.Printf("%s: accepts releases signed with key %s (%s)\n", f.outputPath(), m.ReleaseKeyID, keyFile)
	}
	if f.site != "" {
		fmt.Printf("%s: site configuration %s on /perm/%s\n", f.outputPath(), f.site, config.Path)
	}
	return m, nil
}

func runBuild(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("build", flag.ExitOnError)
	var bf buildFlags
	bf.register(fs)
	fs.StringVar(&bf.site, "site", "", "site configuration to put on /perm/"+config.Path+", checked like lapsebox config check (default: none; the device uses the built-in default)")
	fs.Parse(args)
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	_, err := bf.build(ctx)
	return err
}

// built is an image on disk with its manifest and device password.
type built struct {
	path     string
	manifest *image.Manifest
	password string
}

// load returns the image the flags name, building it first if rebuild.
func (f *buildFlags) load(ctx context.Context, rebuild bool) (*built, error) {
	if rebuild {
		if _, err := f.build(ctx); err != nil {
			return nil, err
		}
	}
	p := f.outputPath()
	m, err := image.ReadManifest(p)
	if err != nil {
		return nil, err
	}
	pw, err := os.ReadFile(m.PasswordFile)
	if err != nil {
		return nil, fmt.Errorf("reading the device password: %w", err)
	}
	return &built{path: p, manifest: m, password: strings.TrimSpace(string(pw))}, nil
}
