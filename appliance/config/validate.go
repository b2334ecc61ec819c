package config

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lapsebox/lapsebox/appliance/schedule"
	"github.com/lapsebox/lapsebox/internal/redact"
)

// FieldError is a bad value found by validation: Field is its path
// ("schedule.windows[1].start"). Parse returns it located, as an *Error.
type FieldError = schedule.FieldError

// namePattern restricts target and secret names: they become directory and
// file names in the outbox.
var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// validate converts f to a Config, collecting every bad value.
func (f *fileConfig) validate() (*Config, []*FieldError) {
	var errs []*FieldError
	// Every message passes through redact.String: a bad value that holds
	// a URL with a password or a token shows without them.
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Err: errors.New(redact.String(fmt.Sprintf(format, args...)))})
	}
	c := &Config{Secrets: map[string]Secret{}}

	// site
	c.Site = Site{Name: strings.TrimSpace(f.Site.Name), TimeZone: f.Site.TimeZone, Latitude: f.Site.Latitude, Longitude: f.Site.Longitude}
	if c.Site.Name == "" {
		bad("site.name", "required")
	}
	switch tz := f.Site.TimeZone; tz {
	case "":
		bad("site.time_zone", `required: an IANA time zone such as "Europe/Paris" or "UTC"`)
	case "Local":
		bad("site.time_zone", `"Local" depends on the machine; name the zone, such as "Europe/Paris"`)
	default:
		loc, err := time.LoadLocation(tz)
		if err != nil {
			bad("site.time_zone", "%q is not a known time zone", tz)
		} else {
			c.Site.Location = loc
		}
	}
	if p := f.Site.Latitude; p != nil && !(*p >= -90 && *p <= 90) {
		bad("site.latitude", "%v is not between -90 and 90", *p)
	}
	if p := f.Site.Longitude; p != nil && !(*p >= -180 && *p <= 180) {
		bad("site.longitude", "%v is not between -180 and 180", *p)
	}
	if (f.Site.Latitude == nil) != (f.Site.Longitude == nil) {
		bad("site", "give both latitude and longitude, or neither")
	}

	// camera
	c.Camera = Camera{Model: f.Camera.Model, Serial: f.Camera.Serial, Mode: Mode(f.Camera.Mode), Keep: Keep(f.Camera.Keep), MinSize: f.Camera.MinSize}
	if c.Camera.Mode != Capture && c.Camera.Mode != Download {
		bad("camera.mode", "%q is not %q or %q", f.Camera.Mode, Capture, Download)
	}
	if c.Camera.Keep != KeepJPG && c.Camera.Keep != KeepRAW && c.Camera.Keep != KeepBoth {
		bad("camera.keep", "%q is not %q, %q or %q", f.Camera.Keep, KeepJPG, KeepRAW, KeepBoth)
	}
	if f.Camera.MinSize < 0 || f.Camera.MinSize > 1<<30 {
		bad("camera.min_size", "%d is not between 0 and 1 GiB", f.Camera.MinSize)
	}

	// schedule
	s := schedule.Schedule{Location: c.Site.Location}
	if c.Site.Location == nil {
		s.Location = time.UTC // validated above; keep checking the rest
	}
	if f.Site.Latitude != nil && f.Site.Longitude != nil {
		s.Latitude, s.Longitude = *f.Site.Latitude, *f.Site.Longitude
	}
	interval, err := parseDuration(f.Schedule.Interval)
	if err != nil {
		bad("schedule.interval", "%v", err)
	}
	if s.MinGap, err = parseDuration(f.Schedule.MinGap); err != nil {
		bad("schedule.min_gap", "%v", err)
	}
	windows := f.Schedule.Windows
	if windows == nil {
		windows = []fileWindow{{Start: "00:00", End: "24:00"}}
	}
	usesSun := ""
	for i, fw := range windows {
		p := fmt.Sprintf("schedule.windows[%d].", i)
		w := schedule.Window{Interval: interval}
		if fw.Interval != "" {
			if w.Interval, err = parseDuration(fw.Interval); err != nil {
				bad(p+"interval", "%v", err)
			}
		}
		for j, d := range fw.Days {
			day, err := schedule.ParseWeekday(d)
			if err != nil {
				bad(fmt.Sprintf("%sdays[%d]", p, j), "%v", err)
			}
			w.Days |= schedule.Days(day)
		}
		if len(fw.Days) > 0 && w.Days == 0 {
			w.Days = schedule.Everyday // all names were bad; reported above
		}
		if w.Start, err = schedule.ParseEdge(fw.Start); err != nil {
			bad(p+"start", "%v", err)
		}
		if w.End, err = schedule.ParseEdge(fw.End); err != nil {
			bad(p+"end", "%v", err)
		}
		for _, e := range []struct {
			name string
			edge schedule.Edge
		}{{"start", w.Start}, {"end", w.End}} {
			if e.edge.Anchor != schedule.Clock && usesSun == "" {
				usesSun = p + e.name
			}
		}
		s.Windows = append(s.Windows, w)
	}
	if usesSun != "" && (f.Site.Latitude == nil || f.Site.Longitude == nil) {
		bad("site.latitude", "required: %s uses the sun", usesSun)
	}
	// The schedule's own checks (ranges), with their fields renamed to the
	// file's; errors already reported above are not repeated.
	for _, e := range fieldErrors(s.Validate()) {
		field := "schedule." + e.Field
		switch e.Field {
		case "location":
			continue
		case "latitude", "longitude":
			field = "site." + e.Field
		}
		if strings.HasSuffix(field, ".interval") && f.Schedule.Windows != nil {
			if i := windowIndex(e.Field); i >= 0 && i < len(windows) && windows[i].Interval == "" {
				field = "schedule.interval" // inherited
			}
		}
		if f.Schedule.Windows == nil && strings.HasSuffix(field, ".interval") {
			field = "schedule.interval"
		}
		if slices.ContainsFunc(errs, func(x *FieldError) bool { return x.Field == field }) {
			continue
		}
		bad(field, "%v", e.Err)
	}
	c.Schedule = s

	// targets
	seen := map[string]int{}
	for i, ft := range f.Targets {
		p := fmt.Sprintf("targets[%d].", i)
		t := f.parseTarget(i, ft, s.Location, bad)
		switch j, dup := seen[ft.Name]; {
		case !namePattern.MatchString(ft.Name):
			bad(p+"name", "%q is not a name (lower-case letters, digits, '.', '_', '-'; at most 64)", ft.Name)
		case dup:
			bad(p+"name", "%q is already the name of targets[%d]", ft.Name, j)
		default:
			seen[ft.Name] = i
		}
		if ft.Secret != "" {
			if _, ok := f.Secrets[ft.Secret]; !ok {
				bad(p+"secret", "%q is not in secrets", ft.Secret)
			}
		}
		c.Targets = append(c.Targets, t)
	}

	// retention
	r := f.Retention
	c.Retention = Retention{HighWater: r.HighWater, LowWater: r.LowWater, Critical: r.Critical}
	if c.Retention.MaxAge, err = parseDuration(r.MaxAge); err != nil {
		bad("retention.max_age", "%v", err)
	} else if c.Retention.MaxAge < 0 {
		bad("retention.max_age", "%q is negative", r.MaxAge)
	}
	switch {
	case r.LowWater < 1 || r.LowWater > 100:
		bad("retention.low_water", "%d is not a percentage from 1 to 100", r.LowWater)
	case r.HighWater < 1 || r.HighWater > 100:
		bad("retention.high_water", "%d is not a percentage from 1 to 100", r.HighWater)
	case r.Critical < 1 || r.Critical > 100:
		bad("retention.critical", "%d is not a percentage from 1 to 100", r.Critical)
	case r.LowWater >= r.HighWater:
		bad("retention.low_water", "%d is not below high_water (%d)", r.LowWater, r.HighWater)
	case r.HighWater >= r.Critical:
		bad("retention.high_water", "%d is not below critical (%d)", r.HighWater, r.Critical)
	}

	c.Modem = f.parseModem(c.Targets, bad)
	c.Update = f.parseUpdate(c.Targets, bad)

	// hardware
	c.Hardware = f.parseHardware(c.Retention, bad)
	c.Status = Status{PublicSummary: f.Status.PublicSummary}

	// secrets
	for k, v := range f.Secrets {
		switch {
		case !namePattern.MatchString(k):
			bad("secrets."+k, "%q is not a name (lower-case letters, digits, '.', '_', '-'; at most 64)", k)
		case v == "":
			bad("secrets."+k, "empty")
		}
		c.Secrets[k] = Secret(v)
	}

	slices.SortStableFunc(errs, func(a, b *FieldError) int { return strings.Compare(a.Field, b.Field) })
	return c, errs
}

