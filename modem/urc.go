package modem

import (
	"strconv"
	"strings"
)

// URC is an unsolicited result code: a line the modem sends on its own
// (registration changes, a new SMS, a reset), never part of a command's
// response.
type URC struct {
	// Name is the code's prefix without the colon ("+CEREG", "+CMTI") or
	// the whole line for bare codes ("RING", "RDY", "SMS DONE").
	Name string
	// Args is the text after "Name:", trimmed.
	Args string
	// Line is the line as received.
	Line string
	// Body is the message body of a "+CMT" URC.
	Body string
	// Known is false for a line the engine did not recognise; it is
	// passed on all the same, and logged.
	Known bool
}

// knownURCs are the unsolicited codes of 3GPP TS 27.007/27.005 and of
// the Quectel and SIMCom modems lapsebox supports. A command may still
// claim one of them as its own information (AT+CPIN? answers +CPIN:).
var knownURCs = map[string]bool{
	"+CREG": true, "+CGREG": true, "+CEREG": true, "+C5GREG": true,
	"+CMTI": true, "+CMT": true, "+CDS": true, "+CDSI": true, "+CBM": true,
	"RING": true, "+CRING": true, "+CLIP": true, "NO CARRIER": true,
	"+CPIN": true, "+CFUN": true, "+CSQ": true, "+CGEV": true, "+CUSD": true,
	"+CTZV": true, "+CTZE": true, "+CTZU": true, "+PACSP": true,
	"RDY": true, "POWERED DOWN": true, "SMS DONE": true, "PB DONE": true,
	"+QIND": true, "+QUSIM": true, "+QNETDEVSTATUS": true, "+QSTAT": true,
	"+CPSI": true, "*ATREADY": true, "+CNSMOD": true,
}

// splitURC returns a line's code name and arguments.
func splitURC(line string) (name, args string) {
	if len(line) > 1 && (line[0] == '+' || line[0] == '^' || line[0] == '*' || line[0] == '$') {
		if i := strings.IndexByte(line, ':'); i > 0 {
			return line[:i], strings.TrimSpace(line[i+1:])
		}
	}
	return line, ""
}

// isRegistration reports whether name is one of the registration codes
// whose query answer and URC share a prefix and differ in shape.
func isRegistration(name string) bool {
	switch name {
	case "+CREG", "+CGREG", "+CEREG", "+C5GREG":
		return true
	}
	return false
}

// regSolicited tells the answer to AT+CxREG? from the URC of the same
// name. The answer starts with the URC mode <n> before <stat>; the URC
// does not: "+CEREG: 2,1,"00C3","0001A2B3",7" answers the query,
// "+CEREG: 1,"00C3","0001A2B3",7" is unsolicited. The location fields are
// quoted hex, so their position tells; without them, the answer has two
// fields ("1,5") and the URC one ("5"); with unquoted location fields
// (some firmware), the answer has the odd count (n=2: 5, n=3: 7, n=4: 9).
func regSolicited(args string) bool {
	f := splitFields(args)
	switch {
	case len(f) <= 1:
		return false
	case len(f) == 2:
		return !quoted(f[1])
	case quoted(f[1]):
		return false
	case quoted(f[2]):
		return true
	case f[1] == "" && len(f) >= 3:
		// "+CEREG: 1,,,7": stat then empty location fields (a URC).
		return false
	}
	return len(f)%2 == 1
}

func quoted(s string) bool { return len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' }

// splitFields splits comma-separated arguments, keeping quoted strings
// (which may contain commas) whole and quoted, trimming spaces around
// each field.
func splitFields(s string) []string {
	var out []string
	inQuote := false
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			inQuote = !inQuote
		case ',':
			if !inQuote {
				out = append(out, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	if s == "" {
		return nil
	}
	return append(out, strings.TrimSpace(s[start:]))
}

// Fields splits the arguments of an information line or URC into fields,
// with quotes removed: `1,"00C3",7` → ["1", "00C3", "7"].
func Fields(args string) []string {
	f := splitFields(args)
	for i := range f {
		f[i] = unquote(f[i])
	}
	return f
}

func unquote(s string) string {
	if quoted(s) {
		return s[1 : len(s)-1]
	}
	return s
}

// messageBody says how the body following a message header (+CMGR:,
// +CMT:, with AT+CSDH=1) is delimited: n ≥ 0 characters when the header
// gives the length of a 7-bit text (which may contain any line, "OK"
// included), or -1 when the body is the next line (hex of 8-bit or UCS-2
// data, or a header without its length).
func messageBody(name, args string) int {
	f := splitFields(args)
	var dcsAt int
	switch {
	case name == "+CMGR" && len(f) == 11:
		dcsAt = 7 // <stat>,<oa>,<alpha>,<scts>,<tooa>,<fo>,<pid>,<dcs>,<sca>,<tosca>,<length>
		if strings.HasPrefix(unquote(f[0]), "STO") {
			dcsAt = 6 // <stat>,<da>,<alpha>,<toda>,<fo>,<pid>,<dcs>,<vp>,<sca>,<tosca>,<length>
		}
	case name == "+CMT" && len(f) == 10:
		dcsAt = 6 // <oa>,<alpha>,<scts>,<tooa>,<fo>,<pid>,<dcs>,<sca>,<tosca>,<length>
	default:
		return -1
	}
	dcs, err1 := strconv.Atoi(f[dcsAt])
	n, err2 := strconv.Atoi(f[len(f)-1])
	if err1 != nil || err2 != nil || n < 0 || n > MaxLine || !DCSIs7Bit(dcs) {
		return -1
	}
	return n
}

// DCSIs7Bit reports whether an SMS data coding scheme (3GPP TS 23.038 §4)
// means the GSM 7-bit alphabet, which text mode shows as text rather than
// hex.
func DCSIs7Bit(dcs int) bool {
	switch {
	case dcs&0xC0 == 0x00 || dcs&0xC0 == 0x40: // general data coding
		return dcs&0x0C == 0x00
	case dcs&0xF0 == 0xC0 || dcs&0xF0 == 0xD0: // message waiting, GSM 7-bit
		return true
	case dcs&0xF0 == 0xF0: // data coding/message class
		return dcs&0x04 == 0
	}
	return false
}
