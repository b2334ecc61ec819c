package sim

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// reply is the answer to one command: information lines and the final
// result ("OK", "ERROR", "+CME ERROR: …"); final "" sends nothing (the
// SMS prompt, a hung modem).
type reply struct {
	lines []string
	final string
}

func ok(lines ...string) reply { return reply{lines: lines, final: "OK"} }

var errorReply = reply{final: "ERROR"}

var cmeTexts = map[int]string{
	3: "operation not allowed", 4: "operation not supported", 10: "SIM not inserted",
	11: "SIM PIN required", 12: "SIM PUK required", 13: "SIM failure", 14: "SIM busy",
	16: "incorrect password", 30: "no network service", 100: "unknown",
}

// cme formats a +CME ERROR for the AT+CMEE mode. s.mu is held.
func (s *Sim) cme(code int) reply {
	switch s.cmee {
	case 1:
		return reply{final: fmt.Sprintf("+CME ERROR: %d", code)}
	case 2:
		return reply{final: "+CME ERROR: " + cmeTexts[code]}
	}
	return errorReply
}

func (s *Sim) cms(code int) reply {
	if s.cmee == 0 {
		return errorReply
	}
	return reply{final: fmt.Sprintf("+CMS ERROR: %d", code)}
}

// respond writes a reply with URCs held back glued into it. s.mu is held.
func (s *Sim) respond(r reply) {
	if s.hung || (r.final == "" && len(r.lines) == 0) {
		return
	}
	var b strings.Builder
	if s.verbose {
		if len(r.lines) > 0 {
			b.WriteString("\r\n" + strings.Join(r.lines, "\r\n") + "\r\n")
		}
		for _, u := range s.pending { // URCs in the middle of the answer
			b.WriteString(u)
		}
		if r.final != "" {
			b.WriteString("\r\n" + r.final + "\r\n")
		}
	} else {
		for _, l := range r.lines {
			b.WriteString(l + "\r\n")
		}
		for _, u := range s.pending {
			b.WriteString(u)
		}
		switch r.final {
		case "OK":
			b.WriteString("0\r")
		case "ERROR":
			b.WriteString("4\r")
		case "":
		default:
			b.WriteString(r.final + "\r\n")
		}
	}
	s.pending = nil
	s.send(b.String())
}

// command runs one command line (without its CR). s.mu is held.
func (s *Sim) command(line string) {
	s.commands = append(s.commands, line)
	if s.echo && !s.hung {
		s.send(line + "\r")
	}
	if s.hung {
		return
	}
	if !s.booted {
		return // a booting modem ignores its port
	}
	up := strings.ToUpper(line)
	if !strings.HasPrefix(up, "AT") {
		s.respond(errorReply)
		return
	}
	s.respond(s.dispatch(line[2:], up[2:]))
}

