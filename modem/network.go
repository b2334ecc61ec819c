package modem

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// RegState is a registration state of +CREG, +CGREG and +CEREG (3GPP
// TS 27.007 §7.2).
type RegState int

// Registration states.
const (
	RegNone      RegState = 0 // not registered, not searching
	RegHome      RegState = 1
	RegSearching RegState = 2
	RegDenied    RegState = 3
	RegUnknown   RegState = 4
	RegRoaming   RegState = 5
	RegSMSHome   RegState = 6 // SMS only
	RegSMSRoam   RegState = 7
	RegEmergency RegState = 8
)

func (s RegState) String() string {
	switch s {
	case RegNone:
		return "not registered"
	case RegHome:
		return "registered"
	case RegSearching:
		return "searching"
	case RegDenied:
		return "denied"
	case RegRoaming:
		return "roaming"
	case RegSMSHome, RegSMSRoam:
		return "registered for SMS only"
	case RegEmergency:
		return "emergency calls only"
	}
	return "unknown"
}

// Registered reports whether the modem may carry data.
func (s RegState) Registered() bool { return s == RegHome || s == RegRoaming }

// Registration is one of +CREG (circuit), +CGREG (GPRS) and +CEREG (LTE).
type Registration struct {
	State RegState
	// Tech is the access technology (<AcT>): 0 GSM, 2 UTRAN, 7 E-UTRAN,
	// …; -1 unknown.
	Tech int
	TAC  string // location or tracking area code, hex
	Cell string // cell ID, hex
}

// ParseRegistration reads the arguments of a +CxREG line: the answer to
// the query (with the URC mode first) when solicited, else a URC.
func ParseRegistration(args string, solicited bool) (Registration, error) {
	f := Fields(args)
	if solicited {
		if len(f) < 2 {
			return Registration{}, fmt.Errorf("modem: registration %q", args)
		}
		f = f[1:]
	}
	if len(f) == 0 {
		return Registration{}, fmt.Errorf("modem: registration %q", args)
	}
	r := Registration{State: RegState(atoi(f[0])), Tech: -1}
	if r.State < 0 {
		return Registration{}, fmt.Errorf("modem: registration %q", args)
	}
	if len(f) >= 3 {
		r.TAC, r.Cell = f[1], f[2]
	}
	if len(f) >= 4 && f[3] != "" {
		r.Tech = atoi(f[3])
	}
	return r, nil
}

// IsSolicitedRegistration tells a +CxREG line answering the query from the
// URC of the same name, by shape.
func IsSolicitedRegistration(args string) bool { return regSolicited(args) }

// TechName names an access technology (<AcT>) for people.
func TechName(act int) string {
	switch act {
	case 0, 1, 3:
		return "2G"
	case 2, 4, 5, 6:
		return "3G"
	case 7, 9, 10:
		return "LTE"
	case 11, 12, 13:
		return "5G"
	case 8:
		return "EC-GSM"
	}
	return ""
}

// EnableRegistrationURCs asks for +CREG, +CGREG and +CEREG with location
// and technology. A modem without LTE refuses +CEREG; that is not an
// error.
func EnableRegistrationURCs(ctx context.Context, c *Conn) error {
	for _, cmd := range []string{"AT+CREG=2", "AT+CGREG=2", "AT+CEREG=2"} {
		if _, err := c.Command(ctx, cmd); err != nil && cmd != "AT+CEREG=2" {
			return err
		}
	}
	return nil
}

// ReadRegistration queries the three registrations and returns the most
// telling: LTE if registered there, then packet, then circuit.
func ReadRegistration(ctx context.Context, c *Conn) (Registration, error) {
	var best Registration
	found := false
	for _, q := range []string{"+CEREG", "+CGREG", "+CREG"} {
		r, err := c.Command(ctx, "AT"+q+"?")
		if err != nil {
			if q == "+CEREG" {
				continue // no LTE
			}
			return best, err
		}
		v, ok := r.Value(q)
		if !ok {
			continue
		}
		reg, err := ParseRegistration(v, true)
		if err != nil {
			continue
		}
		if !found || (reg.State.Registered() && !best.State.Registered()) || (best.State != RegDenied && reg.State == RegDenied && !best.State.Registered()) {
			best, found = reg, true
		}
		if reg.State.Registered() {
			return reg, nil
		}
	}
	if !found {
		return best, fmt.Errorf("modem: no registration state answered")
	}
	return best, nil
}

