package manager

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/hw"
	"github.com/lapsebox/lapsebox/hw/hwtest"
	"github.com/lapsebox/lapsebox/modem"
	"github.com/lapsebox/lapsebox/modem/sim"
)

// simRelay is the modem's power relay in front of a simulated modem: a
// power cycle makes its port vanish and come back, freshly booted.
type simRelay struct {
	s      *sim.Sim
	cycles atomic.Int32
}

func (r *simRelay) Name() string { return "modem" }
func (r *simRelay) PowerCycle(ctx context.Context, off time.Duration) error {
	r.cycles.Add(1)
	r.s.PowerCycle()
	return nil
}

// rig is a manager in front of a simulated modem on a pseudo-terminal.
type rig struct {
	t      *testing.T
	sim    *sim.Sim
	pty    *sim.PTY
	mgr    *Manager
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	messages []modem.Message
	outages  []time.Duration
}

// simModem starts a simulated modem on a pseudo-terminal and returns a
// Config.Find that finds it wherever it re-enumerates.
func simModem(t *testing.T, sc sim.Config) (*sim.Sim, *sim.PTY, func() ([]modem.Candidate, error)) {
	t.Helper()
	s, p := sim.StartPTY(t, sc)
	find := func() ([]modem.Candidate, error) {
		path := p.Path()
		if path == "" {
			return nil, nil
		}
		return []modem.Candidate{{Device: path, Role: modem.Primary, Interface: 2,
			USB: modem.USBDevice{VendorID: s.Model().VendorID, ProductID: s.Model().ProductID, Name: "1-1"}}}, nil
	}
	return s, p, find
}

// fast is a configuration with every wait shortened for tests.
func fast(cfg Config) Config {
	cfg.PollEvery = 100 * time.Millisecond
	cfg.ProbeEvery = 200 * time.Millisecond
	cfg.RescanEvery = 100 * time.Millisecond
	cfg.ReadTimeout = 500 * time.Millisecond
	cfg.Escalation = Policy{FirstAfter: 400 * time.Millisecond, StepEvery: 400 * time.Millisecond,
		MaxInterval: time.Second, RadioOff: 10 * time.Millisecond, PowerOff: 10 * time.Millisecond, BootTime: 2 * time.Second}
	return cfg
}

func newRig(t *testing.T, sc sim.Config, cfg Config) *rig {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, p, find := simModem(t, sc)
	r := &rig{t: t, sim: s, pty: p, cancel: cancel, done: make(chan struct{})}
	if cfg.Sysfs == "" {
		cfg.Sysfs = t.TempDir() // no cdc_ether: registration only
	}
	cfg.Logf = t.Logf
	cfg.Find = find
	cfg.OnMessage = func(msg modem.Message) {
		r.mu.Lock()
		r.messages = append(r.messages, msg)
		r.mu.Unlock()
	}
	cfg.OnLinkUp = func(d time.Duration) {
		r.mu.Lock()
		r.outages = append(r.outages, d)
		r.mu.Unlock()
	}
	var err error
	r.mgr, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(r.done)
		r.mgr.Run(ctx)
	}()
	t.Cleanup(r.stop)
	return r
}

func (r *rig) stop() {
	r.cancel()
	<-r.done
}