// dispatch answers the part after "AT"; up is it in upper case.
func (s *Sim) dispatch(cmd, up string) reply {
	switch up {
	case "", "&F", "Z", "Q0", "X4", "&C1", "&D2", "&W":
		return ok()
	case "E0", "E":
		s.echo = false
		return ok()
	case "E1":
		s.echo = true
		return ok()
	case "V0":
		s.verbose = false
		return ok()
	case "V1", "V":
		s.verbose = true
		return ok()
	case "I":
		return ok(s.cfg.Model.Manufacturer, s.cfg.Model.Name, "Revision: "+s.cfg.Model.Revision)
	case "+CGMI", "+GMI":
		return ok(s.cfg.Model.Manufacturer)
	case "+CGMM", "+GMM":
		return ok(s.cfg.Model.Name)
	case "+CGMR", "+GMR":
		if s.cfg.Model.Vendor == "simcom" {
			return ok("+CGMR: " + s.cfg.Model.Revision)
		}
		return ok(s.cfg.Model.Revision)
	case "+CGSN", "+GSN":
		return ok(s.cfg.IMEI)
	}
	name, op, args := splitCommand(cmd, up)
	switch name {
	case "+CMEE":
		return s.setInt(op, args, &s.cmee, "+CMEE", 2)
	case "+CIMI":
		if r, bad := s.needSIM(); bad {
			return r
		}
		return ok(s.cfg.IMSI)
	case "+QCCID", "+CICCID", "+CCID":
		if s.sim == simAbsent {
			return s.cme(10)
		}
		switch name {
		case "+QCCID":
			if s.cfg.Model.Vendor != "quectel" {
				return errorReply
			}
			return ok("+QCCID: " + s.cfg.ICCID)
		case "+CICCID":
			if s.cfg.Model.Vendor != "simcom" {
				return errorReply
			}
			return ok("+ICCID: " + s.cfg.ICCID)
		}
		return ok("+CCID: " + s.cfg.ICCID)
	case "+CPIN":
		return s.cpin(op, args)
	case "+QPINC":
		if s.cfg.Model.Vendor != "quectel" {
			return errorReply
		}
		if s.sim == simAbsent {
			return s.cme(10)
		}
		return ok(fmt.Sprintf(`+QPINC: "SC",%d,%d`, s.pinLeft, s.pukLeft), `+QPINC: "P2",3,10`)
	case "+SPIC":
		if s.cfg.Model.Vendor != "simcom" {
			return errorReply
		}
		if s.sim == simAbsent {
			return s.cme(10)
		}
		return ok(fmt.Sprintf("+SPIC: %d,%d,3,10", s.pinLeft, s.pukLeft))
	case "+CFUN":
		return s.cfunCmd(op, args)
	case "+CREG", "+CGREG", "+CEREG":
		return s.regCmd(name, op, args)
	case "+COPS":
		return s.cops(op, args)
	case "+CSQ":
		if s.reg != Home && s.reg != Roaming {
			return ok("+CSQ: 99,99")
		}
		return ok(fmt.Sprintf("+CSQ: %d,99", s.rssi))
	case "+CESQ":
		if s.reg != Home && s.reg != Roaming {
			return ok("+CESQ: 99,99,255,255,255,255")
		}
		return ok(fmt.Sprintf("+CESQ: 99,99,255,255,%d,%d", (s.cfg.RSRQ+20)*2, s.cfg.RSRP+141))
	case "+QCSQ":
		if s.cfg.Model.Vendor != "quectel" {
			return errorReply
		}
		if s.reg != Home && s.reg != Roaming {
			return ok(`+QCSQ: "NOSERVICE"`)
		}
		return ok(fmt.Sprintf(`+QCSQ: "LTE",%d,%d,%d,%d`, -113+2*s.rssi, s.cfg.RSRP, (s.cfg.SINR+20)*5, s.cfg.RSRQ))
	case "+CPSI":
		if s.cfg.Model.Vendor != "simcom" {
			return errorReply
		}
		if s.reg != Home && s.reg != Roaming {
			return ok("+CPSI: NO SERVICE,Online")
		}
		return ok(fmt.Sprintf("+CPSI: LTE,Online,%s-%s,0x00C3,27446963,214,EUTRAN-BAND20,6300,5,5,%d,%d,%d,%d",
			s.cfg.OperatorID[:3], s.cfg.OperatorID[3:], s.cfg.RSRQ*10, s.cfg.RSRP*10, -113+2*s.rssi, s.cfg.SINR))
	case "+CGDCONT":
		switch op {
		case "?":
			return ok(fmt.Sprintf(`+CGDCONT: 1,"IP","%s","0.0.0.0",0,0,0,0`, s.apn))
		case "=":
			f := fields(args)
			if len(f) < 3 || f[0] != "1" {
				return errorReply
			}
			s.apn = f[2]
			return ok()
		}
		return ok()
	case "+CGAUTH", "+QICSGP":
		if name == "+QICSGP" && s.cfg.Model.Vendor != "quectel" {
			return errorReply
		}
		return ok()
	case "+CGATT":
		return s.cgatt(op, args)
	case "+CGACT":
		if op == "?" {
			return ok(fmt.Sprintf("+CGACT: 1,%d", b2i(s.attached)))
		}
		return ok()
	case "+QCFG":
		return s.qcfg(op, args)
	case "+CUSBPIDSWITCH":
		return s.pidSwitch(op, args)
	case "+QNETDEVCTL":
		if s.cfg.Model.Vendor != "quectel" {
			return errorReply
		}
		if op == "=?" {
			return ok("+QNETDEVCTL: (0-3),(1-16),(0,1)")
		}
		if !s.attached {
			return s.cme(30)
		}
		return ok()
	case "+CMGF":
		return s.setInt(op, args, &s.cmgf, "+CMGF", 1)
	case "+CSDH":
		return s.setInt(op, args, &s.csdh, "+CSDH", 1)
	case "+CSCS", "+CSMP", "+CSCA":
		return ok()
	case "+CNMI":
		if op == "=" {
			f := fields(args)
			if len(f) >= 2 {
				s.cnmi[0], _ = strconv.Atoi(f[0])
				s.cnmi[1], _ = strconv.Atoi(f[1])
			}
		}
		return ok()
	case "+CPMS", "+CMGS", "+CMGR", "+CMGD", "+CMGL":
		return s.sms(name, op, args)
	}
	return errorReply
}

