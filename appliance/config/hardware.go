package config

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/lapsebox/lapsebox/hw"
)

// Hardware is what the appliance has wired to its GPIO lines: the external
// watchdog, the relays that cut the camera's and the modem's power, inputs
// (a door switch, a rain sensor), and the limits of watchdogd's health
// model. Without a hardware section nothing touches GPIO: power-cycle
// requests are only recorded.
type Hardware struct {
	// Wired is true when the file has a hardware section.
	Wired bool
	// Watchdog is the external watchdog's feed line; nil: none fitted.
	Watchdog *WatchdogPin
	Relays   []RelayPin
	Inputs   []InputPin
	Health   Health
}

// HasRelay reports whether a relay cuts device's power ("camera",
// "modem").
func (h *Hardware) HasRelay(device string) bool {
	for _, r := range h.Relays {
		if r.Device == device {
			return true
		}
	}
	return false
}

// Pin is a GPIO line: its chip (name, /dev path or label) and its line
// (offset or name).
type Pin struct {
	Chip, Line string
	ActiveLow  bool
}

// WatchdogPin is the external watchdog's feed line: pulsed active for
// Pulse every Period (default 10 s; Pulse 100 ms) while the appliance is
// healthy.
type WatchdogPin struct {
	Pin
	Drive         hw.Drive
	Period, Pulse time.Duration
}

// RelayPin is a relay cutting a device's power, wired normally closed:
// energised (the line active) is power off.
type RelayPin struct {
	Pin
	Device string // "camera", "modem": what Remote asks for
	Drive  hw.Drive
	Caps   hw.Caps
}

// InputPin is an input whose edges watchdogd counts and reports.
type InputPin struct {
	Pin
	Name     string
	Bias     hw.Bias
	Edges    hw.Edge
	Debounce time.Duration
}

// Health tunes watchdogd's health model.
type Health struct {
	// CheckEvery is how often the appliance is judged (default 15 s).
	CheckEvery time.Duration
	// StartupGrace is how long after watchdogd starts a failing rule does
	// not stop the feeding (default 5 minutes: services start, the clock
	// gets set).
	StartupGrace time.Duration
	// StaleAfter is how long a service's status file may stay unchanged
	// (default 2 minutes; they are rewritten every few seconds).
	StaleAfter time.Duration
	// CameraGrace is how long missed slots may stay uncaught before they
	// count against health (default 30 minutes: the camera's recovery
	// ladder runs first).
	CameraGrace time.Duration
	// UploadStall is how long uploadd may have pending work in an open
	// window without any attempt, failed or not (default 2 hours, past its
	// longest retry backoff).
	UploadStall time.Duration
	// PermCritical is the use of /perm, in percent, from which the
	// appliance is unhealthy (default retention.critical).
	PermCritical int
	// TemperatureWarn is the SoC temperature, in °C, from which the status
	// warns (default 80); heat never stops the feeding.
	TemperatureWarn float64
	// QuickReboots is how many reboots in a row without a stable period
	// stop the escalation: the watchdog is then fed whatever the health,
	// and an alert raised (default 3).
	QuickReboots int
	// StableAfter is how long the appliance must stay healthy for a boot
	// to count as stable (default 30 minutes).
	StableAfter time.Duration
}

type fileHardware struct {
	Chip     string          `json:"chip,omitempty"`
	Watchdog *fileWatchdog   `json:"watchdog,omitempty"`
	Relays   []fileRelay     `json:"relays,omitempty"`
	Inputs   []fileInput     `json:"inputs,omitempty"`
	Health   *fileHealthConf `json:"health,omitempty"`
}

type fileWatchdog struct {
	Chip      string `json:"chip,omitempty"`
	Line      string `json:"line"`
	ActiveLow bool   `json:"active_low,omitempty"`
	Drive     string `json:"drive,omitempty"`
	Period    string `json:"period,omitempty"`
	Pulse     string `json:"pulse,omitempty"`
}

