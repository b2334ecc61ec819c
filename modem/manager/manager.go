// Package manager keeps a cellular modem working: it finds the modem's AT
// port, opens it, unlocks the SIM (entering its PIN once, never guessing),
// sets the APN, watches registration, operator and signal, brings up data
// over the modem's ECM interface, proves the link with a probe, and when
// the link is down climbs an escalation ladder (re-attach, radio off/on,
// modem reset, power cycle through a relay) with backoff. It receives SMS
// and sends them for its caller. What it is doing, and what a person must
// fix, is in its State.
//
// The manager knows modems, not sites: the appliance passes its settings
// in a Config and gets states, messages and link events back.
package manager

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/lapsebox/lapsebox/hw"
	"github.com/lapsebox/lapsebox/modem"
)

// DataMode says how data reaches the network.
type DataMode string

const (
	// DataAuto uses ECM when the kernel has a USB network driver
	// (cdc_ether, the Raspberry Pi's kernel) and the modem's vendor is
	// known; otherwise the modem only registers (SMS, status) and data
	// takes another interface.
	DataAuto DataMode = ""
	// DataECM switches the modem to ECM (usb0, DHCP from the modem).
	DataECM DataMode = "ecm"
	// DataNone leaves the modem's USB composition alone.
	DataNone DataMode = "none"
)

// Config is what the manager needs to know.
type Config struct {
	// Port is the AT port's device node; "" finds the modem through
	// sysfs.
	Port string
	// Sysfs is where sysfs is mounted ("/sys").
	Sysfs string
	// APN, User and Password set up the data context; an empty APN
	// leaves the modem's own.
	APN, User, Password string
	// PIN is the SIM's PIN; "" if none is configured.
	PIN  string
	Data DataMode
	// MemoryFile keeps refused PINs and power cycles across restarts
	// (on /perm); "" keeps them in memory only.
	MemoryFile string
	// Relay switches the modem's power; nil if it has none.
	Relay hw.Relay
	// Link brings up the IP side of the modem's network interface; nil
	// if nothing needs doing.
	Link DataLink
	// Probe proves that the link reaches the central server; nil:
	// registration is taken as connectivity.
	Probe func(ctx context.Context) error
	// ProbeEvery is the time between probes while the link is up
	// (default 15 minutes); while down, probes come every PollEvery.
	ProbeEvery time.Duration
	// PollEvery is the time between reads of registration and signal
	// (default a minute). URCs report changes meanwhile.
	PollEvery time.Duration
	// Escalation tunes the ladder.
	Escalation Policy
	// OnMessage receives each SMS, already deleted from the SIM, one at a
	// time in arrival order, on a goroutine of its own.
	OnMessage func(modem.Message)
	// OnLinkUp is called when the link comes back after an outage, with
	// the outage's length.
	OnLinkUp func(outage time.Duration)
	// OnChange is called with the new state after every change.
	OnChange func(State)
	// Wake, if set, signals that devices came or went (uevents), so that
	// a missing modem is looked for at once rather than at the next poll.
	Wake <-chan struct{}
	// Logf receives the manager's log lines.
	Logf func(format string, args ...any)
	// RescanEvery is how often a missing modem is looked for without a
	// device event (default 30 s).
	RescanEvery time.Duration
	// ReadTimeout is the serial port's read timeout (default
	// modem.DefaultReadTimeout); tests shorten it.
	ReadTimeout time.Duration
	// Find lists candidate ports; nil uses Port or sysfs (modem.Find).
	// Tests point it at a simulator.
	Find func() ([]modem.Candidate, error)
}