// splitCommand splits "+CPIN=\"1234\"" into "+CPIN", "=", "\"1234\"".
func splitCommand(cmd, up string) (name, op, args string) {
	i := strings.IndexAny(up, "=?")
	if i < 0 {
		return up, "", ""
	}
	name = up[:i]
	rest := cmd[i:]
	switch {
	case strings.HasPrefix(rest, "=?"):
		return name, "=?", ""
	case strings.HasPrefix(rest, "?"):
		return name, "?", ""
	}
	return name, "=", rest[1:]
}

// fields splits arguments, removing quotes.
func fields(args string) []string {
	var out []string
	var cur strings.Builder
	inQ := false
	for _, r := range args {
		switch {
		case r == '"':
			inQ = !inQ
		case r == ',' && !inQ:
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteRune(r)
		}
	}
	return append(out, strings.TrimSpace(cur.String()))
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (s *Sim) setInt(op, args string, v *int, name string, max int) reply {
	switch op {
	case "?":
		return ok(fmt.Sprintf("%s: %d", name, *v))
	case "=?":
		return ok(fmt.Sprintf("%s: (0-%d)", name, max))
	case "=":
		n, err := strconv.Atoi(strings.TrimSpace(args))
		if err != nil || n < 0 || n > max {
			return errorReply
		}
		*v = n
		return ok()
	}
	return errorReply
}

// needSIM answers commands that need a ready SIM.
func (s *Sim) needSIM() (reply, bool) {
	switch s.sim {
	case simAbsent:
		return s.cme(10), true
	case simPIN:
		return s.cme(11), true
	case simPUK, simBlocked:
		return s.cme(12), true
	}
	if time.Now().Before(s.busyUntil) {
		return s.cme(14), true
	}
	return reply{}, false
}

func (s *Sim) cpin(op, args string) reply {
	switch op {
	case "?":
		switch s.sim {
		case simAbsent:
			return s.cme(10)
		case simBlocked:
			return s.cme(13)
		}
		if time.Now().Before(s.busyUntil) {
			return s.cme(14)
		}
		return ok("+CPIN: " + [...]string{"READY", "SIM PIN", "SIM PUK"}[s.sim])
	case "=?":
		return ok()
	case "=":
	default:
		return errorReply
	}
	s.pinEntries++
	f := fields(args)
	switch s.sim {
	case simAbsent:
		return s.cme(10)
	case simReady:
		return s.cme(3) // no PIN wanted
	case simBlocked:
		return s.cme(13)
	case simPIN:
		if len(f) != 1 {
			return errorReply
		}
		if f[0] != s.pin {
			s.pinLeft--
			if s.pinLeft == 0 {
				s.sim = simPUK
				s.urc("+CPIN: SIM PUK")
			}
			s.notifyChange()
			return s.cme(16)
		}
	case simPUK:
		if len(f) != 2 {
			return errorReply
		}
		if f[0] != s.cfg.PUK {
			s.pukLeft--
			if s.pukLeft == 0 {
				s.sim = simBlocked
			}
			s.notifyChange()
			return s.cme(16)
		}
		s.pin = f[1]
	}
	s.sim, s.pinLeft, s.pukLeft = simReady, 3, 10
	s.busyUntil = time.Now().Add(s.cfg.SIMBusy)
	s.simReadyLater()
	s.notifyChange()
	return ok()
}

func (s *Sim) cfunCmd(op, args string) reply {
	switch op {
	case "?":
		return ok(fmt.Sprintf("+CFUN: %d", s.cfun))
	case "=?":
		return ok("+CFUN: (0,1,4),(0,1)")
	case "=":
	default:
		return errorReply
	}
	f := fields(args)
	n, err := strconv.Atoi(f[0])
	if err != nil || (n != 0 && n != 1 && n != 4) {
		return errorReply
	}
	if len(f) > 1 && f[1] == "1" {
		// Reset: answer, then the port goes away.
		s.reenumerate()
		if f := s.onReset; f != nil {
			time.AfterFunc(20*time.Millisecond, f)
		}
		return ok()
	}
	s.cfun = n
	if n == 1 {
		s.startRegistering()
	} else {
		if s.regTimer != nil {
			s.regTimer.Stop()
		}
		s.attached = false
		s.setReg(NotRegistered)
	}
	s.notifyChange()
	return ok()
}

func (s *Sim) regCmd(name, op, args string) reply {
	i := map[string]int{"+CREG": 0, "+CGREG": 1, "+CEREG": 2}[name]
	switch op {
	case "?":
		if s.regN[i] == 2 && (s.reg == Home || s.reg == Roaming) {
			return ok(fmt.Sprintf(`%s: 2,%d,"00C3","0001A2B3",7`, name, s.reg))
		}
		return ok(fmt.Sprintf("%s: %d,%d", name, s.regN[i], s.reg))
	case "=?":
		return ok(name + ": (0-2)")
	}
	return s.setInt(op, args, &s.regN[i], name, 2)
}

func (s *Sim) cops(op, args string) reply {
	switch op {
	case "?":
		if s.reg != Home && s.reg != Roaming {
			return ok("+COPS: 0")
		}
		name := s.cfg.Operator
		if s.copsFormat == 2 {
			name = s.cfg.OperatorID
		}
		return ok(fmt.Sprintf(`+COPS: 0,%d,"%s",7`, s.copsFormat, name))
	case "=?":
		return ok(fmt.Sprintf(`+COPS: (2,"%s","%s","%s",7),(3,"SFR","SFR","20810",7),,(0-4),(0-2)`,
			s.cfg.Operator, s.cfg.Operator, s.cfg.OperatorID))
	}
	f := fields(args)
	switch f[0] {
	case "3":
		if len(f) > 1 {
			s.copsFormat, _ = strconv.Atoi(f[1])
		}
	case "0":
		s.startRegistering()
	case "2":
		s.attached = false
		s.setReg(NotRegistered)
	default:
		return errorReply
	}
	return ok()
}

func (s *Sim) cgatt(op, args string) reply {
	switch op {
	case "?":
		return ok(fmt.Sprintf("+CGATT: %d", b2i(s.attached)))
	case "=":
	default:
		return ok()
	}
	switch strings.TrimSpace(args) {
	case "0":
		s.attached = false
		s.setReg(NotRegistered)
	case "1":
		if s.reg != Home && s.reg != Roaming {
			s.startRegistering()
		}
	default:
		return errorReply
	}
	s.notifyChange()
	return ok()
}

func (s *Sim) qcfg(op, args string) reply {
	if s.cfg.Model.Vendor != "quectel" || op != "=" {
		return errorReply
	}
	f := fields(args)
	if strings.ToLower(f[0]) != "usbnet" {
		return ok()
	}
	if len(f) == 1 {
		return ok(fmt.Sprintf(`+QCFG: "usbnet",%d`, s.usbnet))
	}
	n, err := strconv.Atoi(f[1])
	if err != nil || n < 0 || n > 3 {
		return errorReply
	}
	s.usbnetNext = n // applies at the next reset
	return ok()
}

func (s *Sim) pidSwitch(op, args string) reply {
	if s.cfg.Model.Vendor != "simcom" {
		return errorReply
	}
	switch op {
	case "?":
		return ok("+CUSBPIDSWITCH: " + s.pid)
	case "=":
		f := fields(args)
		if len(f) < 3 {
			return errorReply
		}
		s.pidNext = f[0]
		if f[2] == "1" {
			s.reenumerate()
			if f := s.onReset; f != nil {
				time.AfterFunc(20*time.Millisecond, f)
			}
		}
		return ok()
	}
	return errorReply
}