type fileRelay struct {
	Device      string `json:"device"`
	Chip        string `json:"chip,omitempty"`
	Line        string `json:"line"`
	ActiveLow   bool   `json:"active_low,omitempty"`
	Drive       string `json:"drive,omitempty"`
	Off         string `json:"off,omitempty"`
	MinInterval string `json:"min_interval,omitempty"`
	MaxPerHour  int    `json:"max_per_hour,omitempty"`
}

type fileInput struct {
	Name      string `json:"name"`
	Chip      string `json:"chip,omitempty"`
	Line      string `json:"line"`
	ActiveLow bool   `json:"active_low,omitempty"`
	Bias      string `json:"bias,omitempty"`
	Edges     string `json:"edges,omitempty"`
	Debounce  string `json:"debounce,omitempty"`
}

type fileHealthConf struct {
	CheckEvery      string  `json:"check_every,omitempty"`
	StartupGrace    string  `json:"startup_grace,omitempty"`
	StaleAfter      string  `json:"stale_after,omitempty"`
	CameraGrace     string  `json:"camera_grace,omitempty"`
	UploadStall     string  `json:"upload_stall,omitempty"`
	PermCritical    int     `json:"perm_critical,omitempty"`
	TemperatureWarn float64 `json:"temperature_warn,omitempty"`
	QuickReboots    int     `json:"quick_reboots,omitempty"`
	StableAfter     string  `json:"stable_after,omitempty"`
}

// DefaultChip is the GPIO chip of a line that names none: the header of
// every Raspberry Pi with kernel.rpi 6.12 (the Pi 5's too).
const DefaultChip = "gpiochip0"

