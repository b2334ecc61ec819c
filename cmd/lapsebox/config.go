package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/appliance/configapi"
	"github.com/lapsebox/lapsebox/image"
)

const configUsage = `usage:
  lapsebox config check FILE                        check a site configuration
  lapsebox config default                           print the built-in default
  lapsebox config push -device HOST[:PORT] FILE     replace a running device's configuration
  lapsebox config pull -device HOST[:PORT] [-secrets] [-o FILE]
                                                    fetch the configuration a device uses`

func runConfig(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New(configUsage)
	}
	switch args[0] {
	case "check":
		fs := flag.NewFlagSet("config check", flag.ExitOnError)
		fs.Parse(args[1:])
		if fs.NArg() != 1 {
			return errors.New("usage: lapsebox config check FILE")
		}
		if _, err := readSiteConfig(fs.Arg(0)); err != nil {
			return err
		}
		fmt.Printf("%s: ok\n", fs.Arg(0))
		return nil
	case "default":
		_, err := os.Stdout.Write(config.DefaultJSON())
		return err
	case "push":
		return runConfigPush(ctx, args[1:])
	case "pull":
		return runConfigPull(ctx, args[1:])
	}
	return fmt.Errorf("unknown config command %q\n%s", args[0], configUsage)
}

// readSiteConfig reads and validates a site configuration file the way
// the device's endpoint does; "lapsebox build -site" and "flash -site"
// put nothing on a card that the device would refuse.
func readSiteConfig(name string) ([]byte, error) {
	data, err := config.ReadFile(name)
	if err != nil {
		return nil, err
	}
	if _, err := configapi.Check(name, data); err != nil {
		return nil, err
	}
	return data, nil
}

// deviceFlags say how to reach a device's configuration endpoint.
type deviceFlags struct {
	device, passwordFile, desc, configDir string
	timeout                               time.Duration
}

func (f *deviceFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.device, "device", "", "the device's statusd: a host name, HOST:PORT or URL (port "+configapi.DefaultPort+" unless given), e.g. lapsebox or http://192.168.1.20:8080/")
	fs.StringVar(&f.passwordFile, "password-file", "", "file holding the device's HTTP password (default: the one lapsebox build made for the image description's hostname)")
	fs.StringVar(&f.desc, "desc", "", "image description the device was built from, for its password file (default: the embedded image/lapsebox.json)")
	fs.StringVar(&f.configDir, "config-dir", "", "directory holding device passwords (default: the user's config dir/lapsebox)")
	fs.DurationVar(&f.timeout, "timeout", time.Minute, "give up after this long")
}

func (f *deviceFlags) open() (*configapi.Device, error) {
	if f.device == "" {
		return nil, errors.New("-device is required: the device's host name or address")
	}
	path := f.passwordFile
	if path == "" {
		d, err := image.LoadDescription(f.desc)
		if err != nil {
			return nil, err
		}
		dir := f.configDir
		if dir == "" {
			if dir, err = image.DefaultConfigDir(); err != nil {
				return nil, err
			}
		}
		path = image.PasswordPath(d, dir)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the device password: %w", err)
	}
	return &configapi.Device{BaseURL: f.device, Password: strings.TrimSpace(string(b))}, nil
}

func runConfigPush(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("config push", flag.ExitOnError)
	var df deviceFlags
	df.register(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: lapsebox config push -device HOST[:PORT] [flags] FILE\n\n"+
			"Checks FILE like lapsebox config check and sends it to the device, which checks it\n"+
			"again, keeps the configuration it replaces as config.json.prev, and starts camerad and\n"+
			"uploadd again with it. \"[redacted]\" secrets (from config pull) keep the device's values.\n\n")
		fs.PrintDefaults()
	}
	fs.Parse(args)
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("want one FILE")
	}
	name := fs.Arg(0)
	data, err := config.ReadFile(name)
	if err != nil {
		return err
	}
	// Check here first: the same errors, without a round trip. The
	// placeholders of a pulled file pass as secrets; the device fills them.
	if _, err := configapi.Check(name, data); err != nil {
		return err
	}
	dev, err := df.open()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, df.timeout)
	defer cancel()
	res, err := dev.Push(ctx, name, data)
	if err != nil {
		return err
	}
	switch {
	case !res.Changed:
		fmt.Printf("%s: the device uses this configuration already\n", name)
	case res.PreviousKept:
		fmt.Printf("%s: saved on the device (%d upload targets); the configuration it replaced is kept as config.json.prev\n", name, res.Targets)
	default:
		fmt.Printf("%s: saved on the device (%d upload targets)\n", name, res.Targets)
	}
	if res.Changed {
		fmt.Printf("camerad and uploadd start again with it within %v\n", config.DefaultWatchInterval)
	}
	return nil
}

func runConfigPull(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("config pull", flag.ExitOnError)
	var df deviceFlags
	df.register(fs)
	secrets := fs.Bool("secrets", false, "include the secrets' values (default: \"[redacted]\")")
	out := fs.String("o", "", "write to this file (mode 0600) instead of standard output")
	fs.Parse(args)
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	dev, err := df.open()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, df.timeout)
	defer cancel()
	data, source, err := dev.Pull(ctx, *secrets)
	if err != nil {
		return err
	}
	switch source {
	case "default":
		fmt.Fprintln(os.Stderr, "the device has no site configuration of its own: this is the built-in default")
	case "config.json":
	default:
		fmt.Fprintf(os.Stderr, "the device's config.json cannot be used: this is the one in use, %s\n", source)
	}
	if *out == "" {
		_, err = os.Stdout.Write(data)
		return err
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	// An existing file keeps its mode on open: it may get secrets now.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
