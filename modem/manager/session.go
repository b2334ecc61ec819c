package manager

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/lapsebox/lapsebox/modem"
)

// session drives one opened port until it goes away, the modem resets or
// ctx ends.
type session struct {
	m      *Manager
	c      *modem.Conn
	cand   modem.Candidate
	vendor modem.Vendor
	iccid  string
	// timeouts counts consecutive commands the modem did not answer.
	timeouts int
}

// unansweredPolls is how many polls in a row the modem may leave
// unanswered before its port counts as not answering.
const unansweredPolls = 2

func (m *Manager) session(ctx context.Context, c *modem.Conn, cand modem.Candidate) error {
	s := &session{m: m, c: c, cand: cand}
	if err := s.start(ctx); err != nil {
		return err
	}
	m.mu.Lock()
	m.conn = c
	m.mu.Unlock()
	if err := s.unlockSIM(ctx); err != nil {
		return err
	}
	if err := s.setup(ctx); err != nil {
		return err
	}
	return s.watch(ctx)
}

// start waits for the modem to answer (it may be booting), initialises it
// and reads who it is.
func (s *session) start(ctx context.Context) error {
	err := modem.WaitReady(ctx, s.c, s.m.lad.p.BootTime)
	if errors.Is(err, modem.ErrGone) || ctx.Err() != nil {
		return err
	}
	if err != nil {
		// Booting modems answer within a minute; this one does not.
		return s.unresponsive(ctx, fmt.Errorf("%s does not answer AT: %w", s.cand.Device, err))
	}
	if err := modem.Init(ctx, s.c); err != nil {
		return err
	}
	// Boot URCs (RDY, +CPIN, +CFUN) describe the start being handled
	// here; messages they announce are swept from the SIM later.
	for len(s.c.URCs()) > 0 {
		<-s.c.URCs()
	}
	id, err := modem.ReadIdentity(ctx, s.c, modem.VendorOf(s.cand.USB.VendorID, ""))
	if err != nil {
		return err
	}
	s.vendor = modem.VendorOf(s.cand.USB.VendorID, id.Manufacturer)
	if s.vendor != modem.VendorOf(s.cand.USB.VendorID, "") && id.ICCID == "" {
		id.ICCID, _ = modem.ReadICCID(ctx, s.c, s.vendor)
	}
	s.iccid = id.ICCID
	s.m.cfg.Logf("modem: %s %s, firmware %s, IMEI %s", id.Manufacturer, id.Model, id.Revision, id.IMEI)
	s.m.update(func(st *State) { st.Identity, st.Vendor, st.Phase = id, s.vendor.String(), "SIM" })
	return nil
}

// unresponsive handles a port that stopped answering: a reset cannot be
// asked of it, so the power is cut if there is a relay; otherwise it is
// reopened after a wait.
func (s *session) unresponsive(ctx context.Context, cause error) error {
	s.m.update(func(st *State) {
		st.Problem, st.Connected = cause.Error(), false
		if st.DownSince.IsZero() {
			st.DownSince = time.Now()
		}
	})
	// The ladder's pace holds here too: no reset loop.
	if err := s.sleep(ctx, time.Until(s.m.lad.dueAt(s.m.State().DownSince))); err != nil {
		return err
	}
	return s.escalate(ctx, s.m.lad.step(time.Now(), true), cause.Error())
}

// unlockSIM brings the SIM to READY: it waits while the SIM starts, enters
// the configured PIN once, and never a PIN the SIM refused before, nor a
// PUK. What blocks it is the state's Problem.
func (s *session) unlockSIM(ctx context.Context) error {
	wait := time.Second
	for {
		st, err := modem.ReadSIM(ctx, s.c)
		if err != nil {
			return err
		}
		s.m.update(func(x *State) { x.SIM = st })
		problem := ""
		switch st {
		case modem.SIMReady:
			if _, pending := s.m.mem.refused(s.iccid, s.m.cfg.PIN); pending && s.m.cfg.PIN != "" {
				// An attempt whose answer was lost went through after all.
				s.m.mem.accepted()
			}
			imsi, _ := modem.ReadIMSI(ctx, s.c)
			s.m.update(func(x *State) { x.Identity.IMSI, x.Problem, x.Phase = imsi, "", "registering" })
			return nil
		case modem.SIMBusy:
			problem = "the SIM is starting"
		case modem.SIMAbsent:
			problem = "no SIM card in the modem"
			wait = 5 * time.Minute
		case modem.SIMPUK:
			problem = "the SIM is locked and needs its PUK: it is never guessed. Unlock it by hand: lapsebox modem PORT at 'AT+CPIN=\"PUK\",\"NEWPIN\"'"
			wait = time.Hour
		case modem.SIMPIN:
			var entered bool
			if entered, problem, err = s.enterPIN(ctx); err != nil {
				return err
			}
			if entered {
				wait = time.Second
				continue
			}
			wait = time.Hour // until the configuration changes (a restart)
		case modem.SIMFailure:
			problem = "the SIM fails (damaged, or badly seated)"
			wait = 5 * time.Minute
		default:
			problem = fmt.Sprintf("the SIM asks for %s, which lapsebox does not enter", st)
			wait = time.Hour
		}
		s.m.update(func(x *State) { x.Problem = problem })
		if err := s.sleep(ctx, wait); err != nil {
			return err
		}
		if st == modem.SIMBusy {
			wait = min(2*wait, 30*time.Second)
		}
	}
}