var (
	deviceNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
	linePattern       = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,63}$`)
	chipPattern       = regexp.MustCompile(`^(/dev/)?[A-Za-z0-9_.:@-]{1,63}$`)
)

var (
	drives = map[string]hw.Drive{"": hw.PushPull, "push-pull": hw.PushPull, "open-drain": hw.OpenDrain, "open-source": hw.OpenSource}
	biases = map[string]hw.Bias{"": hw.BiasAsIs, "as-is": hw.BiasAsIs, "disabled": hw.BiasDisabled, "pull-up": hw.PullUp, "pull-down": hw.PullDown}
	edges  = map[string]hw.Edge{"": hw.Both, "none": hw.NoEdges, "rising": hw.Rising, "falling": hw.Falling, "both": hw.Both}
)

// parseHardware validates the hardware section.
func (f *fileConfig) parseHardware(retention Retention, bad func(field, format string, args ...any)) Hardware {
	h := Hardware{Health: Health{PermCritical: retention.Critical}}
	fh := f.Hardware
	if fh != nil {
		h.Wired = true
	} else {
		fh = &fileHardware{}
	}
	defChip := fh.Chip
	if defChip == "" {
		defChip = DefaultChip
	} else if !chipPattern.MatchString(defChip) {
		bad("hardware.chip", "%q is not a chip name, /dev path or label", defChip)
	}
	seen := map[string]string{} // "chip line" → field
	pin := func(p, chip, line string, activeLow bool) Pin {
		if chip == "" {
			chip = defChip
		} else if !chipPattern.MatchString(chip) {
			bad(p+"chip", "%q is not a chip name, /dev path or label", chip)
		}
		if !linePattern.MatchString(line) {
			bad(p+"line", "%q is not a line offset (\"17\") or name (\"GPIO17\")", line)
		} else if prev, dup := seen[chip+" "+line]; dup {
			bad(p+"line", "chip %s line %s is already %s", chip, line, prev)
		} else {
			seen[chip+" "+line] = strings.TrimSuffix(p, ".")
		}
		return Pin{Chip: chip, Line: line, ActiveLow: activeLow}
	}
	dur := func(field, s string, def, lo, hi time.Duration) time.Duration {
		if s == "" {
			return def
		}
		d, err := parseDuration(s)
		switch {
		case err != nil:
			bad(field, "%v", err)
			return def
		case d < lo || d > hi:
			bad(field, "%q is not between %s and %s", s, fmtDur(lo), fmtDur(hi))
			return def
		}
		return d
	}
	enum := func(field, s string, ok bool, values string) {
		if !ok {
			bad(field, "%q is not one of %s", s, values)
		}
	}

	if w := fh.Watchdog; w != nil {
		p := "hardware.watchdog."
		wp := &WatchdogPin{Pin: pin(p, w.Chip, w.Line, w.ActiveLow)}
		var ok bool
		wp.Drive, ok = drives[w.Drive]
		enum(p+"drive", w.Drive, ok, "push-pull, open-drain, open-source")
		wp.Period = dur(p+"period", w.Period, 10*time.Second, time.Second, 10*time.Minute)
		wp.Pulse = dur(p+"pulse", w.Pulse, 100*time.Millisecond, time.Millisecond, 10*time.Second)
		if wp.Pulse >= wp.Period {
			bad(p+"pulse", "%s is not shorter than the period (%s)", fmtDur(wp.Pulse), fmtDur(wp.Period))
		}
		h.Watchdog = wp
	}
	// unique checks that the name at field is one, and the first of list.
	unique := func(seen map[string]int, field, list, name string, i int) {
		switch j, dup := seen[name]; {
		case !deviceNamePattern.MatchString(name):
			bad(field, "%q is not a name (lower-case letters, digits, '_', '-'; at most 32)", name)
		case dup:
			bad(field, "%q is already the name of %s[%d]", name, list, j)
		default:
			seen[name] = i
		}
	}
	devices := map[string]int{}
	for i, r := range fh.Relays {
		p := fmt.Sprintf("hardware.relays[%d].", i)
		rp := RelayPin{Device: r.Device, Pin: pin(p, r.Chip, r.Line, r.ActiveLow)}
		unique(devices, p+"device", "hardware.relays", r.Device, i)
		var ok bool
		rp.Drive, ok = drives[r.Drive]
		enum(p+"drive", r.Drive, ok, "push-pull, open-drain, open-source")
		def := hw.Caps{}.WithDefaults()
		rp.Caps.Off = dur(p+"off", r.Off, def.Off, time.Second, hw.MaxOff)
		rp.Caps.MinInterval = dur(p+"min_interval", r.MinInterval, def.MinInterval, time.Minute, 24*time.Hour)
		rp.Caps.MaxPerHour = inRange(bad, p+"max_per_hour", r.MaxPerHour, def.MaxPerHour, 1, 12, "")
		h.Relays = append(h.Relays, rp)
	}
	names := map[string]int{}
	for i, in := range fh.Inputs {
		p := fmt.Sprintf("hardware.inputs[%d].", i)
		ip := InputPin{Name: in.Name, Pin: pin(p, in.Chip, in.Line, in.ActiveLow)}
		unique(names, p+"name", "hardware.inputs", in.Name, i)
		var ok bool
		ip.Bias, ok = biases[in.Bias]
		enum(p+"bias", in.Bias, ok, "as-is, disabled, pull-up, pull-down")
		ip.Edges, ok = edges[in.Edges]
		enum(p+"edges", in.Edges, ok, "none, rising, falling, both")
		ip.Debounce = dur(p+"debounce", in.Debounce, 0, 0, time.Second)
		h.Inputs = append(h.Inputs, ip)
	}

	hc := fh.Health
	if hc == nil {
		hc = &fileHealthConf{}
	}
	p := "hardware.health."
	h.Health.CheckEvery = dur(p+"check_every", hc.CheckEvery, 15*time.Second, time.Second, 5*time.Minute)
	h.Health.StartupGrace = dur(p+"startup_grace", hc.StartupGrace, 5*time.Minute, 0, 2*time.Hour)
	h.Health.StaleAfter = dur(p+"stale_after", hc.StaleAfter, 2*time.Minute, 10*time.Second, time.Hour)
	h.Health.CameraGrace = dur(p+"camera_grace", hc.CameraGrace, 30*time.Minute, 0, 24*time.Hour)
	h.Health.UploadStall = dur(p+"upload_stall", hc.UploadStall, 2*time.Hour, time.Minute, 7*24*time.Hour)
	h.Health.StableAfter = dur(p+"stable_after", hc.StableAfter, 30*time.Minute, time.Minute, 24*time.Hour)
	h.Health.PermCritical = inRange(bad, p+"perm_critical", hc.PermCritical, h.Health.PermCritical, 50, 100, " %")
	h.Health.TemperatureWarn = inRange(bad, p+"temperature_warn", hc.TemperatureWarn, 80, 30, 125, " °C")
	h.Health.QuickReboots = inRange(bad, p+"quick_reboots", hc.QuickReboots, 3, 1, 20, "")
	return h
}

func fmtDur(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	return formatDays(d)
}

// file converts h back to the file's shape; nil without a section.
func (h Hardware) file() *fileHardware {
	if !h.Wired {
		return nil
	}
	f := &fileHardware{Health: &fileHealthConf{
		CheckEvery: fmtDur(h.Health.CheckEvery), StartupGrace: fmtDur(h.Health.StartupGrace),
		StaleAfter: fmtDur(h.Health.StaleAfter), CameraGrace: fmtDur(h.Health.CameraGrace),
		UploadStall: fmtDur(h.Health.UploadStall), PermCritical: h.Health.PermCritical,
		TemperatureWarn: h.Health.TemperatureWarn, QuickReboots: h.Health.QuickReboots,
		StableAfter: fmtDur(h.Health.StableAfter),
	}}
	if w := h.Watchdog; w != nil {
		f.Watchdog = &fileWatchdog{Chip: w.Chip, Line: w.Line, ActiveLow: w.ActiveLow, Drive: w.Drive.String(),
			Period: fmtDur(w.Period), Pulse: fmtDur(w.Pulse)}
	}
	for _, r := range h.Relays {
		f.Relays = append(f.Relays, fileRelay{Device: r.Device, Chip: r.Chip, Line: r.Line, ActiveLow: r.ActiveLow,
			Drive: r.Drive.String(), Off: fmtDur(r.Caps.Off), MinInterval: fmtDur(r.Caps.MinInterval), MaxPerHour: r.Caps.MaxPerHour})
	}
	for _, in := range h.Inputs {
		f.Inputs = append(f.Inputs, fileInput{Name: in.Name, Chip: in.Chip, Line: in.Line, ActiveLow: in.ActiveLow,
			Bias: in.Bias.String(), Edges: in.Edges.String(), Debounce: fmtDur(in.Debounce)})
	}
	return f
}

// LineConfig is the request of the watchdog's feed line: an output, at
// rest.
func (w WatchdogPin) LineConfig(consumer string) hw.LineConfig {
	return hw.LineConfig{Chip: w.Chip, Line: w.Line, Consumer: consumer, Output: true, ActiveLow: w.ActiveLow, Drive: w.Drive}
}

// LineConfig is the request of a relay's line: an output at rest, the
// device powered.
func (r RelayPin) LineConfig(consumer string) hw.LineConfig {
	c := hw.RelayLine(r.Chip, r.Line, consumer, r.ActiveLow)
	c.Drive = r.Drive
	return c
}

// LineConfig is the request of an input's line, events to onEvent.
func (in InputPin) LineConfig(consumer string, onEvent func(hw.Event)) hw.LineConfig {
	c := hw.LineConfig{Chip: in.Chip, Line: in.Line, Consumer: consumer, ActiveLow: in.ActiveLow, Bias: in.Bias,
		Edges: in.Edges, Debounce: in.Debounce}
	if in.Edges != hw.NoEdges {
		c.OnEvent = onEvent
	}
	return c
}

// inRange returns v, or def when v is zero (not set) or outside lo to hi,
// which bad reports.
func inRange[T int | float64](bad func(field, format string, args ...any), field string, v, def, lo, hi T, unit string) T {
	if v == 0 {
		return def
	}
	if v < lo || v > hi {
		bad(field, "%v is not between %v and %v%s", v, lo, hi, unit)
		return def
	}
	return v
}

// HeartbeatEvery is how often a service with nothing new to report
// rewrites its status file, whose age is its heartbeat: a quarter of
// hardware.health.stale_after, so that watchdogd never finds it stale,
// and at most every 30 s, since each rewrite wakes an idle service (some
// thirty context switches of the Go runtime's own).
func (c *Config) HeartbeatEvery() time.Duration {
	return min(c.Hardware.Health.StaleAfter/4, 30*time.Second)
}
