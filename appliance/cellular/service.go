// Package cellular is modemd's appliance side: it runs the modem manager
// (modem/manager) with the site configuration's settings, writes
// modemd.json, counts the month's data against the cap, sends alert
// messages (camera stopped, disk nearly full, link back after an outage,
// data cap reached) within a budget, and obeys SMS commands from allowed
// numbers (status, capture, reboot).
package cellular

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/appliance/request"
	"github.com/lapsebox/lapsebox/appliance/statusfile"
	"github.com/lapsebox/lapsebox/hw"
	"github.com/lapsebox/lapsebox/internal/durable"
	"github.com/lapsebox/lapsebox/modem"
	"github.com/lapsebox/lapsebox/modem/manager"
)

// Service is modemd.
type Service struct {
	Config *config.Config
	// Perm is the persistent partition ("/perm"); modemd keeps its
	// memory under Perm/lapsebox/modem.
	Perm string
	// RunDir holds the services' status files ("/run/lapsebox").
	RunDir string
	// Requests is where capture requests go ("" = request.Dir).
	Requests string
	// Sysfs and Proc are where sysfs and procfs are mounted.
	Sysfs, Proc string
	// Relay power-cycles the modem, used only when the site
	// configuration wires a relay to it.
	Relay hw.Relay
	Link  manager.DataLink
	// Reboot reboots the appliance (through gokrazy).
	Reboot func(ctx context.Context) error
	Wake   <-chan struct{}
	Logf   func(format string, args ...any)
	// Tick is the time between data counts and alert checks (default a
	// minute).
	Tick time.Duration
	// OutageAlertAfter is the shortest outage reported when the link
	// comes back (default 10 minutes).
	OutageAlertAfter time.Duration
	// RebootGuard is the shortest time between two reboots by SMS
	// (default 30 minutes).
	RebootGuard time.Duration
	// Tune adjusts the manager's configuration (tests shorten its waits).
	Tune func(*manager.Config)

	mgr    *manager.Manager
	usage  *Usage
	alerts *Alerts

	mu            sync.Mutex
	commandTimes  []time.Time
	counters      counts
	lastOutage    time.Duration
	lastAlert     string
	lastAlertTime time.Time
	dataUse       statusfile.DataUse
	started       time.Time
	changed       chan struct{}
	flush         chan struct{}
}

type counts struct{ commands, ignored int }

func (s *Service) count(f func(*counts)) {
	s.mu.Lock()
	f(&s.counters)
	s.mu.Unlock()
	s.notify()
}

func (s *Service) dir() string { return filepath.Join(s.Perm, "lapsebox", "modem") }

func (s *Service) requestDir() string {
	if s.Requests == "" {
		return request.Dir
	}
	return s.Requests
}

func (s *Service) rebootGuard() time.Duration {
	if s.RebootGuard <= 0 {
		return 30 * time.Minute
	}
	return s.RebootGuard
}

