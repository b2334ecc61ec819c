package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/appliance/plan"
	"github.com/lapsebox/lapsebox/appliance/schedule"
	"github.com/lapsebox/lapsebox/appliance/status"
	"github.com/lapsebox/lapsebox/appliance/statusfile"
)

const planUsage = `usage: lapsebox plan [flags]

Prints what a site costs: the uplink each upload policy needs, the daily
volume, data per month on a cellular link, the days of pictures the disk
holds, and how long catching up after an outage takes.

  lapsebox plan -interval 10m -keep raw+jpg -camera "Canon EOS 600D" -link 1Mbit -disk 32GB
  lapsebox plan -config site.json -link 2Mbit -disk 64GB
  lapsebox plan -config site.json -status http://lapsebox.local:8080/ -password-file PW -link 1Mbit

Flags:
`

// planFlags are lapsebox plan's inputs.
type planFlags struct {
	config, camera, keep, link, disk, status string
	passwordFile                             string
	interval, outage                         time.Duration
	highWater                                float64
}

func runPlan(ctx context.Context, args []string) error { return planCommand(ctx, args, os.Stdout) }

// planCommand is lapsebox plan writing its report to w.
func planCommand(ctx context.Context, args []string, w io.Writer) error {
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), planUsage); fs.PrintDefaults() }
	var f planFlags
	fs.StringVar(&f.config, "config", "", "site configuration to plan for: its schedule, camera, keep setting and targets")
	fs.DurationVar(&f.interval, "interval", 0, "a picture every interval, all day (instead of -config's schedule)")
	fs.StringVar(&f.keep, "keep", "", "files kept of each capture: jpg, raw, or raw+jpg (default: -config's, else jpg)")
	fs.StringVar(&f.camera, "camera", "", `camera model, for its typical file sizes ("Canon EOS 600D", "T3i")`)
	fs.StringVar(&f.link, "link", "", `the uplink: "1Mbit", "512kbit", "10Mbit/s", "2MB/s"`)
	fs.StringVar(&f.disk, "disk", "", `the disk: "32GB", "320 GB", "1TB", "64GiB"`)
	fs.Float64Var(&f.highWater, "high_water", 0, "percent of the disk pictures may fill before retention deletes (default: -config's, else 85)")
	fs.DurationVar(&f.outage, "outage", 24*time.Hour, "an outage of the link to catch up after")
	fs.StringVar(&f.status, "status", "", "camerad.json, or a device's statusd URL: plan with the picture sizes it measured")
	fs.StringVar(&f.passwordFile, "password-file", "", "file holding the device's HTTP password, which statusd asks for (with a -status URL)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	p, err := f.site(ctx)
	if err != nil {
		return err
	}
	return p.print(w)
}

// sitePlan is a site to plan, with its description for the report.
type sitePlan struct {
	site     plan.Site
	schedule string
	latest   time.Duration // a live-cam target's interval, 0 if none is configured
	outage   time.Duration
	targets  []config.Target
}

