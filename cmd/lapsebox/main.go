// Binary lapsebox is the host tool for lapsebox appliances: it builds
// images, boots them under QEMU, flashes SD cards, updates devices and
// talks to cameras and modems on the bench.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"
)

// command is one subcommand of the host tool.
type command struct {
	summary string
	run     func(ctx context.Context, args []string) error
}

var commands = map[string]command{
	"build":   {"build a disk image for a board", runBuild},
	"config":  {"check a site configuration, print the default, push one to a device or pull its own", runConfig},
	"vm":      {"boot an image under QEMU", runVM},
	"keygen":  {"make the ed25519 key pair that signs releases", runKeygen},
	"release": {"build or take an image, sign it as a release and publish it to cloudd", runRelease},
	"update":  {"push an image to a running device over the air", runUpdate},
	"flash":   {"write an image to an SD card or USB disk", runFlash},
	"camera":  {"talk to a PTP camera on USB: list, info, props, set, capture, download", runCamera},
	"modem":   {"talk to a USB modem: identity, SIM, registration, signal, AT commands", runModem},
	"plan":    {"what a site costs: uplink per upload policy, data a month, days on the disk", runPlan},
	"check":   {"check a device on cloudd, as a Nagios/Icinga plugin (exit 0/1/2/3, performance data)", runCheck},
}

func usage() {
	fmt.Fprintf(os.Stderr, "usage: lapsebox <command> [flags]\n\ncommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-8s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(os.Stderr, "\nRun lapsebox <command> -h for its flags.\n")
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	cmd, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "lapsebox: unknown command %q\n\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd.run(ctx, os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "lapsebox %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// progressBar prints byte counts: redrawn in place on a terminal, a line
// every few seconds (and at the end) in a log.
type progressBar struct {
	terminal bool
	last     time.Time
}

func newProgressBar() *progressBar {
	fi, err := os.Stdout.Stat()
	return &progressBar{terminal: err == nil && fi.Mode()&os.ModeCharDevice != 0}
}

func (b *progressBar) update(what string, done, total int64) {
	end := done >= total
	interval := 3 * time.Second
	if b.terminal {
		interval = 200 * time.Millisecond
	}
	if !end && time.Since(b.last) < interval {
		return
	}
	b.last = time.Now()
	line := fmt.Sprintf("%-8s %7.1f / %.1f MiB", what, float64(done)/(1<<20), float64(total)/(1<<20))
	switch {
	case b.terminal && end:
		fmt.Printf("\r%s\n", line)
	case b.terminal:
		fmt.Printf("\r%s", line)
	default:
		fmt.Println(line)
	}
	if end {
		b.last = time.Time{}
	}
}