// enterPIN enters the configured PIN if it is safe to: it was never
// refused by this SIM, and more than one attempt is left.
func (s *session) enterPIN(ctx context.Context) (entered bool, problem string, err error) {
	pin := s.m.cfg.PIN
	if pin == "" {
		return false, "the SIM asks for a PIN and the site configuration gives none: set modem.pin_secret", nil
	}
	if when, ok := s.m.mem.refused(s.iccid, pin); ok {
		return false, fmt.Sprintf("the SIM refused the configured PIN on %s; it is not tried again: correct the PIN in the site configuration",
			when.UTC().Format("2006-01-02 15:04 MST")), nil
	}
	left, _, known := modem.PINRetries(ctx, s.c, s.vendor)
	if known {
		s.m.update(func(x *State) { x.PINAttemptsLeft = left })
		if left <= 1 {
			return false, fmt.Sprintf("the SIM has %d PIN attempt left: lapsebox does not risk locking it; enter the PIN by hand", left), nil
		}
	}
	if err := s.m.mem.attempt(s.iccid, pin, time.Now()); err != nil {
		return false, "", err // not remembered: not tried
	}
	err = modem.EnterPIN(ctx, s.c, pin)
	switch {
	case err == nil:
		s.m.cfg.Logf("modem: SIM PIN accepted")
		return true, "", s.m.mem.accepted()
	case errors.Is(err, modem.ErrWrongPIN):
		s.m.cfg.Logf("modem: the SIM refused the PIN; it will not be tried again")
		if err := s.m.mem.refuse(s.iccid, pin, time.Now()); err != nil {
			return false, "", err
		}
		return false, "the SIM refused the configured PIN; it is not tried again: correct the PIN in the site configuration", nil
	}
	// No answer: the attempt stays recorded, and counts as a refusal.
	return false, "", err
}

// setup configures registration URCs, the operator format, the APN, SMS
// and the data path.
func (s *session) setup(ctx context.Context) error {
	c := s.c
	if err := modem.EnableRegistrationURCs(ctx, c); err != nil {
		return err
	}
	modem.SetOperatorFormat(ctx, c)
	if s.m.cfg.APN != "" {
		if err := modem.SetAPN(ctx, c, s.vendor, s.m.cfg.APN, s.m.cfg.User, s.m.cfg.Password); err != nil {
			s.m.cfg.Logf("modem: setting the APN: %v", err)
			s.m.update(func(st *State) { st.Problem = "the modem refused the APN: " + err.Error() })
		}
	}
	if err := modem.SMSInit(ctx, c); err != nil {
		s.m.cfg.Logf("modem: %v", err)
	}
	return s.dataMode(ctx)
}