// fieldErrors flattens a joined error into its *FieldErrors.
func fieldErrors(err error) []*FieldError {
	if err == nil {
		return nil
	}
	var out []*FieldError
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, fieldErrors(e)...)
		}
		return out
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		return []*FieldError{fe}
	}
	return []*FieldError{{Field: "", Err: err}}
}

// windowIndex returns i from "windows[i]...", or -1.
func windowIndex(field string) int {
	rest, ok := strings.CutPrefix(field, "windows[")
	if !ok {
		return -1
	}
	n, _, _ := strings.Cut(rest, "]")
	i, err := strconv.Atoi(n)
	if err != nil {
		return -1
	}
	return i
}

// parseDuration parses a Go duration ("10m", "1h30m") optionally preceded
// by whole days ("90d", "1d12h"); "0" is zero.
func parseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("empty; want a duration such as 10m, 1h30m or 30d")
	}
	var days int64
	if i := strings.IndexByte(t, 'd'); i > 0 {
		n, err := strconv.ParseInt(t[:i], 10, 64)
		if err != nil || n < 0 || n > 36500 {
			return 0, fmt.Errorf("%q is not a duration such as 10m, 1h30m or 30d", s)
		}
		days, t = n, t[i+1:]
		if t == "" {
			return time.Duration(days) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(t)
	if err != nil || (days > 0 && d < 0) {
		return 0, fmt.Errorf("%q is not a duration such as 10m, 1h30m or 30d", s)
	}
	// Beyond 36500 days whatever the unit, so that formatDays writes
	// back what this reads ("1000000h" would become "41666d16h").
	if d > maxDuration-time.Duration(days)*24*time.Hour {
		return 0, fmt.Errorf("%q is too long: at most 36500d", s)
	}
	return time.Duration(days)*24*time.Hour + d, nil
}

// maxDuration is the longest duration a file may give: 100 years.
const maxDuration = 36500 * 24 * time.Hour

// formatDays formats d for parseDuration, with whole days as "Nd".
func formatDays(d time.Duration) string {
	day := 24 * time.Hour
	if d >= day {
		s := strconv.FormatInt(int64(d/day), 10) + "d"
		if r := d % day; r != 0 {
			s += schedule.FormatDuration(r)
		}
		return s
	}
	return schedule.FormatDuration(d)
}

// containsFold reports whether sub is in s, ignoring case.
func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}