// Run runs modemd until ctx is done.
func (s *Service) Run(ctx context.Context) error {
	if s.Logf == nil {
		s.Logf = func(string, ...any) {}
	}
	if s.Sysfs == "" {
		s.Sysfs = "/sys"
	}
	if s.Proc == "" {
		s.Proc = "/proc"
	}
	tick := s.Tick
	if tick <= 0 {
		tick = time.Minute
	}
	s.started = time.Now()
	s.changed = make(chan struct{}, 1)
	s.flush = make(chan struct{}, 1)
	cfg := s.Config
	s.usage = &Usage{
		Path: filepath.Join(s.Perm, statusfile.DataUsePath), Sysfs: s.Sysfs, BootID: filepath.Join(s.Proc, "sys", "kernel", "random", "boot_id"),
		CapBytes: uint64(cfg.Modem.MonthlyCapMB) * 1_000_000, BillingDay: cfg.Modem.BillingDay,
		Location: cfg.Site.Location, Essential: cfg.Essential(),
	}
	s.alerts = &Alerts{Path: filepath.Join(s.dir(), "alerts.json"), Numbers: cfg.Modem.AlertNumbers,
		PerDay: cfg.Modem.AlertsPerDay, Logf: s.Logf,
		Send: func(ctx context.Context, n, text string) error { return s.mgr.SendSMS(ctx, n, text) }}

	mcfg := manager.Config{
		Port: cfg.Modem.Port, Sysfs: s.Sysfs,
		APN: cfg.Modem.APN, User: cfg.Modem.User, Password: cfg.ModemSecret(cfg.Modem.PasswordSecret),
		PIN: cfg.ModemSecret(cfg.Modem.PINSecret), Data: manager.DataMode(cfg.Modem.Data),
		MemoryFile: filepath.Join(s.dir(), "memory.json"),
		Relay:      modemRelay(cfg, s.Relay), Link: s.Link, ProbeEvery: cfg.Modem.ProbeEvery,
		OnMessage: func(m modem.Message) { s.command(ctx, m) },
		OnLinkUp:  s.linkUp,
		OnChange:  func(manager.State) { s.notify() },
		Wake:      s.Wake, Logf: s.Logf,
	}
	if url := cfg.ProbeTarget(); url != "" {
		p := &Prober{URL: url, Uploads: filepath.Join(s.RunDir, "uploadd.json"), Fresh: cfg.Modem.ProbeEvery}
		mcfg.Probe = p.Probe
	}
	if s.Tune != nil {
		s.Tune(&mcfg)
	}
	var err error
	if s.mgr, err = manager.New(mcfg); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.mgr.Run(ctx)
	}()
	defer func() {
		<-done
		s.usage.Save()
		s.writeStatus()
	}()

	s.periodic(ctx)
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	var lastWrite time.Time
	var pendingWrite <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.changed:
			// Coalesce bursts of changes into a write a second at most:
			// a poll changes registration, operator and signal within
			// milliseconds, and writing at its first change would take a
			// second write (and a second wake-up) for the rest.
			if pendingWrite == nil {
				pendingWrite = time.After(max(burstSettle, time.Second-time.Since(lastWrite)))
			}
		case <-pendingWrite:
			pendingWrite = nil
			s.writeStatus()
			lastWrite = time.Now()
		case <-s.flush:
			s.sendAlerts(ctx)
			s.writeStatus()
		case <-ticker.C:
			s.periodic(ctx)
			lastWrite = time.Now()
		}
	}
}

// burstSettle is how long a change waits for the rest of its burst before
// the status file is written.
const burstSettle = 100 * time.Millisecond

func (s *Service) notify() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// linkUp reports an outage that ended.
func (s *Service) linkUp(outage time.Duration) {
	s.mu.Lock()
	s.lastOutage = outage
	s.mu.Unlock()
	after := s.OutageAlertAfter
	if after <= 0 {
		after = 10 * time.Minute
	}
	if outage >= after {
		s.alerts.Raise("link", fmt.Sprintf("%s: link back after %s down", s.Config.Site.Name, roundDuration(outage)), 0, time.Now())
		select {
		case s.flush <- struct{}{}:
		default:
		}
	}
}

// periodic counts data, checks what deserves an alert, sends alerts and
// rewrites the status.
func (s *Service) periodic(ctx context.Context) {
	now := time.Now()
	st := s.mgr.State()
	du, err := s.usage.Update(st.Interface, now)
	if err != nil {
		s.Logf("%v", err)
	}
	s.mu.Lock()
	wasOver := s.dataUse.OverCap && s.dataUse.Period == du.Period
	s.dataUse = du
	s.mu.Unlock()
	site, cfg := s.Config.Site.Name, s.Config
	if du.OverCap && !wasOver {
		s.Logf("data cap reached: %d of %d MB; only %s are sent until %s", du.UsedBytes/1_000_000, du.CapBytes/1_000_000,
			strings.Join(du.EssentialTargets, ", "), "the next billing period")
		s.alerts.Raise("cap", fmt.Sprintf("%s: data cap reached (%d MB); sending only %s until the next period",
			site, du.CapBytes/1_000_000, strings.Join(du.EssentialTargets, ", ")), 24*time.Hour, now)
	}
	var cam statusfile.Camera
	if mtime, err := statusfile.Read(filepath.Join(s.RunDir, "camerad.json"), &cam); err == nil {
		if why := cameraStopped(&cam, mtime, now, cfg.Modem.CameraAlertAfter, cfg.Site.Location); why != "" {
			s.alerts.Raise("camera", site+": "+why, 6*time.Hour, now)
		}
		if why := diskNearlyFull(&cam, cfg.Retention.HighWater); why != "" {
			s.alerts.Raise("disk", site+": "+why, 12*time.Hour, now)
		}
	}
	s.sendAlerts(ctx)
	s.writeStatus()
}

