package sim

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// Registration is what the network answers the modem.
type Registration int

// Registration states, numbered as +CREG/+CGREG/+CEREG report them.
const (
	NotRegistered Registration = 0
	Home          Registration = 1
	Searching     Registration = 2
	Denied        Registration = 3
	Roaming       Registration = 5
)

// Config describes the simulated modem and its SIM.
type Config struct {
	Model Model
	IMEI  string
	IMSI  string
	ICCID string
	// NoSIM simulates an empty SIM slot.
	NoSIM bool
	// PIN, if set, must be entered before the SIM is usable; PUK
	// unblocks it after three wrong PINs.
	PIN, PUK string
	// SIMBusy is how long the SIM answers "SIM busy" after power-on and
	// after the PIN is entered.
	SIMBusy time.Duration
	// BootDelay is the time from power-on to "RDY".
	BootDelay time.Duration
	// RegisterAfter is how long registration takes once the radio is on
	// and the SIM ready; Network is the outcome (Home by default).
	RegisterAfter time.Duration
	Network       Registration
	// Operator is the network's name, OperatorID its MCC and MNC.
	Operator, OperatorID string
	// RSSI is the CSQ value (0–31; -113 + 2·RSSI dBm), RSRP in dBm,
	// RSRQ in dB, SINR in dB.
	RSSI, RSRP, RSRQ, SINR int
	// Storage is the number of SMS slots on the SIM (default 20).
	Storage int
	// ResetTime is how long the port stays away on AT+CFUN=1,1 or a
	// power cycle (default 200 ms).
	ResetTime time.Duration
}

func (c *Config) defaults() {
	if c.Model.Vendor == "" {
		c.Model = EC25
	}
	if c.IMEI == "" {
		c.IMEI = "867698041234567"
	}
	if c.IMSI == "" {
		c.IMSI = "208011234567890"
	}
	if c.ICCID == "" {
		c.ICCID = "89330123456789012345"
	}
	if c.PUK == "" {
		c.PUK = "12345678"
	}
	if c.Network == 0 {
		c.Network = Home
	}
	if c.Operator == "" {
		c.Operator, c.OperatorID = "Orange F", "20801"
	}
	if c.RSSI == 0 {
		c.RSSI, c.RSRP, c.RSRQ, c.SINR = 21, -95, -10, 12
	}
	if c.Storage == 0 {
		c.Storage = 20
	}
	if c.ResetTime == 0 {
		c.ResetTime = 200 * time.Millisecond
	}
}

// SMS is a short message the modem sent or received.
type SMS struct {
	Number string
	Text   string
	Time   time.Time
}

// Sim is a simulated modem. Its methods are safe for concurrent use; the
// test drives the network side (registration, signal, incoming messages)
// and injects faults while a client talks to the AT port.
type Sim struct {
	cfg Config

	mu     sync.Mutex
	notify chan struct{} // closed and replaced at every change, for Wait

	// AT interface state, reset at every boot.
	echo, verbose bool
	cmee          int
	cfun          int
	regN          [3]int // +CREG, +CGREG, +CEREG URC modes
	copsFormat    int
	cmgf          int
	csdh          int
	cnmi          [2]int // <mode>, <mt>
	apn           string
	booted        bool

	// SIM.
	sim       simState
	pinLeft   int
	pukLeft   int
	busyUntil time.Time
	pin       string

	// Network.
	reg      Registration
	regTimer *time.Timer
	attached bool
	network  Registration
	rssi     int

	// USB composition (applies after a reset).
	usbnet, usbnetNext int
	pid, pidNext       string

	// SMS.
	store    []*stored
	smsTo    string
	inBody   bool // after the prompt: bytes are the message until Ctrl-Z
	mr       int
	sent     []SMS
	rejected int

	// Faults and transport.
	hung    bool
	split   bool
	glue    bool
	out     chan string // the current connection's writer; nil while unplugged
	lastOut chan string // the last connection's, to power on again after a reset
	pending []string    // URCs held back to be glued to the next answer
	onReset func()

	// Counters for tests.
	pinEntries int
	resets     int
	commands   []string
	gen        int // power-on generation: timers of an earlier one do nothing
}

type simState int

const (
	simReady simState = iota
	simPIN
	simPUK
	simBlocked
	simAbsent
)

type stored struct {
	from   string
	text   string
	time   time.Time
	unread bool
}

// New returns a modem, switched off: a transport powers it on.
func New(cfg Config) *Sim {
	cfg.defaults()
	s := &Sim{cfg: cfg, pinLeft: 3, pukLeft: 10, network: cfg.Network, rssi: cfg.RSSI,
		pin: cfg.PIN, usbnet: 0, usbnetNext: 0, pid: cfg.Model.ProductID, pidNext: cfg.Model.ProductID}
	s.notify = make(chan struct{})
	s.store = make([]*stored, cfg.Storage)
	return s
}

