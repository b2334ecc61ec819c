package sim

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// sms answers the message commands in text mode. s.mu is held.
func (s *Sim) sms(name, op, args string) reply {
	// SMS commands report SIM trouble as +CMS ERROR (3GPP TS 27.005 §3.2.5).
	switch {
	case s.sim == simAbsent:
		return s.cms(310)
	case s.sim == simPIN:
		return s.cms(311)
	case s.sim == simPUK || s.sim == simBlocked:
		return s.cms(316)
	case time.Now().Before(s.busyUntil):
		return s.cms(314)
	}
	switch name {
	case "+CPMS":
		used := 0
		for _, m := range s.store {
			if m != nil {
				used++
			}
		}
		n := len(s.store)
		if op == "=?" {
			return ok(`+CPMS: ("SM","ME","MT"),("SM","ME","MT"),("SM","ME","MT")`)
		}
		if op == "=" {
			return ok(fmt.Sprintf("+CPMS: %d,%d,%d,%d,%d,%d", used, n, used, n, used, n))
		}
		return ok(fmt.Sprintf(`+CPMS: "SM",%d,%d,"SM",%d,%d,"SM",%d,%d`, used, n, used, n, used, n))
	case "+CMGR":
		i, err := strconv.Atoi(strings.TrimSpace(args))
		if err != nil || i < 0 || i >= len(s.store) {
			return s.cms(321)
		}
		m := s.store[i]
		if m == nil {
			// Quectel answers an empty slot with a bare OK.
			return ok()
		}
		r := ok(s.header("+CMGR", m), m.text)
		m.unread = false
		return r
	case "+CMGD":
		if op == "=?" {
			var used []string
			for i, m := range s.store {
				if m != nil {
					used = append(used, strconv.Itoa(i))
				}
			}
			return ok(fmt.Sprintf("+CMGD: (%s),(0-4)", strings.Join(used, ",")))
		}
		f := fields(args)
		i, err := strconv.Atoi(f[0])
		if err != nil || i < 0 || i >= len(s.store) {
			return s.cms(321)
		}
		flag := 0
		if len(f) > 1 {
			flag, _ = strconv.Atoi(f[1])
		}
		for j, m := range s.store {
			switch {
			case m == nil:
			case flag == 0 && j == i, flag == 4, flag >= 1 && flag <= 3 && !m.unread:
				s.store[j] = nil
			}
		}
		s.notifyChange()
		return ok()
	case "+CMGL":
		var lines []string
		for i, m := range s.store {
			if m != nil {
				stat := "REC READ"
				if m.unread {
					stat = "REC UNREAD"
				}
				lines = append(lines, fmt.Sprintf(`+CMGL: %d,"%s","%s",,"%s"`, i, stat, m.from, scts(m.time)), m.text)
				m.unread = false
			}
		}
		return ok(lines...)
	case "+CMGS":
		if s.cmgf != 1 {
			return s.cms(304) // PDU mode is not simulated
		}
		if s.reg != Home && s.reg != Roaming {
			return s.cms(331)
		}
		s.smsTo = strings.Trim(strings.TrimSpace(args), `"`)
		s.inBody = true
		s.send("\r\n> ")
		return reply{} // the body follows
	}
	return errorReply
}

// body completes AT+CMGS with the text typed after the prompt. s.mu is held.
func (s *Sim) body(text string, abort bool) {
	s.inBody = false
	if abort {
		s.respond(ok())
		return
	}
	s.mr = (s.mr + 1) % 256
	s.sent = append(s.sent, SMS{Number: s.smsTo, Text: text, Time: time.Now()})
	s.notifyChange()
	s.respond(ok(fmt.Sprintf("+CMGS: %d", s.mr)))
}

// header is a message's +CMGR or +CMT header line.
func (s *Sim) header(name string, m *stored) string {
	if s.csdh == 0 {
		if name == "+CMT" {
			return fmt.Sprintf(`+CMT: "%s",,"%s"`, m.from, scts(m.time))
		}
		stat := "REC READ"
		if m.unread {
			stat = "REC UNREAD"
		}
		return fmt.Sprintf(`+CMGR: "%s","%s",,"%s"`, stat, m.from, scts(m.time))
	}
	n := utf8.RuneCountInString(m.text)
	if name == "+CMT" {
		return fmt.Sprintf(`+CMT: "%s",,"%s",145,4,0,0,"+33609001390",145,%d`, m.from, scts(m.time), n)
	}
	stat := "REC READ"
	if m.unread {
		stat = "REC UNREAD"
	}
	return fmt.Sprintf(`+CMGR: "%s","%s",,"%s",145,4,0,0,"+33609001390",145,%d`, stat, m.from, scts(m.time), n)
}

// scts formats a service centre time stamp: "yy/MM/dd,hh:mm:ss±zz", the
// zone in quarter hours.
func scts(t time.Time) string {
	_, off := t.Zone()
	sign := "+"
	if off < 0 {
		sign, off = "-", -off
	}
	return t.Format("06/01/02,15:04:05") + fmt.Sprintf("%s%02d", sign, off/900)
}
