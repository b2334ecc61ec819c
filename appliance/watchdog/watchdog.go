// Package watchdog is watchdogd's service: it holds every GPIO line of
// the appliance (the external watchdog's feed, the relays, the inputs),
// feeds the watchdog only while the health model says the appliance is
// healthy, power-cycles camera and modem when camerad or modemd ask
// (through hw.Remote, within the relays' caps), and writes
// watchdogd.json.
package watchdog

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/appliance/health"
	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/hw"
	"github.com/lapsebox/lapsebox/internal/rusage"
)

// Consumer is the name the kernel shows as the holder of watchdogd's
// lines.
const Consumer = "watchdogd"

// Devices are the relays other services ask for; one not wired is still
// answered (recorded and refused).
var Devices = []string{"camera", "modem"}

// Service is watchdogd with one site configuration.
type Service struct {
	Config *config.Config
	// GPIO gives the lines (hw.Kernel{} on the device). Nothing is
	// requested without a hardware section.
	GPIO hw.GPIO
	// Perm is the persistent partition ("/perm"): the relays' history,
	// the boot counter and recorded requests go to Perm/lapsebox.
	Perm string
	// StatusDir holds the services' status files ("/run/lapsebox");
	// watchdogd.json is written there.
	StatusDir string
	// Socket is where power-cycle requests come (hw.DefaultSocket).
	Socket string
	// Sensors reads the board; its Perm is set from Perm.
	Sensors hw.Sensors
	// BootID identifies this boot (health.BootIDFile's content).
	BootID string
	// Logf logs (nothing if nil).
	Logf func(format string, args ...any)
	// Ticks, if set, replaces the ticker of the health checks and of the
	// feeder (tests).
	Ticks, FeedTicks <-chan time.Time

	mu     sync.Mutex
	start  time.Time
	model  *health.Model
	boots  *health.Boots
	feeder *hw.Feeder
	feed   *statusfile.Feed
	relays []*relay
	inputs []*input
	wired  string
	st     statusfile.Watchdog
}

type relay struct {
	pin    *config.RelayPin // nil: not wired
	gpio   *hw.GPIORelay
	cycler hw.Cycler
	err    string
}

type input struct {
	pin    config.InputPin
	line   hw.Line
	err    string
	mu     sync.Mutex
	events int64
	lost   int64
	seq    uint32
	edge   string
	last   time.Time
}

func (s *Service) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
	}
}