// State is what the manager knows and is doing.
type State struct {
	// Phase is what the manager is doing: "no modem", "starting",
	// "SIM", "registering", "registered", "connected", "escalating".
	Phase string
	// Problem says what a person must fix, or what is being waited for.
	Problem string

	Port     string
	USB      string // the USB device, "2c7c:0125 Quectel EG25-G at USB 1-1.3"
	Vendor   string
	Identity modem.Identity

	SIM             modem.SIMState
	PINAttemptsLeft int // -1 unknown

	Registration modem.RegState
	Tech         string // "LTE"
	Operator     string
	Signal       modem.Signal
	SignalTime   time.Time

	Interface string // the modem's network interface, "usb0"
	IP        string
	Data      string // how data flows, or why not

	Connected      bool
	DownSince      time.Time // zero while connected
	LastProbe      time.Time
	LastProbeError string

	Escalations []Escalation // newest last, the last few

	SMSSent, SMSReceived int
	DroppedURCs          int64
	Updated              time.Time
}

// Escalation is one step taken to bring the link back.
type Escalation struct {
	Time   time.Time
	Step   string
	Reason string
	Error  string // the step itself failed
}

// Manager keeps one modem working.
type Manager struct {
	cfg Config
	mem *memory
	lad *ladder

	inbox chan modem.Message

	mu    sync.Mutex
	st    State
	conn  *modem.Conn // the current connection, for SendSMS
	ready bool        // registered and SMS set up

	noModemLogged bool
}

// New returns a manager; Run starts it.
func New(cfg Config) (*Manager, error) {
	if cfg.Sysfs == "" {
		cfg.Sysfs = "/sys"
	}
	if cfg.ProbeEvery <= 0 {
		cfg.ProbeEvery = 15 * time.Minute
	}
	if cfg.PollEvery <= 0 {
		cfg.PollEvery = time.Minute
	}
	if cfg.RescanEvery <= 0 {
		cfg.RescanEvery = 30 * time.Second
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	mem, err := loadMemory(cfg.MemoryFile)
	if err != nil {
		return nil, err
	}
	m := &Manager{cfg: cfg, mem: mem, inbox: make(chan modem.Message, 32)}
	m.lad = newLadder(cfg.Escalation, cfg.Relay != nil, mem.powerCycles())
	m.st = State{Phase: "starting", PINAttemptsLeft: -1}
	return m, nil
}

// State returns a copy of the current state.
func (m *Manager) State() State {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.st
	st.Escalations = append([]Escalation(nil), st.Escalations...)
	return st
}

// update changes the state and reports it.
func (m *Manager) update(fn func(*State)) {
	m.mu.Lock()
	fn(&m.st)
	m.st.Updated = time.Now()
	st := m.st
	st.Escalations = append([]Escalation(nil), st.Escalations...)
	m.mu.Unlock()
	if m.cfg.OnChange != nil {
		m.cfg.OnChange(st)
	}
}

// ErrNotReady is returned by SendSMS while no registered modem is there.
var ErrNotReady = errors.New("manager: no registered modem to send with")

// SendSMS sends a text message through the modem.
func (m *Manager) SendSMS(ctx context.Context, number, text string) error {
	m.mu.Lock()
	c, ready := m.conn, m.ready
	m.mu.Unlock()
	if c == nil || !ready {
		return ErrNotReady
	}
	if _, err := modem.SendSMS(ctx, c, number, text); err != nil {
		return err
	}
	m.update(func(st *State) { st.SMSSent++ })
	return nil
}

// errReset: the modem is being reset or power cycled; find it again.
var errReset = errors.New("modem restarting")

// Run keeps the modem working until ctx is done.
func (m *Manager) Run(ctx context.Context) error {
	go m.handleMessages(ctx)
	for ctx.Err() == nil {
		c, cand, err := m.open(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			m.noModem(err)
			m.waitForDevices(ctx, m.cfg.RescanEvery)
			continue
		}
		m.noModemLogged = false
		err = m.session(ctx, c, cand)
		m.mu.Lock()
		m.conn, m.ready = nil, false
		m.mu.Unlock()
		c.Close()
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, errReset):
			// Expected: the port vanishes and comes back.
		case errors.Is(err, modem.ErrGone):
			m.cfg.Logf("modem: %s went away: %v", cand.Device, err)
		case err != nil:
			m.cfg.Logf("modem: %v", err)
			m.update(func(st *State) { st.Problem = err.Error() })
		}
		m.update(func(st *State) {
			st.Connected, st.Registration, st.Interface, st.IP = false, modem.RegNone, "", ""
			if st.DownSince.IsZero() {
				st.DownSince = time.Now()
			}
		})
		// Give a resetting modem time to leave before looking again.
		m.waitForDevices(ctx, min(2*time.Second, m.cfg.RescanEvery))
	}
	return nil
}

