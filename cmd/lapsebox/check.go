package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/lapsebox/lapsebox/cloud/check"
)

// runCheck is a Nagios/Icinga check command: it prints one status line
// with performance data and exits 0 (OK), 1 (WARNING), 2 (CRITICAL) or 3
// (UNKNOWN), as the monitoring plugins do.
func runCheck(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(os.Stdout)
	server := fs.String("server", "", "cloudd's admin address, http://host:port (its -admin_listen)")
	device := fs.String("device", "", "the device to check")
	metric := fs.String("metric", "picture_age", "what -warning and -critical apply to: picture_age and heartbeat_age (seconds), queue (photos), missed_today, autonomy_days, signal_dbm")
	warning := fs.String("warning", "", "warning range ([@][start:][end], as in the monitoring plugins), e.g. 1800 for picture_age")
	critical := fs.String("critical", "", "critical range, e.g. 7200 for picture_age")
	timeout := fs.Duration("timeout", 10*time.Second, "give up (UNKNOWN) after this long")
	unknown := func(format string, args ...any) error {
		fmt.Printf("LAPSEBOX UNKNOWN - "+format+"\n", args...)
		os.Exit(check.Unknown)
		return nil
	}
	if err := fs.Parse(args); err != nil {
		os.Exit(check.Unknown)
	}
	if *server == "" || *device == "" || fs.NArg() > 0 {
		return unknown("usage: lapsebox check -server URL -device NAME [-metric M] [-warning RANGE] [-critical RANGE]")
	}
	var o check.Options
	o.Metric = *metric
	for _, t := range []struct {
		s   string
		dst **check.Range
	}{{*warning, &o.Warning}, {*critical, &o.Critical}} {
		if t.s == "" {
			continue
		}
		r, err := check.ParseRange(t.s)
		if err != nil {
			return unknown("%v", err)
		}
		*t.dst = &r
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	status, line := check.Run(ctx, *server, *device, o)
	fmt.Println(line)
	os.Exit(status)
	return nil
}