// Run serves until ctx is done. The lines are released on return, the
// relays at rest (devices powered).
func (s *Service) Run(ctx context.Context) error {
	s.start = time.Now()
	h := s.Config.Hardware
	root := filepath.Join(s.Perm, "lapsebox")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return fmt.Errorf("watchdog: %w", err)
	}
	var lines []hw.Line
	defer func() {
		for _, l := range lines {
			l.Close()
		}
	}()
	request := func(c hw.LineConfig) (hw.Line, error) {
		if s.GPIO == nil {
			return nil, errors.New("no GPIO")
		}
		l, err := s.GPIO.Request(c)
		if err != nil {
			s.logf("%v", err)
			return nil, err
		}
		lines = append(lines, l)
		return l, nil
	}

	s.wired = "wired"
	if !h.Wired {
		s.wired = "none: the site configuration has no hardware section"
	}
	// The feeder.
	var feedErr string
	if w := h.Watchdog; w != nil {
		s.feed = &statusfile.Feed{Chip: w.Chip, Line: w.Line, Period: statusfile.Duration(w.Period), Pulse: statusfile.Duration(w.Pulse)}
		if l, err := request(w.LineConfig(Consumer)); err != nil {
			feedErr = err.Error()
		} else {
			s.feeder = &hw.Feeder{Watchdog: &hw.PulseWatchdog{Line: l, Pulse: w.Pulse}, Period: w.Period, Ticks: s.FeedTicks}
		}
	}
	// The relays: every configured one, and the devices others ask for.
	recorded := filepath.Join(root, "relay-requests.jsonl")
	cyclers := map[string]hw.Cycler{}
	for i := range h.Relays {
		p := &h.Relays[i]
		r := &relay{pin: p}
		if l, err := request(p.LineConfig(Consumer)); err != nil {
			r.err = err.Error()
			r.cycler = &hw.Unwired{Recorder: hw.Recorder{Device: p.Device, Path: recorded}, Why: "its line could not be requested: " + err.Error()}
		} else {
			r.gpio = &hw.GPIORelay{Device: p.Device, Line: l, Caps: p.Caps, HistoryFile: filepath.Join(root, "relay-"+p.Device+".json")}
			r.cycler = r.gpio
		}
		s.relays = append(s.relays, r)
		cyclers[p.Device] = r.cycler
	}
	for _, d := range Devices {
		if _, ok := cyclers[d]; ok {
			continue
		}
		why := "no hardware section in the site configuration"
		if h.Wired {
			why = "no hardware.relays entry for " + d
		}
		u := &hw.Unwired{Recorder: hw.Recorder{Device: d, Path: recorded}, Why: why}
		cyclers[d] = u
		s.relays = append(s.relays, &relay{cycler: u})
	}
	// The inputs.
	for _, p := range h.Inputs {
		in := &input{pin: p}
		l, err := request(p.LineConfig(Consumer, in.event))
		if err != nil {
			in.err = err.Error()
		}
		in.line = l
		s.inputs = append(s.inputs, in)
	}

	s.model = &health.Model{Config: health.Config{
		StartupGrace: h.Health.StartupGrace, StaleAfter: h.Health.StaleAfter, CameraGrace: h.Health.CameraGrace,
		UploadStall: h.Health.UploadStall, PermCritical: h.Health.PermCritical,
		Required: []string{"camerad", "uploadd"}, Self: "watchdogd",
	}}
	s.boots = &health.Boots{Path: filepath.Join(root, "boots.json"), Limit: h.Health.QuickReboots, StableAfter: h.Health.StableAfter}
	if err := s.boots.Start(s.BootID); err != nil {
		s.logf("%v", err)
	}
	if n := s.boots.QuickReboots(); n > 0 {
		s.logf("boot %d in a row that came before the appliance was stable", n+1)
	}
	s.Sensors.Perm = s.Perm

	ln, err := listen(s.Socket)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	s.logf("power cycles of %s asked on %s; hardware: %s", s.relayNames(), s.Socket, s.wired)
	srv := &hw.RelayServer{Relays: cyclers, Logf: s.Logf}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ctx, ln); err != nil {
			s.logf("%v", err)
		}
	}()
	if s.feeder != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.feeder.Run(ctx)
		}()
	}
	defer wg.Wait() // before the lines close: relays back at rest
	defer cancel()

	ticks := s.Ticks
	if ticks == nil {
		t := time.NewTicker(h.Health.CheckEvery)
		defer t.Stop()
		ticks = t.C
	}
	if feedErr != "" {
		s.feed.Error = feedErr
	}
	for {
		s.check(time.Now())
		select {
		case <-ctx.Done():
			return nil
		case <-ticks:
		}
	}
}

// listen opens the relay socket, replacing a stale one, for root only.
func listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("watchdog: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSocket == 0 {
			return nil, fmt.Errorf("watchdog: %s exists and is not a socket: not replaced", path)
		}
		os.Remove(path)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("watchdog: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("watchdog: %w", err)
	}
	return ln, nil
}

func (in *input) event(e hw.Event) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.seq != 0 && e.Seqno > in.seq+1 {
		in.lost += int64(e.Seqno - in.seq - 1)
	}
	in.seq = e.Seqno
	in.events++
	in.edge = "falling"
	if e.Rising {
		in.edge = "rising"
	}
	in.last = time.Now()
}