func (s *Service) sendAlerts(ctx context.Context) {
	if !s.mgr.State().Registration.Registered() {
		return // kept until the modem can send
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if n, text := s.alerts.Flush(sctx, time.Now()); n > 0 {
		s.mu.Lock()
		s.lastAlert, s.lastAlertTime = text, time.Now()
		s.mu.Unlock()
	}
}

// status converts the manager's state into modemd.json.
func (s *Service) status() statusfile.Modem {
	st := s.mgr.State()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := statusfile.Modem{State: st.Phase, Problem: st.Problem, Updated: time.Now(), Port: st.Port,
		Link: statusfile.Link{Connected: st.Connected, DownSince: st.DownSince, Interface: st.Interface, IP: st.IP,
			Data: st.Data, ProbeURL: s.Config.ProbeTarget(), LastProbe: st.LastProbe, LastProbeError: st.LastProbeError,
			LastOutage: statusfile.Duration(s.lastOutage)},
		Data: s.dataUse,
		SMS: statusfile.SMSCounters{Sent: st.SMSSent, Received: st.SMSReceived, Commands: s.counters.commands,
			Ignored: s.counters.ignored, AlertsHeld: s.alerts.Held(), LastAlert: s.lastAlert, LastAlertTime: s.lastAlertTime},
		MaxRSSBytes: maxRSS(),
	}
	if id := st.Identity; id.IMEI != "" || id.Model != "" {
		out.Device = &statusfile.ModemInfo{Manufacturer: id.Manufacturer, Model: id.Model, Firmware: id.Revision, IMEI: id.IMEI, USB: st.USB}
	}
	if st.SIM != "" {
		out.SIM = &statusfile.SIM{State: string(st.SIM), ICCID: st.Identity.ICCID}
		if st.PINAttemptsLeft >= 0 {
			n := st.PINAttemptsLeft
			out.SIM.PINAttemptsLeft = &n
		}
	}
	if st.Phase != "no modem" && st.SIM == modem.SIMReady {
		n := &statusfile.Network{Registration: st.Registration.String(), Roaming: st.Registration == modem.RegRoaming,
			Operator: st.Operator, Technology: st.Tech, SignalBars: st.Signal.Bars, RSRQ: st.Signal.RSRQ, SINR: st.Signal.SINR,
			SignalSource: st.Signal.Source, SignalTime: st.SignalTime}
		if st.Signal.DBM != 0 {
			dbm := st.Signal.DBM
			n.SignalDBM = &dbm
		}
		out.Net = n
	}
	for _, e := range st.Escalations {
		out.Escalations = append(out.Escalations, statusfile.Escalation{Time: e.Time, Step: e.Step, Reason: e.Reason, Error: e.Error})
	}
	if n := len(out.Escalations); n > 0 {
		last := out.Escalations[n-1]
		out.LastEscalation = &last
	}
	return out
}

func (s *Service) writeStatus() {
	if s.RunDir == "" {
		return
	}
	if err := statusfile.Write(filepath.Join(s.RunDir, "modemd.json"), s.status()); err != nil {
		s.Logf("%v", err)
	}
}

// summary answers "status".
func (s *Service) summary() string {
	var cam statusfile.Camera
	var up statusfile.Uploads
	camp, upp := &cam, &up
	if _, err := statusfile.Read(filepath.Join(s.RunDir, "camerad.json"), &cam); err != nil {
		camp = nil
	}
	if _, err := statusfile.Read(filepath.Join(s.RunDir, "uploadd.json"), &up); err != nil {
		upp = nil
	}
	md := s.status()
	return summary(s.Config.Site.Name, camp, upp, &md, s.uptime(), s.Config.Site.Location)
}

// uptime is the appliance's, from /proc/uptime.
func (s *Service) uptime() time.Duration {
	b, err := os.ReadFile(filepath.Join(s.Proc, "uptime"))
	if err != nil {
		return 0
	}
	f, err := strconv.ParseFloat(firstWord(string(b)), 64)
	if err != nil {
		return 0
	}
	return time.Duration(f * float64(time.Second))
}

// rebootRecord keeps the last reboot by SMS on /perm.
type rebootRecord struct {
	Time time.Time `json:"time"`
}

func (s *Service) lastReboot() time.Time {
	var r rebootRecord
	if _, err := durable.ReadJSON(filepath.Join(s.dir(), "reboot.json"), &r); err != nil {
		s.Logf("reboot record: %v", err)
	}
	return r.Time
}

func (s *Service) setLastReboot(t time.Time) error {
	return durable.WriteJSON(filepath.Join(s.dir(), "reboot.json"), rebootRecord{Time: t})
}

// maxRSS returns the process's peak resident memory in bytes.
func maxRSS() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Maxrss * 1024
}

// modemRelay is r if the site wires a relay to the modem, else none:
// without one the ladder has no power cycle to climb to, and asking
// watchdogd for it would only be refused, every round.
func modemRelay(cfg *config.Config, r hw.Relay) hw.Relay {
	if r == nil || !cfg.Hardware.HasRelay("modem") {
		return nil
	}
	return r
}