// Model returns the simulated model.
func (s *Sim) Model() Model { return s.cfg.Model }

// powerOn resets the AT interface to the state a modem boots in and
// announces itself. Called by transports with the connection's writer.
func (s *Sim) powerOn(out chan string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.out, s.lastOut = out, out
	s.gen++
	gen := s.gen
	s.echo, s.verbose, s.cmee, s.cfun = true, true, 0, 0
	s.regN = [3]int{}
	s.copsFormat, s.cmgf, s.csdh, s.cnmi = 0, 0, 0, [2]int{}
	s.booted, s.hung, s.attached = false, false, false
	s.reg = NotRegistered
	s.usbnet, s.pid = s.usbnetNext, s.pidNext
	switch {
	case s.cfg.NoSIM:
		s.sim = simAbsent
	case s.sim == simPUK || s.sim == simBlocked:
		// A locked SIM stays locked across power cycles.
	case s.pin != "":
		s.sim = simPIN
	default:
		s.sim = simReady
	}
	s.busyUntil = time.Now().Add(s.cfg.BootDelay + s.cfg.SIMBusy)
	s.notifyChange()
	time.AfterFunc(s.cfg.BootDelay, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.gen != gen {
			return // reset again meanwhile
		}
		s.booted, s.cfun = true, 1
		s.urc("RDY")
		s.urc("+CFUN: 1")
		switch s.sim {
		case simAbsent:
			s.urc("+CPIN: NOT INSERTED")
		case simPIN:
			s.urc("+CPIN: SIM PIN")
		case simPUK, simBlocked:
			s.urc("+CPIN: SIM PUK")
		}
		if s.cfg.Model.Vendor == "quectel" {
			s.urc("+QUSIM: 1")
		}
		if s.sim == simReady {
			s.simReadyLater()
		}
		s.notifyChange()
	})
}

// repower powers the modem on again on the connection it had.
func (s *Sim) repower() {
	s.mu.Lock()
	out := s.lastOut
	s.mu.Unlock()
	if out != nil {
		s.powerOn(out)
	}
}

// powerOff drops the connection's writer (the port is gone).
func (s *Sim) powerOff() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.out = nil
	s.gen++
	s.reg = NotRegistered
	if s.regTimer != nil {
		s.regTimer.Stop()
	}
	s.notifyChange()
}

// simReadyLater announces the SIM once it is done being busy, and starts
// registering. s.mu is held.
func (s *Sim) simReadyLater() {
	gen := s.gen
	time.AfterFunc(time.Until(s.busyUntil), func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.gen != gen || s.sim != simReady {
			return
		}
		s.urc("+CPIN: READY")
		if s.cfg.Model.Vendor == "quectel" {
			s.urc("+QIND: SMS DONE")
			s.urc("+QIND: PB DONE")
		} else {
			s.urc("SMS DONE")
			s.urc("PB DONE")
		}
		s.startRegistering()
	})
}

// startRegistering searches, then registers after RegisterAfter. s.mu is held.
func (s *Sim) startRegistering() {
	if s.cfun != 1 || s.sim != simReady || s.out == nil || time.Now().Before(s.busyUntil) {
		return
	}
	if s.regTimer != nil {
		s.regTimer.Stop()
	}
	s.setReg(Searching)
	gen := s.gen
	s.regTimer = time.AfterFunc(s.cfg.RegisterAfter, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.gen != gen || s.cfun != 1 {
			return
		}
		s.attached = s.network == Home || s.network == Roaming
		s.setReg(s.network)
	})
}

// setReg changes the registration state and sends the URCs the client
// asked for. s.mu is held.
func (s *Sim) setReg(r Registration) {
	if s.reg == r {
		return
	}
	s.reg = r
	for i, name := range []string{"+CREG", "+CGREG", "+CEREG"} {
		switch s.regN[i] {
		case 1:
			s.urc(fmt.Sprintf("%s: %d", name, r))
		case 2:
			if r == Home || r == Roaming {
				s.urc(fmt.Sprintf(`%s: %d,"00C3","0001A2B3",7`, name, r))
			} else {
				s.urc(fmt.Sprintf("%s: %d", name, r))
			}
		}
	}
	s.notifyChange()
}

// urc sends an unsolicited line, framed for the current mode. s.mu is held.
func (s *Sim) urc(line string) {
	if s.out == nil {
		return
	}
	if s.glue {
		s.pending = append(s.pending, "\r\n"+line+"\r\n")
		return
	}
	s.send("\r\n" + line + "\r\n")
}