// watch follows registration, signal and URCs, probes the link, takes
// messages in and escalates while the link is down.
func (s *session) watch(ctx context.Context) error {
	m := s.m
	poll := time.NewTimer(0)
	defer poll.Stop()
	escalate := time.NewTimer(time.Hour)
	defer escalate.Stop()
	probeDone := make(chan error, 1)
	probing := false
	var nextProbe time.Time
	// A failed probe is tried again soon, then less and less often (the
	// network may just be coming up): 10 s, 20 s, … up to PollEvery.
	retry := 10 * time.Second
	s.sweepSMS(ctx)

	for {
		st := m.State()
		// The escalation timer follows the link's state.
		if !st.Connected && !st.DownSince.IsZero() {
			escalate.Reset(max(time.Until(m.lad.dueAt(st.DownSince)), 0))
		} else {
			escalate.Stop()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.c.Done():
			return s.c.Err()
		case u := <-s.c.URCs():
			if err := s.urc(ctx, u); err != nil {
				return err
			}
		case <-poll.C:
			if err := s.poll(ctx); err != nil {
				return err
			}
			st = m.State()
			if !probing && st.Registration.Registered() && !time.Now().Before(nextProbe) {
				probing = true
				go func() { probeDone <- s.probe(ctx) }()
			}
			poll.Reset(m.cfg.PollEvery)
		case err := <-probeDone:
			probing = false
			s.probed(err)
			if err == nil {
				nextProbe, retry = time.Now().Add(m.cfg.ProbeEvery), 10*time.Second
			} else {
				nextProbe = time.Time{}
				poll.Reset(min(retry, m.cfg.PollEvery))
				retry *= 2
			}
		case <-escalate.C:
			st := m.State()
			if st.Connected || st.DownSince.IsZero() {
				continue
			}
			if err := s.escalate(ctx, m.lad.step(time.Now(), false), s.downReason(st)); err != nil {
				return err
			}
			poll.Reset(0)
		}
	}
}

// downReason says why the link counts as down.
func (s *session) downReason(st State) string {
	switch {
	case st.Registration == modem.RegDenied:
		return "the network denies registration (is the SIM's subscription active?)"
	case !st.Registration.Registered():
		return fmt.Sprintf("not registered (%s) since %s", st.Registration, st.DownSince.UTC().Format(time.RFC3339))
	case st.LastProbeError != "":
		return "the central server cannot be reached: " + st.LastProbeError
	}
	return "registered, the central server not reached yet"
}

// poll reads registration, operator, signal and the data interface.
func (s *session) poll(ctx context.Context) error {
	reg, err := modem.ReadRegistration(ctx, s.c)
	if err != nil {
		return s.failed(ctx, err)
	}
	s.timeouts = 0
	op, act, _ := modem.ReadOperator(ctx, s.c)
	sig, _ := modem.ReadSignal(ctx, s.c, s.vendor)
	if act < 0 {
		act = reg.Tech
	}
	s.m.update(func(st *State) {
		st.Registration, st.Operator, st.Signal, st.SignalTime = reg.State, op, sig, time.Now()
		st.Tech = modem.TechName(act)
		st.DroppedURCs = s.c.DroppedURCs()
		s.setPhase(st)
	})
	s.dataUp(ctx, reg.State.Registered())
	if used, total, err := modem.SMSStorage(ctx, s.c); err == nil && used > 0 {
		s.m.cfg.Logf("modem: %d of %d message slots used: reading them", used, total)
		s.sweepSMS(ctx)
	}
	s.m.mu.Lock()
	s.m.ready = reg.State.Registered()
	s.m.mu.Unlock()
	return nil
}

// setPhase derives the phase and the link's state from the registration
// and the last probe; st is being updated.
func (s *session) setPhase(st *State) {
	wasUp := st.Connected
	registered := st.Registration.Registered()
	probeOK := s.m.cfg.Probe == nil || (!st.LastProbe.IsZero() && st.LastProbeError == "")
	st.Connected = registered && probeOK
	switch {
	case st.Connected:
		st.Phase = "connected"
		if !wasUp && !st.DownSince.IsZero() {
			outage := time.Since(st.DownSince)
			s.m.cfg.Logf("modem: link up after %s down", outage.Round(time.Second))
			s.m.lad.recovered()
			if f := s.m.cfg.OnLinkUp; f != nil {
				go f(outage)
			}
		}
		st.DownSince = time.Time{}
		if st.Problem != "" && !strings.HasPrefix(st.Problem, "the modem refused the APN") {
			st.Problem = ""
		}
	case registered:
		st.Phase = "registered"
	case st.Registration == modem.RegDenied:
		st.Phase, st.Problem = "registering", "the network denies registration: check that the SIM's subscription is active"
	default:
		st.Phase = "registering"
	}
	if !st.Connected && st.DownSince.IsZero() {
		st.DownSince = time.Now()
	}
}

// probe runs the configured connectivity probe.
func (s *session) probe(ctx context.Context) error {
	if s.m.cfg.Probe == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return s.m.cfg.Probe(ctx)
}

func (s *session) probed(err error) {
	s.m.update(func(st *State) {
		st.LastProbe, st.LastProbeError = time.Now(), ""
		if err != nil {
			st.LastProbeError = err.Error()
		}
		s.setPhase(st)
	})
}