// wait polls the manager's state until cond holds.
func (r *rig) wait(what string, timeout time.Duration, cond func(State) bool) State {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := r.mgr.State()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s: not within %v; state %+v", what, timeout, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func connected(st State) bool { return st.Connected }

func TestRegistersAndReports(t *testing.T) {
	for _, model := range []sim.Model{sim.EC25, sim.SIM7600} {
		t.Run(model.Name, func(t *testing.T) {
			var probes atomic.Int32
			cfg := fast(Config{PIN: "2468", APN: "internet", Probe: func(context.Context) error { probes.Add(1); return nil }})
			cfg.Escalation.FirstAfter = time.Minute // no escalation while it registers, however slow the machine
			r := newRig(t, sim.Config{Model: model, PIN: "2468", SIMBusy: 300 * time.Millisecond, RegisterAfter: 300 * time.Millisecond,
				BootDelay: 100 * time.Millisecond}, cfg)
			st := r.wait("connected", 20*time.Second, connected)
			if st.Operator != "Orange F" || st.Tech != "LTE" || st.Signal.DBM != -95 || st.Signal.Bars != 4 ||
				st.Identity.IMSI != "208011234567890" || st.Identity.ICCID == "" || st.SIM != modem.SIMReady || st.Problem != "" {
				t.Errorf("state %+v", st)
			}
			if probes.Load() == 0 {
				t.Error("connected without a probe")
			}
			if !strings.Contains(st.Data, "no USB network driver") {
				t.Errorf("data: %q", st.Data)
			}
			if r.sim.PINEntries() != 1 {
				t.Errorf("%d PIN entries", r.sim.PINEntries())
			}
			// SMS both ways.
			r.sim.Receive("+33612345678", "status\r\nOK")
			r.wait("a message", 10*time.Second, func(st State) bool { return st.SMSReceived == 1 })
			time.Sleep(50 * time.Millisecond)
			r.mu.Lock()
			msgs := r.messages
			r.mu.Unlock()
			if len(msgs) != 1 || msgs[0].From != "+33612345678" || msgs[0].Text != "status\r\nOK" {
				t.Errorf("messages %+v", msgs)
			}
			if r.sim.Stored() != 0 {
				t.Errorf("%d messages left on the SIM", r.sim.Stored())
			}
			if err := r.mgr.SendSMS(context.Background(), "+33612345678", "camerad: ok"); err != nil {
				t.Fatal(err)
			}
			if sent := r.sim.Sent(); len(sent) != 1 || sent[0].Text != "camerad: ok" {
				t.Errorf("sent %+v", sent)
			}
		})
	}
}

// A wrong PIN is entered once, whatever the restarts: the SIM never locks.
func TestWrongPINNeverRetried(t *testing.T) {
	memFile := filepath.Join(t.TempDir(), "modemd-memory.json")
	s := sim.Config{PIN: "1111"}
	var sm *sim.Sim
	for i := 0; i < 4; i++ {
		r := newRig(t, s, fast(Config{PIN: "9999", MemoryFile: memFile}))
		st := r.wait("the PIN problem reported", 10*time.Second, func(st State) bool {
			return strings.Contains(st.Problem, "refused the configured PIN")
		})
		if i == 0 {
			t.Logf("problem: %s", st.Problem)
		}
		sm = r.sim
		if got := r.sim.PINEntries(); got > 1 || (i > 0 && got != 0) {
			t.Fatalf("run %d: %d PIN entries", i, got)
		}
		r.stop()
		if i == 0 {
			// The same SIM across restarts: keep its attempt counter.
			s = sim.Config{PIN: "1111"}
		}
	}
	_ = sm
	// A corrected PIN is tried.
	r := newRig(t, sim.Config{PIN: "1111"}, fast(Config{PIN: "1111", MemoryFile: memFile}))
	r.wait("connected with the right PIN", 10*time.Second, connected)
}

// The SIM keeps its attempt counter across restarts of modemd and of the
// modem: after a refused PIN, it has two attempts left, and keeps them.
func TestWrongPINLeavesTheSIMUnlocked(t *testing.T) {
	memFile := filepath.Join(t.TempDir(), "memory.json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, p, find := simModem(t, sim.Config{PIN: "1111"})
	for i := 0; i < 5; i++ {
		cfg := fast(Config{PIN: "9999", MemoryFile: memFile, Find: find, Sysfs: t.TempDir(), Logf: t.Logf})
		m, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		rctx, rcancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { m.Run(rctx); close(done) }()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(m.State().Problem, "refused") && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		rcancel()
		<-done
		if i%2 == 1 {
			s.PowerCycle() // the modem restarts too
			s.Wait(10*time.Second, func() bool { return p.Path() != "" })
		}
	}
	state, left := s.SIMState()
	if state != "SIM PIN" || left != 2 || s.PINEntries() != 1 {
		t.Errorf("SIM %s with %d attempts left after %d PIN entries; want one entry, two left", state, left, s.PINEntries())
	}
}

// A PIN sent whose answer was lost (modemd died) counts as refused.
func TestLostPINAttemptCountsAsRefused(t *testing.T) {
	memFile := filepath.Join(t.TempDir(), "memory.json")
	mem, _ := loadMemory(memFile)
	mem.attempt("89330123456789012345", "1111", time.Now())
	r := newRig(t, sim.Config{PIN: "1111"}, fast(Config{PIN: "1111", MemoryFile: memFile}))
	r.wait("not tried", 10*time.Second, func(st State) bool { return strings.Contains(st.Problem, "not tried again") })
	if r.sim.PINEntries() != 0 {
		t.Errorf("%d PIN entries", r.sim.PINEntries())
	}
}

func TestSIMProblems(t *testing.T) {
	for _, tc := range []struct {
		name string
		sim  sim.Config
		cfg  Config
		want string
	}{
		{"absent", sim.Config{NoSIM: true}, Config{}, "no SIM card"},
		{"no PIN configured", sim.Config{PIN: "1111"}, Config{}, "set modem.pin_secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, tc.sim, fast(tc.cfg))
			r.wait(tc.want, 10*time.Second, func(st State) bool { return strings.Contains(st.Problem, tc.want) })
			if r.sim.PINEntries() != 0 {
				t.Errorf("%d PIN entries", r.sim.PINEntries())
			}
		})
	}
}

func TestPUKNeverGuessed(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, p, find := simModem(t, sim.Config{PIN: "1111"})
	// Lock the SIM by hand first.
	port, _ := modem.OpenSerial(p.Path(), time.Second)
	c := modem.New(port, modem.Options{})
	for i := 0; i < 30 && !s.Wait(100*time.Millisecond, func() bool { st, _ := s.SIMState(); return st == "SIM PIN" }); i++ {
	}
	for i := 0; i < 3; i++ {
		c.Do(ctx, modem.Request{Command: `AT+CPIN="0000"`})
	}
	c.Close()
	m, _ := New(fast(Config{PIN: "1111", Sysfs: t.TempDir(), Logf: t.Logf, Find: find}))
	go m.Run(ctx)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(m.State().Problem, "PUK") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(m.State().Problem, "never guessed") || s.PINEntries() != 3 {
		t.Errorf("problem %q, %d entries", m.State().Problem, s.PINEntries())
	}
}

// A link the probe cannot prove climbs the ladder: re-attach, radio
// off/on, reset (the port vanishes and is found again), power cycle; when
// the probe passes again, the outage is reported.
func TestEscalation(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	probe := func(context.Context) error {
		if failing.Load() {
			return errors.New("cloud.example: connection timed out")
		}
		return nil
	}
	relay := &simRelay{}
	r := newRig(t, sim.Config{RegisterAfter: 50 * time.Millisecond}, fast(Config{Probe: probe, Relay: relay}))
	relay.s = r.sim
	st := r.wait("four steps", 60*time.Second, func(st State) bool { return len(st.Escalations) >= 4 })
	var steps []string
	for _, e := range st.Escalations[:4] {
		steps = append(steps, e.Step)
		if e.Reason == "" || e.Error != "" {
			t.Errorf("step %s: reason %q, error %q", e.Step, e.Reason, e.Error)
		}
	}
	if !strings.Contains(st.Escalations[0].Reason, "connection timed out") {
		t.Errorf("first step's reason: %q", st.Escalations[0].Reason)
	}
	if got := strings.Join(steps, ", "); got != "re-attach, radio off/on, modem reset, power cycle" {
		t.Errorf("steps: %s", got)
	}
	if relay.cycles.Load() == 0 || r.sim.Resets() < 2 {
		t.Errorf("%d power cycles, %d resets", relay.cycles.Load(), r.sim.Resets())
	}
	failing.Store(false)
	r.wait("connected again", 20*time.Second, connected)
	time.Sleep(50 * time.Millisecond)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.outages) != 1 || r.outages[0] < time.Second {
		t.Errorf("outages %v", r.outages)
	}
}