// ReadOperator returns the network's name and access technology
// (AT+COPS?; call SetOperatorFormat once first), "" when not registered.
func ReadOperator(ctx context.Context, c *Conn) (name string, act int, err error) {
	r, err := c.Command(ctx, "AT+COPS?")
	if err != nil {
		return "", -1, err
	}
	v, _ := r.Value("+COPS")
	f := Fields(v)
	act = -1
	if len(f) >= 3 {
		name = f[2]
	}
	if len(f) >= 4 {
		act = atoi(f[3])
	}
	return name, act, nil
}

// SetOperatorFormat makes AT+COPS? name the operator in long form.
func SetOperatorFormat(ctx context.Context, c *Conn) error {
	_, err := c.Command(ctx, "AT+COPS=3,0")
	return err
}

// Signal is the received signal.
type Signal struct {
	// DBM is the signal strength: RSRP on LTE, RSSI otherwise; 0 when
	// unknown (no service).
	DBM int
	// Bars is a 0–5 figure for people.
	Bars int
	// RSRQ and SINR (dB) when the modem gives them (LTE), else nil.
	RSRQ, SINR *float64
	// Source is the command the figures came from: "QCSQ", "CESQ", "CSQ".
	Source string
}

// ReadSignal reads the signal the best way the modem allows: Quectel's
// AT+QCSQ (RSRP, RSRQ, SINR on LTE), 3GPP's AT+CESQ, then AT+CSQ.
func ReadSignal(ctx context.Context, c *Conn, v Vendor) (Signal, error) {
	if v == Quectel {
		if r, err := c.Command(ctx, "AT+QCSQ"); err == nil {
			if val, ok := r.Value("+QCSQ"); ok {
				if s, ok := ParseQCSQ(val); ok {
					return s, nil
				}
			}
		}
	}
	if r, err := c.Command(ctx, "AT+CESQ"); err == nil {
		if val, ok := r.Value("+CESQ"); ok {
			if s, ok := ParseCESQ(val); ok {
				return s, nil
			}
		}
	}
	r, err := c.Command(ctx, "AT+CSQ")
	if err != nil {
		return Signal{}, err
	}
	val, _ := r.Value("+CSQ")
	return ParseCSQ(val), nil
}

// ParseCSQ reads "+CSQ: <rssi>,<ber>": rssi 0–31 is −113 + 2·rssi dBm,
// 99 unknown.
func ParseCSQ(args string) Signal {
	f := Fields(args)
	s := Signal{Source: "CSQ"}
	if len(f) == 0 {
		return s
	}
	if n := atoi(f[0]); n >= 0 && n <= 31 {
		s.DBM = -113 + 2*n
		s.Bars = rssiBars(s.DBM)
	}
	return s
}

// ParseCESQ reads "+CESQ: <rxlev>,<ber>,<rscp>,<ecno>,<rsrq>,<rsrp>"
// (3GPP TS 27.007 §8.69); ok is false when it carries no usable figure.
func ParseCESQ(args string) (Signal, bool) {
	f := Fields(args)
	if len(f) < 6 {
		return Signal{}, false
	}
	s := Signal{Source: "CESQ"}
	if rsrp := atoi(f[5]); rsrp >= 0 && rsrp <= 97 {
		s.DBM = -141 + rsrp
		s.Bars = rsrpBars(s.DBM)
		if rsrq := atoi(f[4]); rsrq >= 0 && rsrq <= 34 {
			q := -20 + float64(rsrq)/2
			s.RSRQ = &q
		}
		return s, true
	}
	if rscp := atoi(f[2]); rscp >= 0 && rscp <= 96 {
		s.DBM = -121 + rscp
		s.Bars = rssiBars(s.DBM)
		return s, true
	}
	if rxlev := atoi(f[0]); rxlev >= 0 && rxlev <= 63 {
		s.DBM = -111 + rxlev
		s.Bars = rssiBars(s.DBM)
		return s, true
	}
	return Signal{}, false
}