// failed handles a command error while watching: the port went away, or
// stopped answering for long enough to escalate.
func (s *session) failed(ctx context.Context, err error) error {
	if errors.Is(err, modem.ErrGone) || errors.Is(err, modem.ErrClosed) || ctx.Err() != nil {
		return err
	}
	if !errors.Is(err, modem.ErrTimeout) {
		s.m.cfg.Logf("modem: %v", err)
		return nil
	}
	s.timeouts++
	if s.timeouts < unansweredPolls {
		return nil
	}
	return s.unresponsive(ctx, fmt.Errorf("the modem stopped answering: %w", err))
}

// urc reacts to an unsolicited result code.
func (s *session) urc(ctx context.Context, u modem.URC) error {
	switch u.Name {
	case "+CREG", "+CGREG", "+CEREG":
		// Poll for the whole picture: one URC tells only one domain.
		reg, err := modem.ParseRegistration(u.Args, false)
		if err == nil {
			s.m.cfg.Logf("modem: %s %s", strings.TrimPrefix(u.Name, "+"), reg.State)
		}
		return s.poll(ctx)
	case "+CMTI":
		f := modem.Fields(u.Args)
		if len(f) == 2 {
			if i, err := strconv.Atoi(f[1]); err == nil && i >= 0 {
				s.takeSMS(ctx, i)
			}
		}
	case "+CMT":
		s.deliver(modem.Message{Index: -1, From: firstField(u.Args), Text: u.Body, Time: time.Now()})
	case "RDY", "+CFUN":
		if u.Name == "RDY" || strings.TrimSpace(u.Args) == "0" {
			// The modem restarted by itself: echo is back, settings gone.
			s.m.cfg.Logf("modem: restarted by itself (%s)", u.Line)
			return errReset
		}
	case "+CPIN":
		if st := modem.SIMState(strings.ToUpper(u.Args)); st != modem.SIMReady {
			s.m.cfg.Logf("modem: the SIM says %s", st)
			return fmt.Errorf("%w: the SIM changed state (%s)", errReset, st)
		}
	case "POWERED DOWN":
		return errReset
	}
	return nil
}

func firstField(args string) string {
	if f := modem.Fields(args); len(f) > 0 {
		return f[0]
	}
	return ""
}

// escalate takes one step of the ladder, records it, and returns
// errReset when the modem is going away.
func (s *session) escalate(ctx context.Context, step Step, reason string) error {
	m := s.m
	m.cfg.Logf("modem: link down (%s): %s", reason, step)
	e := Escalation{Time: time.Now(), Step: step.String(), Reason: reason}
	var err error
	var leaving bool
	switch step {
	case Reattach:
		err = modem.Reattach(ctx, s.c)
		if m.cfg.Link != nil && s.m.State().Interface != "" {
			m.cfg.Link.Restart(s.m.State().Interface)
		}
	case RadioCycle:
		if err = modem.RadioOff(ctx, s.c); err == nil {
			time.Sleep(m.lad.p.RadioOff)
			err = modem.RadioOn(ctx, s.c)
		}
	case Reset:
		err = modem.Reset(ctx, s.c)
		leaving = true
	case PowerCycle:
		m.mem.setPowerCycles(m.lad.powerCycles())
		err = m.cfg.Relay.PowerCycle(ctx, m.lad.p.PowerOff)
		leaving = err == nil
	}
	if err != nil {
		e.Error = err.Error()
		m.cfg.Logf("modem: %s failed: %v", step, err)
	}
	m.update(func(st *State) {
		st.Phase = "escalating"
		st.Escalations = append(st.Escalations, e)
		if n := len(st.Escalations); n > 10 {
			st.Escalations = st.Escalations[n-10:]
		}
	})
	if leaving || (step == Reset && errors.Is(err, modem.ErrTimeout)) {
		return fmt.Errorf("%w: %s", errReset, step)
	}
	return nil
}

// sleep waits d, or until the port goes away or ctx ends.
func (s *session) sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.c.Done():
			return s.c.Err()
		case <-t.C:
			return nil
		case u := <-s.c.URCs():
			// A SIM that becomes ready, or is inserted, says so.
			if u.Name == "+CPIN" || u.Name == "+QUSIM" || u.Name == "+QIND" || u.Name == "SMS DONE" {
				return nil
			}
			if u.Name == "RDY" {
				return errReset
			}
		}
	}
}