// ownedRelay is the modem's relay as modemd reaches it on the appliance:
// hw.Remote asks, over a unix socket, the RelayServer that watchdogd runs,
// whose GPIO relay drives a line of a fake chip. The line is the relay's
// coil and the test its load: when the power comes back, the simulated
// modem boots afresh.
type ownedRelay struct {
	*hw.Remote
	chip  *hwtest.Chip
	relay *hw.GPIORelay
	sim   atomic.Pointer[sim.Sim]
}

func newOwnedRelay(t *testing.T) *ownedRelay {
	t.Helper()
	o := &ownedRelay{chip: &hwtest.Chip{Name: "gpiochip0", Label: "test", LineNames: make([]string, 2)}}
	l, err := hwtest.NewGPIO(o.chip).Request(hw.RelayLine("test", "0", "watchdogd", false))
	if err != nil {
		t.Fatal(err)
	}
	o.relay = &hw.GPIORelay{Device: "modem", Line: &coil{Line: l, load: o}, Caps: hw.Caps{Off: 10 * time.Millisecond, MinInterval: time.Millisecond, MaxPerHour: 100}}
	socket := hwtest.ServeRelays(t, map[string]hw.Cycler{"modem": o.relay})
	o.Remote = &hw.Remote{Device: "modem", From: "modemd", Socket: socket} // as cmd/modemd
	return o
}

// coil is the relay's line; its load is the simulated modem.
type coil struct {
	hw.Line
	load *ownedRelay
	on   bool
}

func (c *coil) SetValue(v int) error {
	if err := c.Line.SetValue(v); err != nil {
		return err
	}
	if c.on && v == 0 {
		if s := c.load.sim.Load(); s != nil {
			s.PowerCycle() // the power is back: the modem boots
		}
	}
	c.on = v == 1
	return nil
}