// check judges the appliance once, decides the feeding and writes the
// status file.
func (s *Service) check(now time.Time) {
	snap := health.Snapshot{Wall: now, Mono: time.Since(s.start), Files: health.ReadFiles(s.StatusDir, "watchdogd"), Sensors: s.Sensors.Read()}
	v := s.model.Judge(snap)
	if err := s.boots.Observe(snap.Mono, v.Healthy); err != nil {
		s.logf("%v", err)
	}
	state, reason := decide(v, s.boots, s.feeder != nil)
	feed := feeds(state)
	if s.feeder != nil {
		if feed {
			// A lease of a few checks: if this loop stops, the feeding
			// stops with it.
			s.feeder.Allow(time.Now().Add(3 * s.Config.Hardware.Health.CheckEvery))
		} else {
			s.feeder.Allow(time.Time{})
		}
	}
	st := s.status(now, v, state, reason, snap.Sensors)
	s.mu.Lock()
	prev := s.st
	s.st = st
	s.mu.Unlock()
	if prev.Updated.IsZero() || prev.Healthy != st.Healthy || prev.Feeding != st.Feeding {
		s.logf("healthy %v, feeding %v: %s", st.Healthy, st.Feeding, reason)
	}
	if err := statusfile.Write(filepath.Join(s.StatusDir, "watchdogd.json"), st); err != nil {
		s.logf("%v", err)
	}
}

// decide says whether to feed the watchdog (a statusfile.Watchdog*
// state), and why.
func decide(v health.Verdict, boots *health.Boots, fitted bool) (state, reason string) {
	state = statusfile.WatchdogFeeding
	switch {
	case v.Healthy:
		reason = "healthy"
	case v.Starting:
		reason = "starting up (grace until " + v.GraceUntil.UTC().Format(time.TimeOnly) + "): " + strings.Join(v.Reasons, "; ")
	case !boots.Escalating():
		state = statusfile.WatchdogFedRegardless
		reason = "unhealthy, fed regardless: " + boots.Alert() + ": " + strings.Join(v.Reasons, "; ")
	default:
		state = statusfile.WatchdogStarving
		reason = "unhealthy: " + strings.Join(v.Reasons, "; ")
	}
	if !fitted {
		return statusfile.WatchdogNone, "no watchdog fitted (" + reason + ")"
	}
	return state, reason
}

// feeds reports whether the watchdog is fed in state.
func feeds(state string) bool {
	return state == statusfile.WatchdogFeeding || state == statusfile.WatchdogFedRegardless
}

func (s *Service) status(now time.Time, v health.Verdict, state, reason string, r hw.Readings) statusfile.Watchdog {
	h := s.Config.Hardware
	st := statusfile.Watchdog{
		Updated: now.UTC(), Healthy: v.Healthy, Checks: v.Checks, StartupGraceUntil: v.GraceUntil,
		State: state, Feeding: feeds(state), FeedingReason: reason, Hardware: s.wired, Alert: s.boots.Alert(),
		Boots: statusfile.Boots{QuickReboots: s.boots.QuickReboots(), Limit: h.Health.QuickReboots,
			Escalating: s.boots.Escalating(), Stable: s.boots.Stable()},
		MaxRSSBytes: rusage.MaxRSS(),
	}
	if err := s.boots.Err(); err != nil {
		st.Boots.Error = err.Error()
	}
	if s.feed != nil {
		f := *s.feed
		if s.feeder != nil {
			fs := s.feeder.State()
			f.Pulses, f.LastPulse = fs.Pulses, fs.LastPulse
			if fs.Err != nil {
				f.Error = fs.Err.Error()
			}
		}
		st.Feeder = &f
	}
	for _, r := range s.relays {
		st.Relays = append(st.Relays, r.status(now))
	}
	for _, in := range s.inputs {
		st.Inputs = append(st.Inputs, in.status())
	}
	st.Sensors = sensors(r, v, h.Health.TemperatureWarn)
	return st
}