// site gathers the site from the flags, a configuration and a status.
func (f planFlags) site(ctx context.Context) (*sitePlan, error) {
	var cfg *config.Config
	if f.config != "" {
		b, err := os.ReadFile(f.config)
		if err != nil {
			return nil, err
		}
		if cfg, err = config.Parse(f.config, b); err != nil {
			return nil, err
		}
	}
	p := &sitePlan{outage: f.outage}
	var sched *schedule.Schedule
	switch {
	case f.interval > 0:
		sched = &schedule.Schedule{Location: time.UTC, Windows: []schedule.Window{{Start: schedule.At(0, 0), End: schedule.At(0, 0), Interval: f.interval}}}
		p.schedule = "a picture every " + shortDuration(f.interval) + ", all day"
	case cfg != nil:
		sched = &cfg.Schedule
		p.schedule = "the schedule of " + f.config
	default:
		return nil, errors.New("say how often pictures are taken: -interval, or -config with a site configuration")
	}
	p.site.PicturesPerDay = plan.PicturesPerDay(sched, time.Now())

	keep := config.KeepJPG
	model := f.camera
	p.site.HighWater = 0.85
	if cfg != nil {
		keep = cfg.Camera.Keep
		if model == "" {
			model = cfg.Camera.Model
		}
		p.site.HighWater = float64(cfg.Retention.HighWater) / 100
		p.targets = cfg.Targets
		for _, t := range cfg.Targets {
			if t.Send == config.SendLatest {
				p.latest = max(t.MinInterval, p.latest)
			}
		}
	}
	if f.keep != "" {
		var ok bool
		if keep, ok = map[string]config.Keep{"jpg": config.KeepJPG, "raw": config.KeepRAW, "raw+jpg": config.KeepBoth, "both": config.KeepBoth}[strings.ToLower(f.keep)]; !ok {
			return nil, fmt.Errorf("-keep %q: want jpg, raw or raw+jpg", f.keep)
		}
	}
	p.site.Keep = keep
	sizes, known := plan.Typical(model)
	if model != "" && !known {
		fmt.Fprintf(os.Stderr, "lapsebox plan: no typical sizes for %q: assuming %s (%s JPG, %s RAW)\n",
			model, sizes.Model, plan.FormatBytes(sizes.JPG), plan.FormatBytes(sizes.RAW))
	}
	p.site.Sizes = sizes
	if f.highWater != 0 {
		if f.highWater <= 0 || f.highWater > 100 {
			return nil, fmt.Errorf("-high_water %v: want a percentage above 0, at most 100", f.highWater)
		}
		p.site.HighWater = f.highWater / 100
	}
	var err error
	if f.link != "" {
		if p.site.LinkBytesPerSecond, err = parseRate(f.link); err != nil {
			return nil, err
		}
	}
	if f.disk != "" {
		if p.site.DiskBytes, err = parseSize(f.disk); err != nil {
			return nil, err
		}
	}
	if f.status != "" {
		a, err := measuredAutonomy(ctx, f.status, f.passwordFile)
		if err != nil {
			return nil, err
		}
		p.site.Measured = a.BytesPerPicture
		p.site.MeasuredSource = "measured on the device: " + a.SizeSource
	}
	return p, nil
}