// A modem that stops answering is power cycled (it cannot be asked to
// reset) through the relay watchdogd owns, and works again.
func TestHungModemPowerCycled(t *testing.T) {
	relay := newOwnedRelay(t)
	r := newRig(t, sim.Config{RegisterAfter: 50 * time.Millisecond}, fast(Config{Relay: relay.Remote}))
	relay.sim.Store(r.sim)
	r.wait("connected", 10*time.Second, connected)
	r.sim.Hang()
	st := r.wait("power cycled", 60*time.Second, func(st State) bool {
		for _, e := range st.Escalations {
			if e.Step == "power cycle" {
				return true
			}
		}
		return false
	})
	t.Logf("escalations: %+v", st.Escalations)
	for _, e := range st.Escalations {
		if e.Step == "power cycle" && e.Error != "" {
			t.Errorf("power cycle: %s", e.Error)
		}
	}
	r.wait("connected again", 20*time.Second, connected)
	// The relay's line went active for the cut and back to rest, at
	// modemd's request.
	ch := relay.chip.Changes(0)
	if len(ch) < 2 || ch[0].Level != 1 || ch[1].Level != 0 || relay.chip.Level(0) != 0 {
		t.Errorf("relay line changes %+v", ch)
	}
	if c := relay.relay.State().Cycles; len(c) == 0 || c[0].From != "modemd" || c[0].Err != "" {
		t.Errorf("relay cycles %+v", c)
	}
}

// Denied registration is reported as what to fix.
func TestRegistrationDenied(t *testing.T) {
	r := newRig(t, sim.Config{Network: sim.Denied, RegisterAfter: 50 * time.Millisecond}, fast(Config{}))
	st := r.wait("denied", 10*time.Second, func(st State) bool { return st.Registration == modem.RegDenied })
	if !strings.Contains(st.Problem, "denies registration") {
		t.Errorf("problem %q", st.Problem)
	}
	r.sim.SetNetwork(sim.Roaming)
	st = r.wait("roaming", 10*time.Second, connected)
	if st.Registration != modem.RegRoaming {
		t.Errorf("registration %v", st.Registration)
	}
}

func TestNoModemThenPlugged(t *testing.T) {
	r := newRig(t, sim.Config{RegisterAfter: 50 * time.Millisecond}, fast(Config{}))
	r.wait("connected", 10*time.Second, connected)
	r.pty.Unplug()
	r.wait("no modem", 10*time.Second, func(st State) bool { return st.Phase == "no modem" })
	start := time.Now()
	r.pty.Plug()
	r.wait("connected again", 10*time.Second, connected)
	t.Logf("plug to connected: %v", time.Since(start))
}

// Messages that arrived while modemd was down, and a full storage, are
// read and emptied.
func TestFullStorageSwept(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, _, find := simModem(t, sim.Config{Storage: 5, RegisterAfter: 50 * time.Millisecond})
	for i := 0; i < 6; i++ {
		s.Receive("+33612345678", "reboot")
	}
	if s.Stored() != 5 || s.Rejected() != 1 {
		t.Fatalf("stored %d rejected %d", s.Stored(), s.Rejected())
	}
	var got atomic.Int32
	m, _ := New(fast(Config{Sysfs: t.TempDir(), Logf: t.Logf, OnMessage: func(modem.Message) { got.Add(1) }, Find: find}))
	go m.Run(ctx)
	if !s.Wait(10*time.Second, func() bool { return s.Stored() == 0 }) {
		t.Fatalf("%d messages left", s.Stored())
	}
	deadline := time.Now().Add(5 * time.Second)
	for got.Load() != 5 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got.Load() != 5 {
		t.Errorf("%d messages handed on", got.Load())
	}
}

// With a kernel that drives ECM, a Quectel modem is switched to it once
// (the setting survives its resets) and data is reported over ECM.
func TestSwitchesToECM(t *testing.T) {
	for _, model := range []sim.Model{sim.EC25, sim.SIM7600} {
		t.Run(model.Name, func(t *testing.T) {
			sys := t.TempDir()
			if err := os.MkdirAll(filepath.Join(sys, "bus", "usb", "drivers", "cdc_ether"), 0o755); err != nil {
				t.Fatal(err)
			}
			r := newRig(t, sim.Config{Model: model, RegisterAfter: 50 * time.Millisecond}, fast(Config{Sysfs: sys}))
			st := r.wait("data over ECM", 20*time.Second, func(st State) bool { return st.Data == "ECM" && st.Connected })
			if len(st.Escalations) == 0 || st.Escalations[0].Step != "switch to ECM" {
				t.Errorf("escalations %+v", st.Escalations)
			}
			usbnet, pid := r.sim.USBNet()
			if (model.Vendor == "quectel" && usbnet != 1) || (model.Vendor == "simcom" && pid != "9018") {
				t.Errorf("usbnet %d, product %s", usbnet, pid)
			}
			if r.sim.Resets() != 1 {
				t.Errorf("%d resets, want exactly one", r.sim.Resets())
			}
		})
	}
}