func (r *relay) status(now time.Time) statusfile.Relay {
	out := statusfile.Relay{Device: r.cycler.Name(), Powered: true, Error: r.err}
	if r.pin != nil {
		out.Chip, out.Line = r.pin.Chip, r.pin.Line
	}
	if r.gpio == nil {
		return out
	}
	out.Wired = true
	rs := r.gpio.State()
	out.Powered = rs.Powered
	if rs.Err != nil {
		out.Error = rs.Err.Error()
	}
	for _, c := range rs.Cycles {
		if now.Sub(c.Start) < time.Hour {
			out.CyclesLastHour++
		}
		out.Cycles = append(out.Cycles, statusfile.RelayCycle{Start: c.Start, End: c.End, Off: statusfile.Duration(c.Off), From: c.From, Error: c.Err})
	}
	for _, f := range rs.Refusals {
		out.Refusals = append(out.Refusals, statusfile.RelayRefusal{Time: f.Time, From: f.From, Reason: f.Reason})
	}
	return out
}

func (in *input) status() statusfile.Input {
	in.mu.Lock()
	out := statusfile.Input{Name: in.pin.Name, Chip: in.pin.Chip, Line: in.pin.Line, Events: in.events, Lost: in.lost,
		LastEdge: in.edge, LastEvent: in.last, Error: in.err}
	in.mu.Unlock()
	if in.line != nil {
		if v, err := in.line.Value(); err == nil {
			out.Value = &v
		} else {
			out.Error = err.Error()
		}
	}
	return out
}

func sensors(r hw.Readings, v health.Verdict, tempWarn float64) statusfile.Sensors {
	out := statusfile.Sensors{Uptime: statusfile.Duration(r.Uptime), Errors: r.Errs,
		Clock: statusfile.Clock{Time: r.Clock.Now.UTC(), Plausible: r.Clock.Plausible, Synchronized: r.Clock.Synchronized,
			Steps: v.Steps, LastStep: v.LastStep}}
	for _, t := range r.Temperatures {
		out.Temperatures = append(out.Temperatures, statusfile.Temperature{Zone: t.Zone, Type: t.Type, Celsius: t.Celsius})
		if t.Celsius >= tempWarn {
			out.Warnings = append(out.Warnings, fmt.Sprintf("%s at %.1f °C (warning from %.0f °C)", t.Zone, t.Celsius, tempWarn))
		}
	}
	if t := r.Throttle; t != nil {
		out.Throttle = &statusfile.Throttle{Source: t.Source, Raw: t.Raw, UnderVoltage: t.UnderVoltage,
			FrequencyCapped: t.FrequencyCapped, Throttled: t.Throttled, SoftTempLimit: t.SoftTempLimit,
			UnderVoltageOccurred: t.UnderVoltageOccurred, FrequencyCappedOccurred: t.FrequencyCappedOccurred,
			ThrottledOccurred: t.ThrottledOccurred, SoftTempLimitOccurred: t.SoftTempLimitOccurred}
		switch {
		case t.UnderVoltage:
			out.Warnings = append(out.Warnings, "under-voltage now: the power supply is too weak")
		case t.UnderVoltageOccurred:
			out.Warnings = append(out.Warnings, "under-voltage since boot: the power supply is too weak")
		}
		if t.Throttled {
			out.Warnings = append(out.Warnings, "the SoC is throttled")
		}
	}
	if d := r.Disk; d != nil {
		out.Perm = &statusfile.Disk{UsedBytes: d.UsedBytes, TotalBytes: d.TotalBytes, UsedPercent: d.UsedPercent()}
	}
	return out
}

// Status returns the last status written.
func (s *Service) Status() statusfile.Watchdog {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st
}

// relayNames lists the devices answered, for the log.
func (s *Service) relayNames() string {
	var names []string
	for _, r := range s.relays {
		names = append(names, r.cycler.Name())
	}
	sort.Strings(names)
	return strings.Join(slices.Compact(names), ", ")
}