// send queues bytes for the writer; s.mu is held. The queue is large; a
// client that stops reading for that long loses output, like a real
// modem's buffer.
func (s *Sim) send(b string) {
	if s.out == nil {
		return
	}
	select {
	case s.out <- b:
	default:
	}
}

// --- Controls for tests ---

// SetNetwork changes what the network answers: registration comes (or
// goes) after RegisterAfter if the radio is on.
func (s *Sim) SetNetwork(r Registration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.network = r
	if r == NotRegistered || r == Searching || r == Denied {
		s.attached = false
		s.setReg(r)
		return
	}
	s.startRegistering()
}

// SetSignal changes the signal (CSQ scale).
func (s *Sim) SetSignal(rssi int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rssi = rssi
}

// Hang makes the modem stop answering commands, as modems do after days
// of uptime, until it is reset by power (a power cycle, not a command).
func (s *Sim) Hang() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hung = true
}

// SplitWrites makes every answer arrive in pieces of a few bytes.
func (s *Sim) SplitWrites(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.split = on
}

// GlueWrites makes URCs wait and arrive glued to the next answer.
func (s *Sim) GlueWrites(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.glue = on
}

// Garbage sends raw bytes (line noise, a truncated line).
func (s *Sim) Garbage(b string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.send(b)
}

// Storm sends n URCs at once.
func (s *Sim) Storm(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "\r\n+CEREG: %d,\"00C3\",\"0001A2B3\",7\r\n\r\n+QIND: \"csq\",%d,99\r\n", s.reg, i%32)
	}
	s.send(b.String())
}

// PowerCycle cuts the modem's power: its port vanishes and comes back
// after ResetTime, freshly booted (what a relay does).
func (s *Sim) PowerCycle() {
	s.mu.Lock()
	f := s.onReset
	s.reenumerate()
	s.mu.Unlock()
	if f != nil {
		go f()
	}
}

// Receive delivers a message from the network: stored on the SIM and
// announced with +CMTI, or rejected when the storage is full.
func (s *Sim) Receive(from, text string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, m := range s.store {
		if m == nil {
			s.store[i] = &stored{from: from, text: text, time: time.Now(), unread: true}
			switch s.cnmi[1] {
			case 1:
				s.urc(fmt.Sprintf(`+CMTI: "SM",%d`, i))
			case 2:
				s.store[i] = nil
				s.urc(s.header("+CMT", &stored{from: from, text: text, time: time.Now()}) + "\r\n" + text)
			}
			s.notifyChange()
			return true
		}
	}
	s.rejected++
	return false
}

// Sent returns the messages the modem sent.
func (s *Sim) Sent() []SMS {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SMS(nil), s.sent...)
}

// Stored returns the number of messages on the SIM.
func (s *Sim) Stored() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, m := range s.store {
		if m != nil {
			n++
		}
	}
	return n
}

// Rejected counts incoming messages refused because the storage was full.
func (s *Sim) Rejected() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rejected
}

// SIMState describes the SIM: "READY", "SIM PIN", "SIM PUK",
// "BLOCKED" or "NOT INSERTED"; and the PIN attempts left.
func (s *Sim) SIMState() (string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return [...]string{"READY", "SIM PIN", "SIM PUK", "BLOCKED", "NOT INSERTED"}[s.sim], s.pinLeft
}

// PINEntries counts AT+CPIN="…" commands received.
func (s *Sim) PINEntries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pinEntries
}

// Resets counts resets (AT+CFUN=1,1) and power cycles.
func (s *Sim) Resets() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.resets
}

// Commands returns the commands received so far, secrets included.
func (s *Sim) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.commands...)
}

// USBNet returns the Quectel usbnet mode in effect and the SIMCom USB
// product ID in effect.
func (s *Sim) USBNet() (int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.usbnet, s.pid
}

// reenumerate counts a reset and gives the modem the USB identity it
// comes back with (AT+QCFG="usbnet", AT+CUSBPIDSWITCH): a host sees the
// new product ID as soon as the port is back, before anything opens it.
// s.mu is held.
func (s *Sim) reenumerate() {
	s.resets++
	s.usbnet, s.pid = s.usbnetNext, s.pidNext
	s.notifyChange()
}

// notifyChange wakes Wait; s.mu is held.
func (s *Sim) notifyChange() {
	close(s.notify)
	s.notify = make(chan struct{})
}

// Wait blocks until cond holds or timeout passes, checking cond at every
// change of the simulator's state; it reports whether cond held. cond
// may call the simulator's methods.
func (s *Sim) Wait(timeout time.Duration, cond func() bool) bool {
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		ch := s.notify
		s.mu.Unlock()
		if cond() {
			return true
		}
		select {
		case <-ch:
		case <-deadline:
			return cond()
		}
	}
}

// Registration returns the registration state.
func (s *Sim) Registration() Registration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reg
}