// ParseQCSQ reads Quectel's `+QCSQ: "LTE",<rssi>,<rsrp>,<sinr>,<rsrq>`
// ("NOSERVICE" alone without service; "GSM" and "WCDMA" carry fewer
// fields). SINR is encoded 0–250 for −20…+30 dB.
func ParseQCSQ(args string) (Signal, bool) {
	f := Fields(args)
	if len(f) < 2 {
		return Signal{}, false
	}
	s := Signal{Source: "QCSQ"}
	num := func(i int) (int, bool) {
		if i >= len(f) {
			return 0, false
		}
		n, err := strconv.Atoi(f[i])
		return n, err == nil
	}
	switch strings.ToUpper(f[0]) {
	case "LTE", "CAT-M1", "CAT-NB1":
		rsrp, ok := num(2)
		if !ok {
			return Signal{}, false
		}
		s.DBM, s.Bars = rsrp, rsrpBars(rsrp)
		if sinr, ok := num(3); ok {
			v := float64(sinr)/5 - 20
			s.SINR = &v
		}
		if rsrq, ok := num(4); ok {
			v := float64(rsrq)
			s.RSRQ = &v
		}
	case "GSM", "WCDMA", "TDSCDMA":
		rssi, ok := num(1)
		if !ok {
			return Signal{}, false
		}
		s.DBM, s.Bars = rssi, rssiBars(rssi)
	default:
		return Signal{}, false
	}
	if s.DBM > 0 { // EG21-G prints the LTE RSRP as a magnitude
		s.DBM = -s.DBM
		s.Bars = rsrpBars(s.DBM)
	}
	return s, true
}

// rsrpBars maps an LTE RSRP to bars: ≥ −85 dBm 5, ≥ −95 4, ≥ −105 3,
// ≥ −115 2, ≥ −125 1.
func rsrpBars(dbm int) int { return bars(dbm, -85, -95, -105, -115, -125) }

// rssiBars maps a 2G/3G RSSI to bars: ≥ −73 dBm 5, ≥ −83 4, ≥ −93 3,
// ≥ −103 2, ≥ −111 1.
func rssiBars(dbm int) int { return bars(dbm, -73, -83, -93, -103, -111) }

func bars(dbm int, thresholds ...int) int {
	for i, t := range thresholds {
		if dbm >= t {
			return len(thresholds) - i
		}
	}
	return 0
}

// SetAPN configures data context 1 with apn (IPv4), and the credentials
// when user is set. It changes nothing if the context already has this
// APN: rewriting it makes an LTE modem re-attach.
func SetAPN(ctx context.Context, c *Conn, v Vendor, apn, user, password string) error {
	if err := checkQuotable("APN", apn); err != nil {
		return err
	}
	if err := checkQuotable("user", user); err != nil {
		return err
	}
	if err := checkQuotable("password", password); err != nil {
		return err
	}
	r, err := c.Command(ctx, "AT+CGDCONT?")
	if err != nil {
		return err
	}
	current := ""
	for _, val := range r.Values("+CGDCONT") {
		if f := Fields(val); len(f) >= 3 && f[0] == "1" {
			current = f[2]
		}
	}
	if !strings.EqualFold(current, apn) {
		if _, err := c.Command(ctx, `AT+CGDCONT=1,"IP","`+apn+`"`); err != nil {
			return err
		}
	}
	if user == "" {
		return nil
	}
	req := Request{Command: `AT+CGAUTH=1,3,"` + user + `","` + password + `"`, Secret: true}
	if v == Quectel {
		req.Command = `AT+QICSGP=1,1,"` + apn + `","` + user + `","` + password + `",3`
	}
	_, err = c.Do(ctx, req)
	return err
}

// checkQuotable refuses values that would break out of an AT string.
func checkQuotable(what, s string) error {
	if strings.ContainsAny(s, "\"\r\n\x1a\x1b") || len(s) > 100 {
		return fmt.Errorf("modem: the %s may not hold quotes or control characters, or be longer than 100", what)
	}
	return nil
}