// print writes the plan as a person reads it.
func (p *sitePlan) print(w io.Writer) error {
	s := p.site
	capture, source := s.Capture()
	perDay := capture * int64(math.Round(s.PicturesPerDay))
	fmt.Fprintf(w, "schedule   %s: %s pictures a day\n", p.schedule, trimFloat(s.PicturesPerDay))
	fmt.Fprintf(w, "capture    %s (%s)\n", plan.FormatBytes(capture), source)
	fmt.Fprintf(w, "volume     %s a day, %s a month\n", plan.FormatBytes(perDay), plan.FormatBytes(int64(float64(perDay)*plan.DaysPerMonth)))
	if s.DiskBytes > 0 {
		e := s.Disk()
		fmt.Fprintf(w, "disk       %s: ≈ %s days of pictures below the %s %% mark, then retention deletes the oldest sent ones\n",
			plan.FormatBytes(int64(s.DiskBytes)), trimFloat(math.Round(e.Days)), trimFloat(100*s.HighWater))
	}
	link := "unknown"
	if s.LinkBytesPerSecond > 0 {
		link = formatRate(s.LinkBytesPerSecond)
	}
	fmt.Fprintf(w, "link       %s\n\n", link)

	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "POLICY\tSENDS\tUPLINK\tA MONTH\tOF THE LINK\tAFTER A %s OUTAGE\n", strings.ToUpper(shortDuration(p.outage)))
	policies := s.Policies(p.latest)
	for _, pol := range policies {
		share, catchUp := "-", "-"
		if s.LinkBytesPerSecond > 0 {
			share = fmt.Sprintf("%.0f %%", 100*pol.BytesPerSecond()/s.LinkBytesPerSecond)
			switch d, ok := pol.CatchUp(p.outage, s.LinkBytesPerSecond); {
			case !ok:
				catchUp = "never: the link is too slow"
			case pol.BytesPerDay == 0:
				catchUp = "nothing to catch up"
			case pol.Name == "latest":
				catchUp = "nothing: only the newest is sent"
			default:
				catchUp = "caught up in " + shortDuration(d)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", pol.Name, pol.Says, formatRate(pol.BytesPerSecond()),
			plan.FormatBytes(int64(pol.BytesPerMonth())), share, catchUp)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(p.targets) > 0 {
		fmt.Fprintf(w, "\ntargets of the configuration:\n")
		byName := map[string]plan.Policy{}
		for _, pol := range policies {
			byName[pol.Name] = pol
		}
		for _, t := range p.targets {
			// A derived picture is at most its JPEG: resized, it is less.
			pol, ok := byName[map[config.Send]string{config.SendDerived: "jpg"}[t.Send]]
			if !ok {
				pol = byName[string(t.Send)]
			}
			fmt.Fprintf(w, "  %s (%s) sends %s: %s, %s a month\n", t.Name, t.Kind, t.Send,
				formatRate(pol.BytesPerSecond()), plan.FormatBytes(int64(pol.BytesPerMonth())))
		}
	}
	fmt.Fprintf(w, "\nUplink and monthly figures include %.0f %% for HTTP and TLS; a target that resizes sends less.\n", 100*(plan.WireOverhead-1))
	return nil
}

// measuredAutonomy reads the picture sizes a device measured, from a
// camerad.json file or a device's statusd (with the device password from
// passwordFile, if not empty).
func measuredAutonomy(ctx context.Context, src, passwordFile string) (*statusfile.Autonomy, error) {
	var cam statusfile.Camera
	if strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") {
		var password string
		if passwordFile != "" {
			pw, err := os.ReadFile(passwordFile)
			if err != nil {
				return nil, fmt.Errorf("reading the device password: %w", err)
			}
			password = strings.TrimSpace(string(pw))
		}
		snap, err := status.Fetch(ctx, src, password)
		if err != nil {
			return nil, err
		}
		found := false
		for _, f := range snap.Files {
			if f.Name == "camerad" && f.Status != nil {
				if err := json.Unmarshal(f.Status, &cam); err != nil {
					return nil, fmt.Errorf("%s: camerad's status: %w", src, err)
				}
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("%s: the device shows no camerad status", src)
		}
	} else if _, err := statusfile.Read(src, &cam); err != nil {
		return nil, err
	}
	if cam.Autonomy == nil || cam.Autonomy.BytesPerPicture <= 0 {
		return nil, fmt.Errorf("%s: camerad has measured no picture size yet", src)
	}
	return cam.Autonomy, nil
}

var quantity = regexp.MustCompile(`^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z/]*)\s*$`)

// parseRate reads a link rate into bytes per second: bits ("1Mbit",
// "512kbit/s", "10Mbps") or bytes ("2MB/s"), decimal prefixes.
func parseRate(s string) (float64, error) {
	m := quantity.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("link rate %q: want a number and a unit, like 1Mbit or 2MB/s", s)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	unit := strings.TrimSuffix(strings.TrimSuffix(m[2], "/s"), "ps")
	mult := map[string]float64{
		"bit": 1.0 / 8, "kbit": 1e3 / 8, "Kbit": 1e3 / 8, "Mbit": 1e6 / 8, "Gbit": 1e9 / 8,
		"kb": 1e3 / 8, "Mb": 1e6 / 8, "Gb": 1e9 / 8, // "Mbps"
		"B": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9,
	}[unit]
	if mult == 0 || v <= 0 {
		return 0, fmt.Errorf("link rate %q: want a positive number with kbit, Mbit, Gbit, kB/s or MB/s", s)
	}
	return v * mult, nil
}

// parseSize reads a disk size: decimal ("32GB", "1TB") or binary
// ("64GiB") units.
func parseSize(s string) (uint64, error) {
	m := quantity.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("disk size %q: want a number and a unit, like 32GB", s)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	mult := map[string]float64{
		"MB": 1e6, "GB": 1e9, "TB": 1e12, "M": 1e6, "G": 1e9, "T": 1e12,
		"MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
	}[m[2]]
	if mult == 0 || v <= 0 {
		return 0, fmt.Errorf("disk size %q: want a positive number with MB, GB, TB, MiB, GiB or TiB", s)
	}
	return uint64(v * mult), nil
}

// formatRate formats bytes per second in decimal units, with the bits a
// link is sold in.
func formatRate(bps float64) string {
	if bps <= 0 {
		return "0"
	}
	bits := bps * 8
	var b string
	switch {
	case bits >= 1e6:
		b = fmt.Sprintf("%.1f Mbit/s", bits/1e6)
	default:
		b = fmt.Sprintf("%.0f kbit/s", bits/1e3)
	}
	return fmt.Sprintf("%s/s (%s)", plan.FormatBytes(int64(bps)), b)
}

// shortDuration writes 30s, 10m, 24h, 1h30m, 2d 3h.
func shortDuration(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%ds", int64(d.Round(time.Second)/time.Second))
	}
	d = d.Round(time.Minute)
	days, h, m := d/(24*time.Hour), d%(24*time.Hour)/time.Hour, d%time.Hour/time.Minute
	switch {
	case days >= 2:
		return fmt.Sprintf("%dd %dh", days, h)
	case d >= time.Hour && m == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d >= time.Hour:
		return fmt.Sprintf("%dh%02dm", d/time.Hour, m)
	}
	return fmt.Sprintf("%dm", m)
}

// trimFloat prints whole numbers without decimals, others with one.
func trimFloat(v float64) string {
	if v == math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}
