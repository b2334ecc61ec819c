package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/appliance/process"
)

func runConfig(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New("usage: lapsebox config check FILE | lapsebox config default")
	}
	switch args[0] {
	case "check":
		fs := flag.NewFlagSet("config check", flag.ExitOnError)
		fs.Parse(args[1:])
		if fs.NArg() != 1 {
			return errors.New("usage: lapsebox config check FILE")
		}
		name := fs.Arg(0)
		b, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		if _, err := config.ParseChecked(name, b, process.CheckSpec); err != nil {
			return err
		}
		fmt.Printf("%s: ok\n", name)
		return nil
	case "default":
		_, err := os.Stdout.Write(config.DefaultJSON())
		return err
	}
	return fmt.Errorf("unknown config command %q: want check or default", args[0])
}