// noModem reports a missing modem once, not at every look.
func (m *Manager) noModem(err error) {
	if !m.noModemLogged {
		m.cfg.Logf("no modem: %v (waiting for one)", err)
		m.noModemLogged = true
	}
	m.update(func(st *State) {
		*st = State{Phase: "no modem", Problem: err.Error(), PINAttemptsLeft: -1, DownSince: st.DownSince,
			Escalations: st.Escalations, SMSSent: st.SMSSent, SMSReceived: st.SMSReceived,
			LastProbe: st.LastProbe, LastProbeError: st.LastProbeError}
		if st.DownSince.IsZero() {
			st.DownSince = time.Now()
		}
	})
}

// waitForDevices waits for a device event or at most d.
func (m *Manager) waitForDevices(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-m.cfg.Wake:
	}
}

// open finds the AT port and opens it.
func (m *Manager) open(ctx context.Context) (*modem.Conn, modem.Candidate, error) {
	var cands []modem.Candidate
	if m.cfg.Find != nil {
		var err error
		if cands, err = m.cfg.Find(); err != nil {
			return nil, modem.Candidate{}, err
		}
	} else if m.cfg.Port != "" {
		if _, err := os.Stat(m.cfg.Port); err != nil {
			return nil, modem.Candidate{}, fmt.Errorf("the configured port %s is not there", m.cfg.Port)
		}
		c, _ := modem.Describe(m.cfg.Sysfs, m.cfg.Port)
		c.Role = modem.Primary // named by a person: no probing
		cands = []modem.Candidate{c}
	} else {
		var err error
		if cands, err = modem.Find(m.cfg.Sysfs); err != nil {
			return nil, modem.Candidate{}, err
		}
		if len(cands) == 0 && m.bindSIMComECM() {
			cands, _ = modem.Find(m.cfg.Sysfs)
		}
	}
	if len(cands) == 0 {
		return nil, modem.Candidate{}, errors.New("no USB modem plugged in")
	}
	var lastErr error
	for _, cand := range cands {
		if cand.Role == modem.Probe {
			if err := modem.ProbeAT(ctx, cand.Device); err != nil {
				lastErr = err
				continue
			}
		}
		p, err := modem.OpenSerial(cand.Device, m.cfg.ReadTimeout)
		if err != nil {
			lastErr = err
			continue
		}
		c := modem.New(p, modem.Options{Logf: m.cfg.Logf})
		m.update(func(st *State) {
			st.Port, st.USB, st.Phase, st.Problem = cand.Device, "", "starting", ""
			if cand.USB.VendorID != "" {
				st.USB = cand.USB.String()
			}
		})
		m.cfg.Logf("modem: opened %s (%s)", cand.Device, cand.Role)
		return c, cand, nil
	}
	return nil, modem.Candidate{}, fmt.Errorf("no port answers AT: %w", lastErr)
}

// bindSIMComECM gives a SIMCom modem in ECM mode (no ttys: the option
// driver does not know product 9018) its serial ports.
func (m *Manager) bindSIMComECM() bool {
	for _, d := range modem.USBDevices(m.cfg.Sysfs, "1e0e") {
		if d.ProductID != "9018" {
			continue
		}
		if err := modem.BindOption(m.cfg.Sysfs, d); err != nil {
			m.cfg.Logf("%v", err)
			return false
		}
		time.Sleep(time.Second) // the driver binds the interfaces
		return true
	}
	return false
}

// hasUSBNet reports whether the kernel can drive a modem's ECM interface.
func (m *Manager) hasUSBNet() bool {
	_, err := os.Stat(filepath.Join(m.cfg.Sysfs, "bus", "usb", "drivers", "cdc_ether"))
	return err == nil
}
